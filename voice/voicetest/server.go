// Package voicetest is an in-process Discord voice server: voice gateway v8
// over TLS WebSocket plus one UDP port, acting as an SFU. It decrypts each
// member's RTP, records frames per SSRC with arrival times, relays them to the
// other members of the call re-encrypted with their keys, and records protocol
// violations (RTP before speaking, select protocol before ready, …). Hooks force
// close codes and drop packets. Discord's DAVE role (external sender,
// proposals, commit selection, transitions) is ExternalSender, plugged in
// through Options.DAVE; DAVE frames cross the SFU untouched.
package voicetest

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/livecord/livecord/internal/tb"

	"github.com/livecord/livecord/voice/internal/wire"

	"github.com/coder/websocket"
	"github.com/livecord/livecord/internal/tasks"
	"github.com/livecord/livecord/voice"
	"github.com/pion/rtp"
)

// Options configures a Server. The zero value is a faithful default.
type Options struct {
	// HeartbeatInterval is sent in op 8 (default 41.25 s as Discord does);
	// a session without a heartbeat for 2.5 intervals is closed with 4009.
	HeartbeatInterval time.Duration
	// Modes are the encryption modes offered in op 2 (default: both rtpsize AEADs).
	Modes []string
	// RequireDAVE closes identifies with max_dave_protocol_version < 1 with 4017,
	// as Discord does for non-Stage channels.
	RequireDAVE bool
	// DAVE plays Discord's DAVE role: NewExternalSender for the faithful
	// one; nil means protocol version 0 (as in Stage channels).
	DAVE DAVE
	// Logger gets debug logs; nil discards them.
	Logger *slog.Logger
}

// DAVE is the gateway's side of the DAVE protocol: the external sender,
// proposals, commit selection and transitions. The Server relays DAVE frames
// untouched and calls these hooks; replies go out with Server.Send.
type DAVE interface {
	// ProtocolVersion picks op 4's dave_protocol_version for a member that
	// identified with maxVersion.
	ProtocolVersion(maxVersion int) int
	// Joined is called after a member's op 4 (session description) is sent;
	// Left after it leaves the call.
	Joined(call CallID, userID string)
	Left(call CallID, userID string)
	// ClientMessage receives client ops 23, 26, 28 and 31.
	ClientMessage(call CallID, userID string, m wire.Message)
}

// CallID names one voice channel.
type CallID struct{ GuildID, ChannelID string }

// Frame is one audio packet the server received and decrypted.
type Frame struct {
	UserID    string
	SSRC      uint32
	Sequence  uint16
	Timestamp uint32
	Payload   []byte // Opus (or a DAVE frame) after transport decryption
	Arrival   time.Time
}

// IsSilence reports whether the frame is Opus silence (F8 FF FE).
func (f Frame) IsSilence() bool { return string(f.Payload) == string(wire.SilenceFrame) }

// Server is the emulator. Its methods are safe for concurrent use.
type Server struct {
	opts     Options
	log      *slog.Logger
	http     *http.Server
	ln       net.Listener
	udp      *net.UDPConn
	cert     *x509.Certificate
	ctx      context.Context
	cancel   context.CancelFunc
	tasks    tasks.Group // every goroutine Close waits for
	endpoint string

	mu         sync.Mutex
	grants     map[string]*grant  // by token
	sessions   map[string]*member // by session id
	bySSRC     map[uint32]*member
	keepalives map[netip.AddrPort]int // 8-byte keepalives by source address
	frames     map[string][]Frame     // by user id
	violations []string
	dropFn     func(userID string, seq uint16) bool
	delayFn    func(userID string, seq uint16) time.Duration
	held       map[string][]heldSpeaking // op 5 of these users waits for release
	deaf       map[string]bool           // users (Speakers) the server relays no audio to
	nextSSRC   uint32
	changed    chan struct{} // closed and replaced on every recorded frame or state change
	// annMu orders the announcements of arrivals (op 11) and departures
	// (op 13): a departure reported late must not follow the same user's
	// arrival on a new session, which would take them out of the others' sets.
	annMu sync.Mutex
}

type grant struct {
	call              CallID
	userID, sessionID string
	token             string
}

type member struct {
	s       *Server
	call    CallID
	userID  string
	session string
	token   string
	ssrc    uint32

	wmu     sync.Mutex // guards ws, seq, history, writes
	ws      *websocket.Conn
	seq     int
	history []sent

	// below guarded by Server.mu
	identified bool
	selected   bool
	cipher     *wire.Cipher
	udpAddr    netip.AddrPort
	speaking   bool
	spokeOnce  bool
	gone       bool // 4006 or removal: resume refused
	relayNonce uint32
	unspoken   bool // RTP arrived before any speaking; checked after a grace period
	lastSeqAck int  // from the last heartbeat
	heartbeats int
	muteACKs   bool // test hook: heartbeats go unanswered
	resumes    int
	dave       int
	hbTimer    *time.Timer
}

type sent struct {
	seq    int
	binary bool
	data   []byte
}

// New starts a server on 127.0.0.1 (TCP for the gateway, UDP for media).
func New(opts Options) (*Server, error) {
	if opts.HeartbeatInterval <= 0 {
		opts.HeartbeatInterval = 41250 * time.Millisecond
	}
	if len(opts.Modes) == 0 {
		opts.Modes = []string{wire.ModeAES256GCM, wire.ModeXChaCha20Poly1305}
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cert, leaf, err := selfSigned()
	if err != nil {
		return nil, err
	}
	udp, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return nil, fmt.Errorf("voicetest: listen udp: %w", err)
	}
	// One socket carries every member's media: room for a burst while the
	// relay goroutine waits for a busy CPU (the kernel caps the request).
	udp.SetReadBuffer(4 << 20)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		udp.Close()
		return nil, fmt.Errorf("voicetest: listen tcp: %w", err)
	}
	s := &Server{
		opts:       opts,
		log:        log,
		ln:         ln,
		udp:        udp,
		cert:       leaf,
		endpoint:   ln.Addr().String(),
		grants:     map[string]*grant{},
		sessions:   map[string]*member{},
		bySSRC:     map[uint32]*member{},
		keepalives: map[netip.AddrPort]int{},
		frames:     map[string][]Frame{},
		held:       map[string][]heldSpeaking{},
		deaf:       map[string]bool{},
		nextSSRC:   1000,
		changed:    make(chan struct{}),
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	if es, ok := opts.DAVE.(*ExternalSender); ok {
		es.attach(s)
	}
	s.http = &http.Server{
		Handler:           http.HandlerFunc(s.serveWS),
		TLSConfig:         &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"http/1.1"}},
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
		BaseContext:       func(net.Listener) context.Context { return s.ctx },
	}
	s.tasks.Go(func() { s.http.ServeTLS(ln, "", "") })
	s.tasks.Go(s.serveUDP)
	return s, nil
}

// NewServer starts a server for a test and closes it when the test ends,
// failing the test if any protocol violation was recorded.
func NewServer(t tb.T, o Options) *Server {
	t.Helper()
	s, err := New(o)
	if err != nil {
		t.Fatalf("voicetest: %v", err)
	}
	t.Cleanup(func() {
		s.Close()
		for _, v := range s.Violations() {
			t.Errorf("voicetest: protocol violation: %s", v)
		}
	})
	return s
}

// Close stops the server and closes every connection.
func (s *Server) Close() error {
	s.cancel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	s.http.Shutdown(ctx)
	s.http.Close()
	s.udp.Close()
	s.mu.Lock()
	for _, m := range s.sessions {
		if m.hbTimer != nil {
			m.hbTimer.Stop()
		}
	}
	s.mu.Unlock()
	if es, ok := s.opts.DAVE.(*ExternalSender); ok {
		es.close()
	}
	s.tasks.Close()
	return nil
}

// Endpoint is the value for VOICE_SERVER_UPDATE's endpoint (host:port, no scheme).
func (s *Server) Endpoint() string { return s.endpoint }

// CertPool holds the server's self-signed certificate, for Go clients.
func (s *Server) CertPool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(s.cert)
	return p
}

// ClientTLS is a TLS config that trusts the server, for voice.Config.TLSConfig.
func (s *Server) ClientTLS() *tls.Config { return &tls.Config{RootCAs: s.CertPool()} }

// CertPEM is the certificate in PEM, for NODE_EXTRA_CA_CERTS.
func (s *Server) CertPEM() []byte { return pemOf(s.cert) }

// Grant authorises userID to join a call with the session id the main
// gateway gave it, and returns what VOICE_SERVER_UPDATE carries (a fresh token each time).
func (s *Server) Grant(guildID, channelID, userID, sessionID string) voice.Server {
	tok := make([]byte, 16)
	rand.Read(tok)
	g := &grant{call: CallID{guildID, channelID}, userID: userID, sessionID: sessionID, token: hex.EncodeToString(tok)}
	s.mu.Lock()
	s.grants[g.token] = g
	s.mu.Unlock()
	return voice.Server{Endpoint: s.endpoint, Token: g.token, SessionID: sessionID}
}

// VoiceServer grants a join (see Grant) and returns what the Discord
// emulator puts in VOICE_SERVER_UPDATE: it is a discordtest.VoiceServerFunc,
// the one glue between the two emulators (tests and `bot sandbox`).
func (s *Server) VoiceServer(guildID, channelID, userID, sessionID string) (endpoint, token string) {
	g := s.Grant(guildID, channelID, userID, sessionID)
	return g.Endpoint, g.Token
}

// Disconnect removes userID from guildID's call as the main gateway does when
// the user leaves or is moved: its voice gateway is closed with 4014.
func (s *Server) Disconnect(guildID, userID string) {
	s.mu.Lock()
	var ms []*member
	for _, m := range s.sessions {
		if m.call.GuildID == guildID && m.userID == userID {
			ms = append(ms, m)
		}
	}
	s.mu.Unlock()
	for _, m := range ms {
		s.closeMember(m, 4014, "disconnected")
	}
}

// ForceClose closes userID's voice gateway connection with code. 4015 (and
// codes below 4000) keep the session resumable; other codes end it.
func (s *Server) ForceClose(userID string, code websocket.StatusCode) error {
	s.mu.Lock()
	var m *member
	for _, x := range s.sessions {
		if x.userID == userID && !x.gone {
			m = x
		}
	}
	s.mu.Unlock()
	if m == nil {
		return fmt.Errorf("voicetest: no session for user %s", userID)
	}
	s.closeMember(m, code, "forced by test")
	return nil
}

// DropPackets installs fn to decide, per received RTP packet, whether the
// server drops it (neither recorded nor relayed); nil drops nothing.
func (s *Server) DropPackets(fn func(userID string, seq uint16) bool) {
	s.mu.Lock()
	s.dropFn = fn
	s.mu.Unlock()
}

// DelayPackets installs fn to decide, per received RTP packet, how long the
// server holds it before relaying it (reordering and jitter on the path to
// the other members); nil or 0 relays at once. Recording is not delayed.
func (s *Server) DelayPackets(fn func(userID string, seq uint16) time.Duration) {
	s.mu.Lock()
	s.delayFn = fn
	s.mu.Unlock()
}

type heldSpeaking struct {
	msg wire.Message
	to  []*member
}

// HoldSpeaking makes the server hold userID's op 5 (speaking) instead of
// relaying it, while its RTP still flows: the receivers see packets of an
// SSRC nobody has named yet, as when UDP overtakes the gateway's TCP.
// release relays what was held and stops holding.
func (s *Server) HoldSpeaking(userID string) (release func()) {
	s.mu.Lock()
	s.held[userID] = nil
	s.mu.Unlock()
	return func() {
		s.mu.Lock()
		q := s.held[userID]
		delete(s.held, userID)
		s.mu.Unlock()
		for _, h := range q {
			for _, o := range h.to {
				o.send(h.msg)
			}
		}
	}
}

// Packet is an RTP packet Inject sends to a member as if the SFU relayed it.
type Packet struct {
	SSRC      uint32
	Sequence  uint16
	Timestamp uint32
	Payload   []byte   // the media: Opus, or a DAVE frame
	CSRC      []uint32 // contributing sources (in the unencrypted header)
	// Extension is the body of a one-byte-header extension (profile
	// 0xBEDE), a multiple of 4 bytes: encrypted with the payload, as the
	// rtpsize modes put it, for the receiver to strip.
	Extension []byte
	Padding   byte // RTP padding bytes after the payload (P bit), 0 for none
	// Raw, when set, is sent as the whole datagram instead (garbage,
	// truncated or foreign packets).
	Raw []byte
}

// Inject sends p to toUser's UDP address in call, sealed with its key.
func (s *Server) Inject(call CallID, toUser string, p Packet) error {
	s.mu.Lock()
	var m *member
	for _, x := range s.sessions {
		if x.call == call && x.userID == toUser && !x.gone && x.cipher != nil && x.udpAddr.IsValid() {
			m = x
		}
	}
	if m == nil {
		s.mu.Unlock()
		return fmt.Errorf("voicetest: inject: no member %s with media in the call", toUser)
	}
	m.relayNonce++
	ci, addr, nonce := m.cipher, m.udpAddr, m.relayNonce
	s.mu.Unlock()
	b := p.Raw
	if b == nil {
		if len(p.Extension)%4 != 0 || len(p.CSRC) > 15 {
			return errors.New("voicetest: inject: extension not a multiple of 4 bytes, or more than 15 CSRCs")
		}
		hdr := []byte{0x80 | byte(len(p.CSRC)), wire.PayloadTypeOpus, byte(p.Sequence >> 8), byte(p.Sequence),
			byte(p.Timestamp >> 24), byte(p.Timestamp >> 16), byte(p.Timestamp >> 8), byte(p.Timestamp),
			byte(p.SSRC >> 24), byte(p.SSRC >> 16), byte(p.SSRC >> 8), byte(p.SSRC)}
		for _, c := range p.CSRC {
			hdr = append(hdr, byte(c>>24), byte(c>>16), byte(c>>8), byte(c))
		}
		var pt []byte
		if p.Extension != nil {
			hdr[0] |= 0x10
			n := len(p.Extension) / 4
			hdr = append(hdr, 0xBE, 0xDE, byte(n>>8), byte(n))
			pt = append(pt, p.Extension...)
		}
		pt = append(pt, p.Payload...)
		if p.Padding > 0 {
			hdr[0] |= 0x20
			pt = append(pt, make([]byte, p.Padding-1)...)
			pt = append(pt, p.Padding)
		}
		b = ci.SealRaw(nil, hdr, pt, nonce)
	}
	if _, err := s.udp.WriteToUDPAddrPort(b, addr); err != nil {
		return fmt.Errorf("voicetest: inject: %w", err)
	}
	return nil
}

// Frames returns the frames received from userID so far, in arrival order.
func (s *Server) Frames(userID string) []Frame {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.frames[userID])
}

// WaitFrames waits until cond holds for userID's frames, and returns them.
func (s *Server) WaitFrames(ctx context.Context, userID string, cond func([]Frame) bool) ([]Frame, error) {
	for {
		s.mu.Lock()
		fs := slices.Clone(s.frames[userID])
		ch := s.changed
		s.mu.Unlock()
		if cond(fs) {
			return fs, nil
		}
		select {
		case <-ctx.Done():
			return fs, fmt.Errorf("voicetest: waiting for frames of %s (have %d): %w", userID, len(fs), ctx.Err())
		case <-ch:
		}
	}
}

// WaitMember waits until userID has a session in the call that selected its
// protocol (it can send and receive media).
func (s *Server) WaitMember(ctx context.Context, userID string) error {
	for {
		s.mu.Lock()
		ok := false
		for _, m := range s.sessions {
			ok = ok || (m.userID == userID && m.selected && !m.gone)
		}
		ch := s.changed
		s.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("voicetest: waiting for member %s: %w", userID, ctx.Err())
		case <-ch:
		}
	}
}

// Members returns the users in a call that have completed select protocol,
// in no particular order (for the DAVE hooks: sole-member resets, proposals).
func (s *Server) Members(call CallID) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, m := range s.sessions {
		if m.call == call && m.identified && !m.gone {
			out = append(out, m.userID)
		}
	}
	return out
}

// MemberState is what the server knows about one member's session.
type MemberState struct {
	SSRC       uint32
	Mode       string
	Speaking   bool
	LastSeqAck int // seq_ack of the last heartbeat
	LastSeq    int // last sequence number sent to it
	Heartbeats int // heartbeats received (across resumes)
	Resumes    int
	Keepalives int // UDP keepalives from its address
}

// Member returns userID's session state (the newest live one).
func (s *Server) Member(userID string) (MemberState, bool) {
	s.mu.Lock()
	var m *member
	for _, x := range s.sessions {
		if x.userID == userID && !x.gone {
			m = x
		}
	}
	if m == nil {
		s.mu.Unlock()
		return MemberState{}, false
	}
	st := MemberState{SSRC: m.ssrc, Speaking: m.speaking, LastSeqAck: m.lastSeqAck, Heartbeats: m.heartbeats, Resumes: m.resumes,
		Keepalives: s.keepalives[m.udpAddr]}
	if m.cipher != nil {
		st.Mode = m.cipher.Mode()
	}
	s.mu.Unlock()
	m.wmu.Lock()
	st.LastSeq = m.seq
	m.wmu.Unlock()
	return st, true
}

// WaitMemberState waits until cond holds for userID's session state.
func (s *Server) WaitMemberState(ctx context.Context, userID string, cond func(MemberState) bool) (MemberState, error) {
	for {
		s.mu.Lock()
		ch := s.changed
		s.mu.Unlock()
		st, ok := s.Member(userID)
		if ok && cond(st) {
			return st, nil
		}
		select {
		case <-ctx.Done():
			return st, fmt.Errorf("voicetest: waiting on member %s (now %+v): %w", userID, st, ctx.Err())
		case <-ch:
		}
	}
}

// MuteHeartbeatACKs makes the server stop (or resume) answering userID's
// heartbeats, as a server that stopped responding would.
func (s *Server) MuteHeartbeatACKs(userID string, mute bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range s.sessions {
		if m.userID == userID {
			m.muteACKs = mute
		}
	}
}

// Violations returns the protocol violations seen so far.
func (s *Server) Violations() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.violations)
}

// Send sends m to userID's current connection as the server would, with the
// next sequence number (kept for replay on resume). For the DAVE hooks.
func (s *Server) Send(call CallID, userID string, m wire.Message) error {
	s.mu.Lock()
	var mem *member
	for _, x := range s.sessions {
		if x.call == call && x.userID == userID && !x.gone {
			mem = x
		}
	}
	s.mu.Unlock()
	if mem == nil {
		return fmt.Errorf("voicetest: no member %s in call", userID)
	}
	return mem.send(m)
}

func (s *Server) violation(format string, args ...any) {
	v := fmt.Sprintf(format, args...)
	s.log.Warn("voicetest: violation", "what", v)
	s.mu.Lock()
	s.violations = append(s.violations, v)
	s.notifyLocked()
	s.mu.Unlock()
}

func (s *Server) notifyLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// send writes m with the member's next seq (JSON ops with replay value and
// binary ops carry one) and keeps it for resume.
func (m *member) send(msg wire.Message) error {
	m.wmu.Lock()
	defer m.wmu.Unlock()
	msg.Seq = -1
	if sequenced(msg.Op) {
		m.seq++
		msg.Seq = m.seq
	}
	b, err := msg.MarshalServer()
	if err != nil {
		return err
	}
	if msg.Seq >= 0 {
		m.history = append(m.history, sent{seq: msg.Seq, binary: msg.Binary, data: b})
		if len(m.history) > 4096 {
			m.history = m.history[len(m.history)-4096:]
		}
	}
	if m.ws == nil {
		return nil // delivered on resume
	}
	return m.write(msg.Binary, b)
}

func (m *member) write(binary bool, b []byte) error {
	typ := websocket.MessageText
	if binary {
		typ = websocket.MessageBinary
	}
	ctx, cancel := context.WithTimeout(m.s.ctx, 5*time.Second)
	defer cancel()
	return m.ws.Write(ctx, typ, b)
}

// sequenced reports whether Discord numbers the op for replay: everything
// except the handshake and heartbeat replies.
func sequenced(op wire.Op) bool {
	switch op {
	case wire.OpHello, wire.OpHeartbeatACK, wire.OpResumed, wire.OpReady:
		return false
	}
	return true
}

func (s *Server) closeMember(m *member, code websocket.StatusCode, reason string) {
	resumable := code == 4015 || code < 4000
	s.mu.Lock()
	if !resumable {
		s.removeLocked(m)
	}
	s.mu.Unlock()
	m.wmu.Lock()
	ws := m.ws
	m.ws = nil
	m.wmu.Unlock()
	if ws != nil {
		// The close handshake waits for the peer's reply; don't block the
		// caller. (Once Close has begun, it closes every connection itself.)
		s.tasks.Go(func() { ws.Close(code, reason) })
	}
}

// removeLocked takes m out of its call and tells the others (op 13).
func (s *Server) removeLocked(m *member) {
	if m.gone {
		return
	}
	m.gone = true
	if m.hbTimer != nil {
		m.hbTimer.Stop()
	}
	delete(s.bySSRC, m.ssrc)
	wasIn := m.identified
	others := s.othersLocked(m)
	s.notifyLocked()
	if !wasIn {
		return
	}
	// Sent outside the caller's lock: writes may block.
	s.tasks.Go(func() {
		s.annMu.Lock()
		s.mu.Lock()
		back := slices.ContainsFunc(s.othersLocked(m), func(o *member) bool { return o.userID == m.userID })
		s.mu.Unlock()
		if !back { // the user is still in the call on a newer session: no op 13
			msg, _ := wire.NewMessage(wire.OpClientDisconnect, wire.ClientDisconnect{UserID: m.userID})
			for _, o := range others {
				o.send(msg)
			}
		}
		s.annMu.Unlock()
		if s.opts.DAVE != nil {
			s.opts.DAVE.Left(m.call, m.userID)
		}
	})
}

func (s *Server) othersLocked(m *member) []*member {
	var out []*member
	for _, o := range s.sessions {
		if o != m && o.call == m.call && o.identified && !o.gone {
			out = append(out, o)
		}
	}
	return out
}

func (s *Server) serveWS(w http.ResponseWriter, r *http.Request) {
	if v, err := strconv.Atoi(r.URL.Query().Get("v")); err != nil || v < 4 {
		s.violation("gateway dialled without ?v=8 (%q)", r.URL.RawQuery)
		http.Error(w, "gateway version required", http.StatusBadRequest)
		return
	} else if v != 8 {
		s.violation("gateway version %d, want 8", v)
	}
	// Hijacked connections are not the http.Server's to wait for: Close
	// waits for their handlers as tasks.
	if !s.tasks.Enter() {
		http.Error(w, "closed", http.StatusServiceUnavailable)
		return
	}
	defer s.tasks.Leave()
	ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{InsecureSkipVerify: true})
	if err != nil {
		return
	}
	ws.SetReadLimit(1 << 20)
	s.handleConn(ws)
}

func (s *Server) handleConn(ws *websocket.Conn) {
	ctx, cancel := context.WithCancel(s.ctx)
	defer cancel()
	defer ws.CloseNow()
	hello, _ := wire.NewMessage(wire.OpHello, wire.Hello{HeartbeatInterval: float64(s.opts.HeartbeatInterval) / float64(time.Millisecond), V: 8})
	b, _ := hello.MarshalServer()
	if err := ws.Write(ctx, websocket.MessageText, b); err != nil {
		return
	}
	var m *member
	for {
		typ, b, err := ws.Read(ctx)
		if err != nil {
			if m != nil {
				m.wmu.Lock()
				if m.ws == ws {
					m.ws = nil
				}
				m.wmu.Unlock()
				if websocket.CloseStatus(err) == websocket.StatusNormalClosure {
					s.mu.Lock()
					s.removeLocked(m) // the client left; other transport losses stay resumable
					s.mu.Unlock()
				}
			}
			return
		}
		msg, err := wire.ParseClientMessage(typ == websocket.MessageBinary, b)
		if err != nil {
			s.violation("undecodable client frame: %v", err)
			ws.Close(4002, "failed to decode payload")
			return
		}
		if m == nil {
			switch msg.Op {
			case wire.OpIdentify:
				m = s.identify(ws, msg)
			case wire.OpResume:
				m = s.resume(ws, msg)
			case wire.OpHeartbeat:
				s.heartbeat(nil, ws, msg)
				continue
			default:
				s.violation("op %s before identify", msg.Op)
				ws.Close(4003, "not authenticated")
				return
			}
			if m == nil {
				return
			}
			continue
		}
		if !s.handle(m, ws, msg) {
			return
		}
	}
}

func (s *Server) identify(ws *websocket.Conn, msg wire.Message) *member {
	var id wire.Identify
	if err := msg.Decode(&id); err != nil {
		ws.Close(4002, "failed to decode payload")
		return nil
	}
	s.mu.Lock()
	g := s.grants[id.Token]
	if g == nil || g.userID != id.UserID || g.sessionID != id.SessionID || g.call.GuildID != id.ServerID {
		s.mu.Unlock()
		ws.Close(4004, "authentication failed")
		return nil
	}
	if s.opts.RequireDAVE && id.MaxDAVEProtocolVersion < 1 {
		s.mu.Unlock()
		ws.Close(4017, "E2EE/DAVE protocol required")
		return nil
	}
	delete(s.grants, id.Token) // a token identifies once
	if old := s.sessions[id.SessionID]; old != nil {
		s.removeLocked(old)
	}
	s.nextSSRC++
	m := &member{s: s, call: g.call, userID: g.userID, session: g.sessionID, token: g.token, ssrc: s.nextSSRC, ws: ws}
	if s.opts.DAVE != nil {
		m.dave = s.opts.DAVE.ProtocolVersion(id.MaxDAVEProtocolVersion)
	}
	s.sessions[m.session] = m
	s.bySSRC[m.ssrc] = m
	s.armHeartbeatLocked(m)
	s.notifyLocked()
	port := s.udp.LocalAddr().(*net.UDPAddr).Port
	s.mu.Unlock()
	ready, _ := wire.NewMessage(wire.OpReady, map[string]any{
		"ssrc": m.ssrc, "ip": "127.0.0.1", "port": port, "modes": s.opts.Modes, "heartbeat_interval": 1,
		"experiments": []string{}, "streams": []any{},
	})
	m.send(ready)
	return m
}

func (s *Server) resume(ws *websocket.Conn, msg wire.Message) *member {
	var r wire.Resume
	if err := msg.Decode(&r); err != nil {
		ws.Close(4002, "failed to decode payload")
		return nil
	}
	s.mu.Lock()
	m := s.sessions[r.SessionID]
	ok := m != nil && !m.gone && m.token == r.Token && m.call.GuildID == r.ServerID
	if ok {
		s.armHeartbeatLocked(m)
		m.resumes++
		s.notifyLocked()
	}
	s.mu.Unlock()
	if !ok {
		ws.Close(4006, "session no longer valid")
		return nil
	}
	m.wmu.Lock()
	defer m.wmu.Unlock()
	if r.SeqAck > m.seq {
		s.violation("resume seq_ack %d beyond last sent %d", r.SeqAck, m.seq)
	}
	old := m.ws
	m.ws = ws
	if old != nil && old != ws {
		go old.Close(4006, "resumed elsewhere")
	}
	b, _ := wire.Message{Op: wire.OpResumed, Seq: -1, Data: []byte("null")}.MarshalServer()
	if err := m.write(false, b); err != nil {
		return nil
	}
	for _, h := range m.history {
		if h.seq > r.SeqAck {
			if err := m.write(h.binary, h.data); err != nil {
				return nil
			}
		}
	}
	return m
}

// armHeartbeatLocked (re)starts the session-timeout timer: 2.5 heartbeat
// intervals without op 3 close the session with 4009.
func (s *Server) armHeartbeatLocked(m *member) {
	d := s.opts.HeartbeatInterval * 5 / 2
	if m.hbTimer == nil {
		m.hbTimer = time.AfterFunc(d, func() { s.closeMember(m, 4009, "session timeout") })
		return
	}
	m.hbTimer.Reset(d)
}

func (s *Server) heartbeat(m *member, ws *websocket.Conn, msg wire.Message) {
	var hb wire.Heartbeat
	if err := msg.Decode(&hb); err != nil {
		s.violation("bad heartbeat: %v", err)
		return
	}
	ack, _ := wire.NewMessage(wire.OpHeartbeatACK, wire.HeartbeatACK{T: hb.T})
	if m == nil {
		b, _ := ack.MarshalServer()
		ctx, cancel := context.WithTimeout(s.ctx, 5*time.Second)
		defer cancel()
		ws.Write(ctx, websocket.MessageText, b)
		return
	}
	s.mu.Lock()
	if !m.gone {
		s.armHeartbeatLocked(m)
	}
	m.lastSeqAck = hb.SeqAck
	m.heartbeats++
	mute := m.muteACKs
	s.notifyLocked()
	s.mu.Unlock()
	m.wmu.Lock()
	last := m.seq
	m.wmu.Unlock()
	if hb.SeqAck > last {
		s.violation("%s: heartbeat seq_ack %d beyond last sent %d", m.userID, hb.SeqAck, last)
	}
	if !mute {
		m.send(ack)
	}
}

// handle processes one message from an identified member; false ends the connection.
func (s *Server) handle(m *member, ws *websocket.Conn, msg wire.Message) bool {
	switch msg.Op {
	case wire.OpHeartbeat:
		s.heartbeat(m, ws, msg)
	case wire.OpSelectProtocol:
		var sp wire.SelectProtocol
		if err := msg.Decode(&sp); err != nil || sp.Protocol != "udp" {
			s.violation("%s: bad select protocol", m.userID)
			ws.Close(4012, "unknown protocol")
			return false
		}
		if !slices.Contains(s.opts.Modes, sp.Data.Mode) {
			s.violation("%s: mode %q not offered", m.userID, sp.Data.Mode)
			ws.Close(4016, "unknown encryption mode")
			return false
		}
		var key wire.SecretKey
		rand.Read(key[:])
		ci, err := wire.NewCipher(sp.Data.Mode, key)
		if err != nil {
			ws.Close(4016, "unknown encryption mode")
			return false
		}
		addr, err := netip.ParseAddr(sp.Data.Address)
		s.mu.Lock()
		if err == nil {
			m.udpAddr = netip.AddrPortFrom(addr, uint16(sp.Data.Port))
		}
		if m.selected {
			s.mu.Unlock()
			s.violation("%s: select protocol twice", m.userID)
			return true
		}
		m.cipher = ci
		m.selected = true
		m.identified = true
		others := s.othersLocked(m)
		var speaking []wire.Speaking
		var ids []string
		for _, o := range others {
			ids = append(ids, o.userID)
			if o.speaking {
				speaking = append(speaking, wire.Speaking{UserID: o.userID, SSRC: o.ssrc, Speaking: 1})
			}
		}
		dave := m.dave
		s.notifyLocked()
		s.mu.Unlock()
		desc, _ := wire.NewMessage(wire.OpSessionDescription, wire.SessionDescription{Mode: sp.Data.Mode, SecretKey: key, DAVEProtocolVersion: dave})
		m.send(desc)
		if len(ids) > 0 {
			cc, _ := wire.NewMessage(wire.OpClientsConnect, wire.ClientsConnect{UserIDs: ids})
			m.send(cc)
		}
		for _, sp := range speaking {
			msg, _ := wire.NewMessage(wire.OpSpeaking, sp)
			m.send(msg)
		}
		join, _ := wire.NewMessage(wire.OpClientsConnect, wire.ClientsConnect{UserIDs: []string{m.userID}})
		s.annMu.Lock()
		for _, o := range others {
			o.send(join)
		}
		s.annMu.Unlock()
		if s.opts.DAVE != nil {
			s.opts.DAVE.Joined(m.call, m.userID)
		}
	case wire.OpSpeaking:
		var sp wire.Speaking
		if err := msg.Decode(&sp); err != nil {
			ws.Close(4002, "failed to decode payload")
			return false
		}
		s.mu.Lock()
		if !m.selected {
			s.mu.Unlock()
			s.violation("%s: speaking before select protocol", m.userID)
			return true
		}
		if sp.SSRC != m.ssrc {
			s.mu.Unlock()
			s.violation("%s: speaking with ssrc %d, ours is %d", m.userID, sp.SSRC, m.ssrc)
			return true
		}
		m.speaking = sp.Speaking != 0
		m.spokeOnce = m.spokeOnce || m.speaking
		others := s.othersLocked(m)
		s.notifyLocked()
		s.mu.Unlock()
		out, _ := wire.NewMessage(wire.OpSpeaking, wire.Speaking{UserID: m.userID, SSRC: m.ssrc, Speaking: sp.Speaking})
		s.mu.Lock()
		if q, held := s.held[m.userID]; held {
			s.held[m.userID] = append(q, heldSpeaking{out, others})
			s.mu.Unlock()
			return true
		}
		s.mu.Unlock()
		for _, o := range others {
			o.send(out)
		}
	case wire.OpDAVETransitionReady, wire.OpDAVEMLSKeyPackage, wire.OpDAVEMLSCommitWelcome, wire.OpDAVEMLSInvalidCommitWelcome:
		if s.opts.DAVE != nil {
			s.opts.DAVE.ClientMessage(m.call, m.userID, msg)
		}
	case wire.OpIdentify, wire.OpResume:
		s.violation("%s: %s on an authenticated connection", m.userID, msg.Op)
		ws.Close(4005, "already authenticated")
		return false
	default:
		s.violation("%s: unknown client op %d", m.userID, msg.Op)
		ws.Close(4001, "unknown opcode")
		return false
	}
	return true
}

// speakingGrace is how long op 5 (TCP) may trail the first RTP packet (UDP)
// on the wire: the client sends it first, but the two transports race.
const speakingGrace = 250 * time.Millisecond

// checkSpeakingSoon records "RTP before speaking" unless op 5 arrives within
// speakingGrace of the first unannounced packet.
func (s *Server) checkSpeakingSoon(m *member) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if m.unspoken {
		return
	}
	m.unspoken = true
	s.tasks.Go(func() {
		t := time.NewTimer(speakingGrace)
		defer t.Stop()
		due := time.Now().Add(speakingGrace)
		for {
			select {
			case <-t.C:
			case <-s.ctx.Done():
				return
			}
			// A timer this late means a busy machine, where the gateway
			// reader (holding op 5) may be just as late: judge again after
			// another grace rather than on a fixed clock.
			if late := time.Since(due); late > speakingGrace/5 {
				due = time.Now().Add(speakingGrace + late)
				t.Reset(speakingGrace + late)
				continue
			}
			s.mu.Lock()
			spoke, gone := m.spokeOnce, m.gone
			s.mu.Unlock()
			m.wmu.Lock()
			connected := m.ws != nil
			m.wmu.Unlock()
			switch {
			case spoke || gone:
				// Spoke in time, or the session ended with op 5 possibly
				// still unread in its socket: nothing to judge.
				return
			case !connected:
				due = time.Now().Add(speakingGrace)
				t.Reset(speakingGrace) // awaiting a resume, which re-sends op 5
			default:
				s.violation("%s: RTP before speaking (ssrc %d)", m.userID, m.ssrc)
				return
			}
		}
	})
}

// WaitViolations waits until at least n violations are recorded.
func (s *Server) WaitViolations(ctx context.Context, n int) ([]string, error) {
	for {
		s.mu.Lock()
		v := slices.Clone(s.violations)
		ch := s.changed
		s.mu.Unlock()
		if len(v) >= n {
			return v, nil
		}
		select {
		case <-ctx.Done():
			return v, fmt.Errorf("voicetest: waiting for %d violations: %w", n, ctx.Err())
		case <-ch:
		}
	}
}

func (s *Server) serveUDP() {
	buf := make([]byte, 2048)
	var out []byte
	for {
		n, from, err := s.udp.ReadFromUDPAddrPort(buf)
		if err != nil {
			if s.ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		arrival := time.Now()
		b := buf[:n]
		switch {
		case wire.IsOpusRTP(b):
			// Checked first: an RTP packet may be 74 bytes long too.
			out = s.relay(b, from, arrival, out)
		case n == 74:
			var d wire.Discovery
			if d.Unmarshal(b) != nil || d.Response {
				continue
			}
			s.mu.Lock()
			m := s.bySSRC[d.SSRC]
			s.mu.Unlock()
			if m == nil {
				s.violation("ip discovery for unknown ssrc %d", d.SSRC)
				continue
			}
			resp, _ := wire.Discovery{Response: true, SSRC: d.SSRC, Addr: from}.Marshal()
			s.udp.WriteToUDPAddrPort(resp, from)
		case n == 8:
			s.mu.Lock()
			s.keepalives[from]++
			s.mu.Unlock()
			s.udp.WriteToUDPAddrPort(b, from) // keepalive echo
		}
	}
}

// relay decrypts one member's packet, records it and re-encrypts it for
// every other member of the call.
func (s *Server) relay(b []byte, from netip.AddrPort, arrival time.Time, out []byte) []byte {
	ssrc := uint32(b[8])<<24 | uint32(b[9])<<16 | uint32(b[10])<<8 | uint32(b[11])
	s.mu.Lock()
	m := s.bySSRC[ssrc]
	if m == nil || m.gone {
		s.mu.Unlock()
		return out
	}
	ci, spoke, user := m.cipher, m.spokeOnce, m.userID
	drop, delayFn := s.dropFn, s.delayFn
	s.mu.Unlock()
	if ci == nil {
		s.violation("%s: RTP before session description", user)
		return out
	}
	if !spoke {
		s.checkSpeakingSoon(m)
	}
	p, _, err := ci.Open(nil, b)
	if err != nil {
		s.violation("%s: undecryptable RTP: %v", user, err)
		return out
	}
	if drop != nil && drop(user, p.Header.SequenceNumber) {
		return out
	}
	var delay time.Duration
	if delayFn != nil {
		delay = delayFn(user, p.Header.SequenceNumber)
	}
	f := Frame{UserID: user, SSRC: ssrc, Sequence: p.Header.SequenceNumber, Timestamp: p.Header.Timestamp, Payload: p.Payload, Arrival: arrival}
	type dest struct {
		ci    *wire.Cipher
		addr  netip.AddrPort
		nonce uint32
	}
	var dests []dest
	s.mu.Lock()
	s.frames[user] = append(s.frames[user], f)
	for _, o := range s.othersLocked(m) {
		if o.cipher != nil && o.udpAddr.IsValid() && !s.deaf[o.userID] {
			o.relayNonce++
			dests = append(dests, dest{o.cipher, o.udpAddr, o.relayNonce})
		}
	}
	s.notifyLocked()
	s.mu.Unlock()
	h := rtp.Header{Version: 2, PayloadType: wire.PayloadTypeOpus, SequenceNumber: p.Header.SequenceNumber, Timestamp: p.Header.Timestamp, SSRC: ssrc}
	if delay > 0 {
		payload := slices.Clone(p.Payload)
		s.tasks.Go(func() {
			t := time.NewTimer(delay)
			defer t.Stop()
			select {
			case <-s.ctx.Done():
				return
			case <-t.C:
			}
			for _, d := range dests {
				if b, err := d.ci.Seal(nil, &h, payload, d.nonce); err == nil {
					s.udp.WriteToUDPAddrPort(b, d.addr)
				}
			}
		})
		return out
	}
	for _, d := range dests {
		if out, err = d.ci.Seal(out[:0], &h, p.Payload, d.nonce); err == nil {
			s.udp.WriteToUDPAddrPort(out, d.addr)
		}
	}
	return out
}
