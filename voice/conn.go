package voice

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/livecord/livecord/voice/inbound"
	"github.com/livecord/livecord/voice/internal/wire"

	"github.com/coder/websocket"
	"github.com/pion/rtp"

	"github.com/livecord/livecord/internal/tasks"
)

// Server is what the main gateway hands out for one voice connection: the
// endpoint and token from VOICE_SERVER_UPDATE and the session id from our
// VOICE_STATE_UPDATE.
type Server struct {
	Endpoint  string
	Token     string
	SessionID string
}

// Config configures Dial.
type Config struct {
	Server
	UserID    string
	GuildID   string
	ChannelID string

	// TLSConfig is used to dial wss://; nil means the system roots. Tests set
	// RootCAs to the emulator's CA.
	TLSConfig *tls.Config
	// E2EE is the DAVE layer; nil identifies with max_dave_protocol_version 0.
	E2EE E2EE
	// Rejoin, when set, is called on close codes that need a new session
	// (4006, 4009, …) to obtain fresh credentials through the main gateway.
	// Without it those codes end the connection.
	Rejoin func(ctx context.Context) (Server, error)
	// Logger receives debug and warning logs; nil discards them.
	Logger *slog.Logger
	// HandshakeTimeout bounds each gateway handshake (default 10 s).
	HandshakeTimeout time.Duration
	// ReceiveBuffer is the number of received frames held for ReadFrame
	// (default 256); further frames are dropped until read.
	ReceiveBuffer int
	// Receive tunes the listening pipeline (Listen): jitter buffer, pause
	// gap, turn cap, flood limits. The zero value takes inbound's defaults.
	Receive inbound.Config

	ears *ears // a Channel's, shared by its connections; nil: the Conn's own
}

// Frame is one received audio frame.
type Frame struct {
	SSRC      uint32
	UserID    string // from the server's op 5; empty until known
	Sequence  uint16
	Timestamp uint32
	Opus      []byte
	Arrival   time.Time
}

// Conn is one voice connection. It survives resumes (4015, transport closes)
// and, with Config.Rejoin, new sessions; its methods are safe for concurrent use.
type Conn struct {
	cfg     Config
	log     *slog.Logger
	ctx     context.Context
	cancel  context.CancelFunc
	tasks   tasks.Group  // run, heartbeat, UDP reader and keepalive, polite closes
	lastSq  atomic.Int64 // last server seq seen, -1 if none
	closing atomic.Bool

	mu       sync.Mutex
	server   Server
	ws       *websocket.Conn // current gateway connection, nil between sessions
	udp      *udpLink        // current UDP link, nil until ready
	cipher   *wire.Cipher    // nil while not ready to send
	speaking bool

	// recvMu orders receive-side delivery: the SSRC→user map from op 5 and
	// the frames parked while an SSRC had no user yet (RTP over UDP can
	// overtake op 5 over TCP).
	recvMu    sync.Mutex
	ssrcUsers map[uint32]string
	parked    map[uint32][]Frame
	openBuf   []byte  // transport plaintext of the packet being handled
	daveBuf   []byte  // its DAVE plaintext
	newServer *Server // set by ServerUpdate: reconnect with these credentials
	endSess   context.CancelFunc

	sendMu sync.Mutex
	seq    uint16
	ts     uint32
	nonce  uint32
	encBuf []byte
	pktBuf []byte

	ears    *ears
	ownEars bool

	frames   chan Frame
	dropped  atomic.Int64
	done     chan struct{}
	err      error // set before done closes
	closeErr sync.Once
}

type udpLink struct {
	conn   *net.UDPConn
	ssrc   uint32
	cancel context.CancelFunc
}

// Dial connects to the voice gateway, identifies, discovers its UDP address,
// selects a protocol and waits for the session description; the returned Conn
// is ready for WriteOpus once SetSpeaking has been called. ctx bounds the dial
// only; the Conn lives until Close or a stop close code.
func Dial(ctx context.Context, cfg Config) (*Conn, error) {
	if cfg.HandshakeTimeout <= 0 {
		cfg.HandshakeTimeout = 10 * time.Second
	}
	if cfg.ReceiveBuffer <= 0 {
		cfg.ReceiveBuffer = 256
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &Conn{
		cfg:       cfg,
		log:       log.With("guild", cfg.GuildID),
		server:    cfg.Server,
		ssrcUsers: map[uint32]string{},
		parked:    map[uint32][]Frame{},
		frames:    make(chan Frame, cfg.ReceiveBuffer),
		done:      make(chan struct{}),
	}
	c.ears = cfg.ears
	if c.ears == nil {
		c.ears, c.ownEars = newEars(cfg.Receive, c.log), true
	}
	c.ctx, c.cancel = context.WithCancel(context.WithoutCancel(ctx))
	c.lastSq.Store(-1)
	var rnd [10]byte
	rand.Read(rnd[:])
	c.seq = binary.BigEndian.Uint16(rnd[:])
	c.ts = binary.BigEndian.Uint32(rnd[2:])
	c.nonce = binary.BigEndian.Uint32(rnd[6:])

	stop := context.AfterFunc(ctx, c.cancel) // a cancelled dial tears the attempt down
	sess, err := c.connect(ctx, false)
	stop()
	if err != nil {
		c.cancel()
		c.tasks.Close()
		if c.ownEars {
			c.ears.close()
		}
		return nil, err
	}
	c.tasks.Go(func() { c.run(sess) })
	return c, nil
}

// Close ends the connection (closing the WebSocket normally) and waits for
// its goroutines. It does not leave the voice channel on the main gateway.
func (c *Conn) Close() error {
	c.closing.Store(true)
	c.mu.Lock()
	ws := c.ws
	c.mu.Unlock()
	if ws != nil {
		closed := make(chan struct{})
		go func() { // ends at the latest when finish cancels the session
			ws.Close(websocket.StatusNormalClosure, "")
			close(closed)
		}()
		select {
		case <-closed:
		case <-time.After(time.Second):
		}
	}
	c.finish(ErrClosed)
	c.tasks.Close()
	c.ears.closeTurns(time.Now())
	if c.ownEars {
		c.ears.close()
	}
	return nil
}

// Done is closed when the connection has ended; Err then says why.
func (c *Conn) Done() <-chan struct{} { return c.done }

// Err returns why the connection ended (ErrClosed after Close, a *CloseError
// for stop codes), or nil while it is alive.
func (c *Conn) Err() error {
	select {
	case <-c.done:
		return c.err
	default:
		return nil
	}
}

func (c *Conn) finish(err error) {
	c.closeErr.Do(func() {
		c.cancel() // stopped() from here on: every write fails with ErrClosed
		c.mu.Lock()
		c.cipher = nil // and none reaches the socket once Done is closed
		c.mu.Unlock()
		c.err = err
		close(c.done)
	})
}

// SSRC returns our current SSRC (it changes with a new session).
func (c *Conn) SSRC() uint32 {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.udp == nil {
		return 0
	}
	return c.udp.ssrc
}

// Mode returns the negotiated transport encryption mode.
func (c *Conn) Mode() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cipher == nil {
		return ""
	}
	return c.cipher.Mode()
}

// SetSpeaking sends op 5. Discord requires speaking before the first RTP
// packet; the flag is re-sent after a new session.
func (c *Conn) SetSpeaking(ctx context.Context, on bool) error {
	c.mu.Lock()
	c.speaking = on
	ws, udp := c.ws, c.udp
	c.mu.Unlock()
	if ws == nil || udp == nil {
		return fmt.Errorf("voice: speaking: %w", ErrNotConnected)
	}
	return c.sendSpeaking(ctx, ws, udp.ssrc, on)
}

func (c *Conn) sendSpeaking(ctx context.Context, ws *websocket.Conn, ssrc uint32, on bool) error {
	s := wire.Speaking{SSRC: ssrc}
	if on {
		s.Speaking = 1
	}
	m, err := wire.NewMessage(wire.OpSpeaking, s)
	if err != nil {
		return err
	}
	if err := c.writeWS(ctx, ws, m); err != nil {
		return fmt.Errorf("voice: speaking: %w", err)
	}
	return nil
}

// stopped reports whether the connection is ending or has ended (Close
// began, or a stop close code finished it). It turns true before the UDP
// socket is closed, so a write that finds the socket closed under it can
// tell a stop from a reconnect.
func (c *Conn) stopped() bool { return c.closing.Load() || c.ctx.Err() != nil }

// WriteOpus sends one 20 ms Opus frame as the next RTP packet (through the
// E2EE layer when configured). Frames written while reconnecting are dropped
// with ErrNotConnected; once the connection stops (Close, or a stop close
// code), every write returns ErrClosed, also one racing the stop.
func (c *Conn) WriteOpus(frame []byte) error {
	if c.stopped() {
		return fmt.Errorf("voice: write: %w", ErrClosed)
	}
	c.mu.Lock()
	ci, link := c.cipher, c.udp
	c.mu.Unlock()
	if ci == nil || link == nil {
		if c.stopped() {
			return fmt.Errorf("voice: write: %w", ErrClosed)
		}
		return fmt.Errorf("voice: write: %w", ErrNotConnected)
	}
	c.sendMu.Lock()
	defer c.sendMu.Unlock()
	payload := frame
	if c.cfg.E2EE != nil {
		var err error
		c.encBuf, err = c.cfg.E2EE.EncryptOpus(c.encBuf[:0], frame)
		if err != nil {
			return fmt.Errorf("voice: write: e2ee: %w", err)
		}
		payload = c.encBuf
	}
	h := rtp.Header{Version: 2, PayloadType: wire.PayloadTypeOpus, SequenceNumber: c.seq, Timestamp: c.ts, SSRC: link.ssrc}
	c.nonce++
	pkt, err := ci.Seal(c.pktBuf[:0], &h, payload, c.nonce)
	if err != nil {
		return fmt.Errorf("voice: write: %w", err)
	}
	c.pktBuf = pkt
	c.seq++
	c.ts += wire.FrameSamples
	if _, err := link.conn.Write(pkt); err != nil {
		// The link we took may have been closed since: by a stop (run
		// closes it after finish) or by a new session replacing it.
		switch {
		case c.stopped():
			return fmt.Errorf("voice: write: %w", ErrClosed)
		case errors.Is(err, net.ErrClosed):
			return fmt.Errorf("voice: write: %w", ErrNotConnected)
		}
		return fmt.Errorf("voice: write: udp: %w", err)
	}
	return nil
}

// ReadFrame returns the next received audio frame (transport- and
// E2EE-decrypted, Opus as sent) while no listener is registered (Listen
// takes them all). Frames arriving while nobody reads are dropped.
func (c *Conn) ReadFrame(ctx context.Context) (Frame, error) {
	select {
	case f := <-c.frames:
		return f, nil
	case <-ctx.Done():
		return Frame{}, ctx.Err()
	case <-c.done:
		return Frame{}, c.err
	}
}

// WriteMessage sends a gateway message on the current connection (the
// GatewayWriter handed to E2EE).
func (c *Conn) WriteMessage(ctx context.Context, m wire.Message) error {
	c.mu.Lock()
	ws := c.ws
	c.mu.Unlock()
	if ws == nil {
		return fmt.Errorf("voice: write op %d: %w", m.Op, ErrNotConnected)
	}
	return c.writeWS(ctx, ws, m)
}

func (c *Conn) writeWS(ctx context.Context, ws *websocket.Conn, m wire.Message) error {
	b, err := m.MarshalClient()
	if err != nil {
		return err
	}
	typ := websocket.MessageText
	if m.Binary {
		typ = websocket.MessageBinary
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := ws.Write(ctx, typ, b); err != nil {
		return fmt.Errorf("voice: write op %d: %w", m.Op, err)
	}
	return nil
}

// ServerUpdate tells a live connection that the main gateway moved it to a
// new voice server (a later VOICE_SERVER_UPDATE): it identifies afresh there.
func (c *Conn) ServerUpdate(s Server) {
	c.mu.Lock()
	c.newServer = &s
	end, ws := c.endSess, c.ws
	c.mu.Unlock()
	if end == nil || ws == nil {
		return // between sessions: the pending server is used next
	}
	// Leave the old server politely; the run loop then identifies anew.
	c.tasks.Go(func() {
		ws.Close(websocket.StatusNormalClosure, "moving to another voice server")
		end()
	})
}

// session is one WebSocket connection to the voice gateway.
type session struct {
	ws     *websocket.Conn
	ctx    context.Context
	cancel context.CancelFunc
	hbOnce sync.Once
	missed atomic.Int32
}

// connect dials the gateway and performs identify (or resume) up to the point
// where audio can flow.
func (c *Conn) connect(ctx context.Context, resume bool) (*session, error) {
	c.mu.Lock()
	if c.newServer != nil { // a VOICE_SERVER_UPDATE came while reconnecting
		c.server, c.newServer, resume = *c.newServer, nil, false
	}
	srv := c.server
	c.mu.Unlock()
	hctx, cancel := context.WithTimeout(ctx, c.cfg.HandshakeTimeout)
	defer cancel()
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: c.cfg.TLSConfig, ForceAttemptHTTP2: false}}
	ws, _, err := websocket.Dial(hctx, "wss://"+srv.Endpoint+"/?v=8", &websocket.DialOptions{HTTPClient: client})
	if err != nil {
		return nil, fmt.Errorf("voice: dial gateway: %w", err)
	}
	ws.SetReadLimit(1 << 20) // op 30 Welcomes outgrow the 32 KiB default
	s := &session{ws: ws}
	s.ctx, s.cancel = context.WithCancel(c.ctx)
	context.AfterFunc(s.ctx, func() { ws.CloseNow() })
	var link *udpLink // the new UDP link, once Ready arrived
	fail := func(err error) (*session, error) {
		s.cancel()
		if link != nil && link.cancel == nil {
			link.conn.Close()
		}
		c.mu.Lock()
		if c.ws == ws {
			c.ws = nil
		}
		c.mu.Unlock()
		return nil, err
	}
	c.mu.Lock()
	c.ws = ws // E2EE may answer during the handshake (op 26 right after op 4)
	c.mu.Unlock()

	var first wire.Message
	if resume {
		first, err = wire.NewMessage(wire.OpResume, wire.Resume{ServerID: c.cfg.GuildID, SessionID: srv.SessionID, Token: srv.Token, SeqAck: int(c.lastSq.Load())})
	} else {
		c.lastSq.Store(-1)
		maxDAVE := 0
		if c.cfg.E2EE != nil {
			maxDAVE = c.cfg.E2EE.MaxProtocolVersion()
		}
		first, err = wire.NewMessage(wire.OpIdentify, wire.Identify{ServerID: c.cfg.GuildID, UserID: c.cfg.UserID, SessionID: srv.SessionID, Token: srv.Token, MaxDAVEProtocolVersion: maxDAVE})
	}
	if err != nil {
		return fail(err)
	}
	if err := c.writeWS(hctx, ws, first); err != nil {
		return fail(err)
	}
	var oldLink *udpLink
	if !resume {
		c.mu.Lock()
		oldLink = c.udp
		c.udp, c.cipher = nil, nil
		c.mu.Unlock()
		c.recvMu.Lock()
		c.ssrcUsers, c.parked = map[uint32]string{}, map[uint32][]Frame{}
		c.recvMu.Unlock()
	}
	if oldLink != nil {
		oldLink.cancel()
		oldLink.conn.Close()
	}

	for {
		m, err := c.readMsg(hctx, s)
		if err != nil {
			if ce := closeErrorFrom(err); ce.Code >= 4000 {
				return fail(fmt.Errorf("voice: handshake: %w", ce))
			}
			return fail(fmt.Errorf("voice: handshake: %w", err))
		}
		switch {
		case resume && m.Op == wire.OpResumed:
			c.mu.Lock()
			c.endSess = s.cancel
			speaking, udp := c.speaking, c.udp
			c.mu.Unlock()
			if speaking && udp != nil { // a speaking change may have fallen into the gap
				if err := c.sendSpeaking(hctx, ws, udp.ssrc, true); err != nil {
					return fail(err)
				}
			}
			c.log.Debug("voice gateway resumed")
			return s, nil
		case !resume && m.Op == wire.OpReady:
			var r wire.Ready
			if err := m.Decode(&r); err != nil {
				return fail(err)
			}
			mode, err := wire.ChooseMode(r.Modes)
			if err != nil {
				return fail(err)
			}
			if link, err = c.openUDP(hctx, r); err != nil {
				return fail(err)
			}
			disc, err := discover(hctx, link.conn, r.SSRC)
			if err != nil {
				return fail(err)
			}
			sp, err := wire.NewMessage(wire.OpSelectProtocol, wire.SelectProtocol{Protocol: "udp", Data: wire.SelectProtocolData{Address: disc.Addr().String(), Port: int(disc.Port()), Mode: mode}})
			if err == nil {
				err = c.writeWS(hctx, ws, sp)
			}
			if err != nil {
				return fail(fmt.Errorf("voice: select protocol: %w", err))
			}
		case !resume && m.Op == wire.OpSessionDescription:
			if link == nil {
				return fail(errors.New("voice: session description before ready"))
			}
			var d wire.SessionDescription
			if err := m.Decode(&d); err != nil {
				return fail(err)
			}
			ci, err := wire.NewCipher(d.Mode, d.SecretKey)
			if err != nil {
				return fail(err)
			}
			c.mu.Lock()
			c.endSess = s.cancel
			c.udp = link
			speaking := c.speaking
			c.mu.Unlock()
			c.startUDP(link, ci)
			if speaking { // a new session: speaking must precede RTP on the new SSRC
				if err := c.sendSpeaking(hctx, ws, link.ssrc, true); err != nil {
					return fail(err)
				}
			}
			c.mu.Lock()
			c.cipher = ci
			c.mu.Unlock()
			c.log.Debug("voice session ready", "mode", d.Mode, "dave", d.DAVEProtocolVersion)
			return s, nil
		}
	}
}

// readMsg reads one gateway message and handles what every state handles:
// seq tracking, hello/heartbeat ACKs, speaking and E2EE ops.
func (c *Conn) readMsg(ctx context.Context, s *session) (wire.Message, error) {
	for {
		typ, b, err := s.ws.Read(ctx)
		if err != nil {
			return wire.Message{}, err
		}
		m, err := wire.ParseServerMessage(typ == websocket.MessageBinary, b)
		if err != nil {
			c.log.Warn("voice gateway: unparsable frame ignored", "err", err)
			continue
		}
		if m.Seq >= 0 {
			c.lastSq.Store(int64(m.Seq))
		}
		switch m.Op {
		case wire.OpHello:
			var h wire.Hello
			if err := m.Decode(&h); err != nil || h.HeartbeatInterval <= 0 {
				return wire.Message{}, fmt.Errorf("voice: bad hello: %v", err)
			}
			s.hbOnce.Do(func() {
				c.tasks.Go(func() { c.heartbeat(s, time.Duration(h.HeartbeatInterval*float64(time.Millisecond))) })
			})
		case wire.OpHeartbeatACK:
			s.missed.Store(0)
		case wire.OpSpeaking:
			var sp wire.Speaking
			if err := m.Decode(&sp); err == nil && sp.UserID != "" {
				c.mapSSRC(sp.SSRC, sp.UserID)
			}
		case wire.OpClientDisconnect:
			var d wire.ClientDisconnect
			if err := m.Decode(&d); err == nil {
				c.recvMu.Lock()
				for k, u := range c.ssrcUsers {
					if u == d.UserID {
						delete(c.ssrcUsers, k)
					}
				}
				c.recvMu.Unlock()
				c.ears.leave(d.UserID, time.Now())
			}
		}
		if e := c.cfg.E2EE; e != nil && (m.Op == wire.OpReady || m.Op == wire.OpSessionDescription || m.Op == wire.OpClientsConnect || m.Op == wire.OpClientDisconnect || m.Op.IsDAVE()) {
			if err := e.HandleMessage(ctx, m, c); err != nil {
				c.log.Warn("voice e2ee: message not handled", "op", m.Op.String(), "err", err)
			}
		}
		return m, nil
	}
}

// heartbeat sends op 3 every interval; three unanswered beats close the
// socket, which the run loop turns into a resume.
func (c *Conn) heartbeat(s *session, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if s.missed.Add(1) > 3 {
			c.log.Warn("voice gateway: heartbeats unanswered, reconnecting")
			s.cancel()
			return
		}
		m, _ := wire.NewMessage(wire.OpHeartbeat, wire.Heartbeat{T: time.Now().UnixMilli(), SeqAck: int(c.lastSq.Load())})
		if err := c.writeWS(s.ctx, s.ws, m); err != nil {
			return
		}
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
		}
	}
}

// run owns the gateway after Dial: it reads until the socket ends, then
// resumes, starts a new session or stops according to the close code.
func (c *Conn) run(s *session) {
	defer func() {
		defer c.ears.closeTurns(time.Now())
		c.mu.Lock()
		link := c.udp
		c.ws, c.udp, c.cipher = nil, nil, nil
		c.mu.Unlock()
		if link != nil {
			link.cancel()
			link.conn.Close()
		}
	}()
	for {
		var err error
		for err == nil {
			_, err = c.readMsg(s.ctx, s)
		}
		s.cancel()
		if c.ctx.Err() != nil || c.closing.Load() {
			return
		}
		c.mu.Lock()
		c.ws, c.endSess = nil, nil
		ns := c.newServer
		c.newServer = nil
		c.mu.Unlock()

		action := wire.ActionResume
		var ce *CloseError
		switch {
		case ns != nil:
			c.mu.Lock()
			c.server = *ns
			c.mu.Unlock()
			action = wire.ActionNewSession
			ce = nil
		default:
			ce = closeErrorFrom(err)
			action = ce.Action
		}
		c.log.Info("voice gateway closed", "code", int(closeCodeOf(ce)), "action", action.String())
		s, err = c.recover(action, ce, ns != nil)
		if err != nil {
			c.finish(err)
			return
		}
	}
}

func closeCodeOf(ce *CloseError) websocket.StatusCode {
	if ce == nil {
		return 0
	}
	return ce.Code
}

// recover re-establishes the gateway after a close: resume with a few
// retries, escalating to a new session when the server refuses.
func (c *Conn) recover(action wire.Action, ce *CloseError, haveCreds bool) (*session, error) {
	backoff := []time.Duration{0, 100 * time.Millisecond, 500 * time.Millisecond, time.Second, 2 * time.Second}
	var resumeErr error
	if action == wire.ActionResume {
		for _, d := range backoff {
			if err := sleepCtx(c.ctx, d); err != nil {
				return nil, ErrClosed
			}
			s, err := c.connect(c.ctx, true)
			if err == nil {
				return s, nil
			}
			resumeErr = err
			c.log.Warn("voice gateway: resume failed", "err", err)
			var rce *CloseError
			if errors.As(err, &rce) {
				if rce.Action == wire.ActionStop {
					return nil, rce
				}
				if rce.Action == wire.ActionNewSession {
					ce = rce
					break
				}
			}
		}
		action = wire.ActionNewSession
	}
	if action == wire.ActionStop {
		return nil, ce
	}
	for _, d := range backoff {
		if err := sleepCtx(c.ctx, d); err != nil {
			return nil, ErrClosed
		}
		if !haveCreds {
			if c.cfg.Rejoin == nil {
				switch {
				case ce != nil && ce.Action == wire.ActionNewSession:
					return nil, ce
				case resumeErr != nil:
					return nil, fmt.Errorf("voice: resume failed and no Rejoin is configured: %w", resumeErr)
				}
				return nil, errors.New("voice: new session failed and no Rejoin is configured")
			}
			srv, err := c.cfg.Rejoin(c.ctx)
			if err != nil {
				return nil, fmt.Errorf("voice: rejoin: %w", err)
			}
			c.mu.Lock()
			c.server = srv
			c.mu.Unlock()
		}
		s, err := c.connect(c.ctx, false)
		if err == nil {
			return s, nil
		}
		c.log.Warn("voice gateway: new session failed", "err", err)
		haveCreds = false
		var rce *CloseError
		if errors.As(err, &rce) && rce.Action == wire.ActionStop {
			return nil, rce
		}
	}
	return nil, errors.New("voice: gave up reconnecting")
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func (c *Conn) openUDP(ctx context.Context, r wire.Ready) (*udpLink, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, "udp", net.JoinHostPort(r.IP, strconv.Itoa(r.Port)))
	if err != nil {
		return nil, fmt.Errorf("voice: udp: %w", err)
	}
	return &udpLink{conn: nc.(*net.UDPConn), ssrc: r.SSRC}, nil
}

// discover runs IP discovery on conn (retrying: UDP may lose the request).
func discover(ctx context.Context, conn *net.UDPConn, ssrc uint32) (netip.AddrPort, error) {
	req, _ := wire.Discovery{SSRC: ssrc}.Marshal()
	buf := make([]byte, 1500)
	for attempt := 0; attempt < 5; attempt++ {
		if ctx.Err() != nil {
			break
		}
		if _, err := conn.Write(req); err != nil {
			return netip.AddrPort{}, fmt.Errorf("voice: ip discovery: %w", err)
		}
		deadline := time.Now().Add(time.Second)
		if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
			deadline = d
		}
		conn.SetReadDeadline(deadline)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				break // timeout: send again
			}
			var resp wire.Discovery
			if resp.Unmarshal(buf[:n]) == nil && resp.Response && resp.SSRC == ssrc {
				conn.SetReadDeadline(time.Time{})
				return resp.Addr, nil
			}
		}
	}
	return netip.AddrPort{}, errors.New("voice: ip discovery: no response")
}

// startUDP starts the link's reader and keepalive goroutines.
func (c *Conn) startUDP(link *udpLink, ci *wire.Cipher) {
	ctx, cancel := context.WithCancel(c.ctx)
	link.cancel = cancel
	context.AfterFunc(ctx, func() { link.conn.Close() })
	c.tasks.Go(func() { c.keepalive(ctx, link) })
	c.tasks.Go(func() { c.receive(ctx, link, ci) })
}

// keepalive sends an 8-byte datagram every 5 s, as Discord's clients do, so
// NAT mappings stay open while nothing is spoken.
func (c *Conn) keepalive(ctx context.Context, link *udpLink) {
	t := time.NewTicker(5 * time.Second)
	defer t.Stop()
	var b [8]byte
	for n := uint32(0); ; n++ {
		binary.LittleEndian.PutUint32(b[:], n)
		if _, err := link.conn.Write(b[:]); err != nil && ctx.Err() != nil {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
