// Package livetest is an in-process emulator of the Gemini Live service
// (BidiGenerateContent over WebSocket) for tests and offline runs.
//
// It is faithful to the wire format the real service speaks: any path ending
// in /ws/google.ai.generativelanguage.{v1,v1beta,v1alpha}.GenerativeService.
// BidiGenerateContent[Constrained] (including the official JS SDK's "//ws/"
// form), the four credential forms, strict proto-JSON parsing with the real
// close codes and reasons, binary frames of pretty-printed JSON, audio
// streamed faster than real time in 240 ms chunks with interleaved
// transcription, generationComplete, turnComplete with usage, resumption
// handles, interruption by a new turn, and goAway followed by close 1011.
//
// Replies are scripted per turn (Script, Respond); the default reply is
// Speak(prompt), a deterministic synthetic voice. Faults (close, stall, drop,
// goAway) are injected per reply; RejectSetup, StallSetup, GoAway,
// ExpireHandles and Options.Lifetime act on connections and sessions.
//
// A turn is text (clientContent with turnComplete, or realtimeInput.text)
// or speech: realtimeInput audio in which the emulator detects activity from
// the audio's energy (see listen.go for the thresholds), interrupting the
// reply in progress when speech starts and answering when it ends or on
// audioStreamEnd, with inputTranscription of phrases a test registered with
// Hear. clientContent without turnComplete is added to the next turn's
// prompt. Video input, tool responses and contextUpdate are validated and
// otherwise ignored.
package livetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/livecord/livecord/internal/tb"

	"github.com/coder/websocket"

	"github.com/livecord/livecord/internal/tasks"
)

// Credentials the emulator accepts unless Options say otherwise.
const (
	DefaultKey   = "livetest-key"
	DefaultToken = "auth_tokens/livetest-token"
)

// defaultModels maps the model ids the emulator knows to the one response
// modality each accepts (late-2026 Gemini API). Retired ids such as
// gemini-2.0-flash-live-001 are absent, so they fail with 1008 as they do
// on the real service.
var defaultModels = map[string]string{
	"gemini-3.8-live":                               "AUDIO",
	"gemini-3.8-live-extended-thinking":             "AUDIO",
	"gemini-3.1-flash-live-preview":                 "AUDIO",
	"gemini-2.5-flash-native-audio-preview-12-2025": "AUDIO",
	"gemini-3.5-live-translate-preview":             "AUDIO",
	"gemini-3.5-transcribe-live":                    "TEXT",
}

// Options configure a Server. The zero value is ready to use.
type Options struct {
	// Addr to listen on (default "127.0.0.1:0").
	Addr string
	// Key is the accepted API key (default DefaultKey).
	Key string
	// Token is the accepted ephemeral token (default DefaultToken).
	Token string
	// Speed is how many times faster than real time audio is streamed
	// (default 20); +Inf streams without pauses.
	Speed float64
	// Models maps model ids (without "models/") to the one response
	// modality each accepts, "AUDIO" or "TEXT". Default: gemini-3.8-live,
	// gemini-3.8-live-extended-thinking, gemini-3.1-flash-live-preview,
	// gemini-2.5-flash-native-audio-preview-12-2025 and
	// gemini-3.5-live-translate-preview (AUDIO), gemini-3.5-transcribe-live
	// (TEXT).
	Models map[string]string
	// Lifetime, if set, ends every connection like the service does after
	// about ten minutes: goAway with a notice of Lifetime/10 (at most 50 s),
	// then close 1011 at Lifetime.
	Lifetime time.Duration
	// Logger gets one record per connection and protocol error.
	Logger *slog.Logger
}

// ConnInfo describes one accepted connection.
type ConnInfo struct {
	Path       string // request path as sent, e.g. "//ws/google.ai…"
	APIVersion string
	Credential string // "key", "x-goog-api-key", "access_token" or "authorization"
}

// Server is a running emulator.
type Server struct {
	// Key and Token are the credentials it accepts.
	Key, Token string

	opts   Options
	ln     net.Listener
	hs     *http.Server
	ctx    context.Context
	cancel context.CancelFunc
	tasks  tasks.Group // the HTTP server and connection handlers

	mu        sync.Mutex
	closed    bool
	responder Responder
	script    []Reply
	rejects   []rejection
	lastSetup json.RawMessage
	seeded    []seeding
	seen      []string
	issued    []string
	prompts   []string
	conns     []ConnInfo
	sessions  map[string]*session // by issued handle
	phrases   []phrase
	live      map[*emuConn]struct{}

	callSeq     int
	toolResults []FunctionResult
}

type rejection struct {
	code   int
	reason string
	stall  bool
}

// session is the server side of a conversation; it outlives connections.
type session struct {
	mu      sync.Mutex
	history []Exchange
	expired bool
}

// New starts an emulator. Close it when done.
func New(opts Options) (*Server, error) {
	if opts.Addr == "" {
		opts.Addr = "127.0.0.1:0"
	}
	if opts.Key == "" {
		opts.Key = DefaultKey
	}
	if opts.Token == "" {
		opts.Token = DefaultToken
	}
	if opts.Speed == 0 {
		opts.Speed = 20
	}
	if opts.Models == nil {
		opts.Models = defaultModels
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	ln, err := net.Listen("tcp", opts.Addr)
	if err != nil {
		return nil, fmt.Errorf("livetest: listen: %w", err)
	}
	s := &Server{Key: opts.Key, Token: opts.Token, opts: opts, ln: ln,
		sessions: map[string]*session{}, live: map[*emuConn]struct{}{}}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	// Our own handler, not a ServeMux: the JS SDK's "//ws/…" path would get a
	// redirect from ServeMux, which WebSocket clients don't follow.
	s.hs = &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second,
		BaseContext: func(net.Listener) context.Context { return s.ctx }}
	s.tasks.Go(func() {
		if err := s.hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			opts.Logger.Error("livetest: serve", "err", err)
		}
	})
	return s, nil
}

// NewServer starts an emulator for a test and closes it at cleanup.
func NewServer(t tb.T, o Options) *Server {
	t.Helper()
	s, err := New(o)
	if err != nil {
		t.Fatalf("livetest: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// URL is the base URL to use as GEMINI_BASE_URL or the SDK's
// httpOptions.baseUrl, e.g. "http://127.0.0.1:41234".
func (s *Server) URL() string { return "http://" + s.ln.Addr().String() }

// Close stops the server and every connection, and waits for them.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	s.cancel()
	err := s.hs.Close()
	s.tasks.Close()
	return err
}

// Script queues replies for the next turns, in order, across connections;
// when the queue is empty the responder (default Speak) answers.
func (s *Server) Script(replies ...Reply) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.script = append(s.script, replies...)
}

// Respond sets the responder used when no scripted reply is queued; nil
// restores the default.
func (s *Server) Respond(r Responder) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.responder = r
}

// RejectSetup makes the next setup fail with close code and reason (for
// example 1011 with a quota message).
func (s *Server) RejectSetup(code int, reason string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rejects = append(s.rejects, rejection{code: code, reason: reason})
}

// StallSetup makes the next setup go unanswered: no setupComplete, no
// close, until the client gives up.
func (s *Server) StallSetup() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rejects = append(s.rejects, rejection{stall: true})
}

// ExpireHandles invalidates every session resumed or resumable so far (all
// its handles, including those it issues later), as the service
// does two hours after a session ends: resuming with one fails with 1008
// "BidiGenerateContent session not found".
func (s *Server) ExpireHandles() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, sess := range s.sessions {
		sess.mu.Lock()
		sess.expired = true // also the handles it is still to issue
		sess.mu.Unlock()
	}
}

// GoAway sends goAway{timeLeft} on every open connection and closes each
// with 1011 once timeLeft has passed, as the service does near its
// ten-minute connection limit.
func (s *Server) GoAway(timeLeft time.Duration) {
	s.mu.Lock()
	conns := make([]*emuConn, 0, len(s.live))
	for c := range s.live {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.goAway(timeLeft)
	}
}

// LastSetup returns the most recent valid setup received, re-encoded with
// camelCase names (nil before any).
func (s *Server) LastSetup() json.RawMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastSetup
}

// SeedTurn is one turn of initial history a client seeded.
type SeedTurn struct {
	Role string // "user" or "model"
	Text string
}

type seeding struct {
	conn  *emuConn
	turns []SeedTurn
}

// Seeded returns the initial history each connection seeded (clientContent
// before its first turn, accepted under historyConfig), one entry per
// connection that seeded any, in order.
func (s *Server) Seeded() [][]SeedTurn {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([][]SeedTurn, len(s.seeded))
	for i, sd := range s.seeded {
		out[i] = append([]SeedTurn(nil), sd.turns...)
	}
	return out
}

// HandlesSeen returns the resumption handles clients presented in setup,
// in order (valid or not).
func (s *Server) HandlesSeen() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.seen...)
}

// HandlesIssued returns the handles the emulator sent, in order.
func (s *Server) HandlesIssued() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.issued...)
}

// Prompts returns the text of every turn received, in order.
func (s *Server) Prompts() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.prompts...)
}

// Conns describes every accepted WebSocket connection, in order.
func (s *Server) Conns() []ConnInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]ConnInfo(nil), s.conns...)
}

var routeRE = regexp.MustCompile(`/ws/google\.ai\.generativelanguage\.(v1|v1beta|v1alpha)\.GenerativeService\.(BidiGenerateContent|BidiGenerateContentConstrained)$`)

// ServeHTTP routes any path ending in the Live method, whatever its prefix.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	m := routeRE.FindStringSubmatch(r.URL.Path)
	if m == nil {
		http.Error(w, "404 page not found", http.StatusNotFound)
		return
	}
	info := ConnInfo{Path: r.URL.Path, APIVersion: m[1]}
	authErr := s.authenticate(r, m[2] == "BidiGenerateContentConstrained", &info)
	if !s.tasks.Enter() {
		http.Error(w, "shutting down", http.StatusServiceUnavailable)
		return
	}
	defer s.tasks.Leave()
	ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{InsecureSkipVerify: true})
	if err != nil {
		s.opts.Logger.Warn("livetest: accept", "err", err)
		return
	}
	ws.SetReadLimit(16 << 20)
	c := &emuConn{srv: s, ws: ws, info: info, authErr: authErr}
	c.ctx, c.cancel = context.WithCancel(s.ctx)
	s.mu.Lock()
	s.conns = append(s.conns, info)
	s.live[c] = struct{}{}
	s.mu.Unlock()
	c.run()
	s.mu.Lock()
	delete(s.live, c)
	s.mu.Unlock()
}

// authenticate checks the credential; the real service accepts the upgrade
// either way and reports a bad credential by closing after setup.
func (s *Server) authenticate(r *http.Request, constrained bool, info *ConnInfo) *rejection {
	q := r.URL.Query()
	var got string
	switch {
	case constrained && q.Get("access_token") != "":
		got, info.Credential = q.Get("access_token"), "access_token"
	case constrained && strings.HasPrefix(r.Header.Get("Authorization"), "Token "):
		got, info.Credential = strings.TrimPrefix(r.Header.Get("Authorization"), "Token "), "authorization"
	case !constrained && q.Get("key") != "":
		got, info.Credential = q.Get("key"), "key"
	case !constrained && r.Header.Get("x-goog-api-key") != "":
		got, info.Credential = r.Header.Get("x-goog-api-key"), "x-goog-api-key"
	default:
		return &rejection{code: 1008, reason: "Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API."}
	}
	if constrained && got != s.Token {
		return &rejection{code: 1008, reason: "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential."}
	}
	if !constrained && got != s.Key {
		return &rejection{code: 1007, reason: "API key not valid. Please pass a valid API key."}
	}
	return nil
}

// nextReply picks the scripted reply or asks the responder.
func (s *Server) nextReply(req Request) Reply {
	s.mu.Lock()
	s.prompts = append(s.prompts, req.Prompt)
	if len(s.script) > 0 {
		r := s.script[0]
		s.script = s.script[1:]
		s.mu.Unlock()
		return r
	}
	resp := s.responder
	s.mu.Unlock()
	if resp == nil {
		return Reply{}
	}
	return resp(req)
}

func (s *Server) newHandle(sess *session) string {
	var b [16]byte
	rand.Read(b[:])
	h := hex.EncodeToString(b[:])
	h = h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
	s.mu.Lock()
	s.sessions[h] = sess
	s.issued = append(s.issued, h)
	s.mu.Unlock()
	return h
}

// formatDuration writes a protobuf Duration ("50s", "0.1s").
func formatDuration(d time.Duration) string {
	return fmt.Sprintf("%gs", math.Round(d.Seconds()*1000)/1000)
}
