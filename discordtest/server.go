// Package discordtest is an in-process Discord emulator: the REST API and the
// main gateway as bots use them (discordgo v0.29.0 and discord.js are both
// checked against it), plus a simulation API with which a test creates guilds,
// channels and users, seats users in voice channels, runs slash commands as a
// user would and waits for what the bot posted.
//
// Point a discordgo session at it by setting Session.Client to
// [Server.HTTPClient] (per session, no global endpoint changes): every REST
// request is rewritten to the emulator, whose /gateway answer names its own
// WebSocket. Other clients (discord.js) take [Server.URL]+"/api" as their base.
//
// The emulator enforces the rules a bot can break: the 3-second window for
// the first interaction response, one response per interaction, 2000-character
// contents, the interaction's attachment_size_limit, per-route rate limits
// (429 with Discord's headers and body), and bot authentication.
//
// An emulator made by NewServer also checks every REST request and its own
// response against Discord's OpenAPI description (package openapi): a
// request the client should not have sent, or an answer Discord would not
// give, fails the test with the method, path, JSON pointer and reason.
package discordtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/livecord/livecord/discordtest/openapi"
	"github.com/livecord/livecord/internal/tasks"
	"github.com/livecord/livecord/internal/tb"
)

// Options configures a Server. The zero value is usable.
type Options struct {
	// Token is the bot token REST and the gateway accept (without the "Bot "
	// prefix). Default "emulator-token".
	Token string
	// BotName is the bot user's name. Default "livecord".
	BotName string
	// CallbackWindow is how long after dispatch an interaction accepts its
	// first response. Default 3 s, as on Discord.
	CallbackWindow time.Duration
	// TokenLifetime is how long an interaction token accepts edits and
	// follow-ups. Default 15 min, as on Discord.
	TokenLifetime time.Duration
	// WebhookLimit and WebhookWindow bound requests per interaction token on
	// the webhook message routes (edits, follow-ups). Default 5 per 2 s.
	WebhookLimit  int
	WebhookWindow time.Duration
	// HeartbeatInterval is sent in Hello. Default 41.25 s.
	HeartbeatInterval time.Duration
	// VoiceServer answers a bot's op 4 join with the VOICE_SERVER_UPDATE
	// endpoint and token. Default: a fixed endpoint nobody listens on.
	VoiceServer VoiceServerFunc
	// VoiceLeft is told when a user's voice state leaves a channel (the bot's
	// op 4 to another channel or to none, or SetVoiceState), so a voice
	// emulator can end that user's voice connection with 4014 as Discord does.
	VoiceLeft VoiceLeftFunc
	// VoiceServerFirst sends an op 4 join's VOICE_SERVER_UPDATE before its
	// VOICE_STATE_UPDATE (Discord promises no order), and VoicePending
	// precedes it with one whose endpoint is null (a voice server still
	// being allocated: clients must wait for the next).
	VoiceServerFirst, VoicePending bool
	// Logger receives the emulator's own diagnostics. Default: discarded.
	Logger *slog.Logger
	// Spec, when set, checks every REST request and response against
	// Discord's OpenAPI description (see Server.Spec). NewServer sets it
	// and fails the test on any difference.
	Spec *openapi.Validator
	// AllowV9 accepts REST paths under /api/v9 and gateway connections
	// with v=9 (a bare discordgo session's defaults) without reporting
	// them; their bodies are still checked against the v10 description.
	// The bot itself must speak v10.
	AllowV9 bool
}

// VoiceServerFunc chooses the voice endpoint ("host:port") and token handed to
// a bot that joins channelID; sessionID is the bot's gateway session.
type VoiceServerFunc func(guildID, channelID, userID, sessionID string) (endpoint, token string)

// VoiceLeftFunc is told that userID left channelID's voice call in guildID.
type VoiceLeftFunc func(guildID, channelID, userID string)

// Server is a running emulator. Its methods are safe for concurrent use.
type Server struct {
	opts   Options
	ln     net.Listener
	srv    *http.Server
	base   string // http://127.0.0.1:port
	ctx    context.Context
	cancel context.CancelFunc
	tasks  tasks.Group // the HTTP server and gateway connections
	log    *slog.Logger
	// transport carries every client made by Transport; Close drops its
	// idle connections.
	transport *http.Transport

	mu      sync.Mutex
	changed chan struct{} // closed and replaced on every recorded change
	st      state
	limits  map[string]*bucket
	limited int           // 429 answers so far
	slow    time.Duration // SetRESTLatency
	resumes int           // op 6 answered with RESUMED
	conns   map[*gwConn]struct{}
	spec    specState
}

// NewServer starts an emulator for a test and closes it when the test ends.
func NewServer(t tb.T, o Options) *Server {
	t.Helper()
	if o.Spec == nil {
		o.Spec = specFor(t)
	}
	s, err := New(o)
	if err != nil {
		t.Fatalf("discordtest: %v", err)
	}
	t.Cleanup(func() { s.reportSpec(t) }) // after Close: cleanups run last first
	t.Cleanup(s.Close)
	return s
}

// New starts an emulator on a loopback port (for programs: `bot sandbox`);
// Close stops it. Tests use NewServer.
func New(o Options) (*Server, error) {
	if o.Token == "" {
		o.Token = "emulator-token"
	}
	o.Token = strings.TrimPrefix(o.Token, "Bot ")
	if o.BotName == "" {
		o.BotName = "livecord"
	}
	if o.CallbackWindow <= 0 {
		o.CallbackWindow = 3 * time.Second
	}
	if o.TokenLifetime <= 0 {
		o.TokenLifetime = 15 * time.Minute
	}
	if o.WebhookLimit <= 0 {
		o.WebhookLimit = 5
	}
	if o.WebhookWindow <= 0 {
		o.WebhookWindow = 2 * time.Second
	}
	if o.HeartbeatInterval <= 0 {
		o.HeartbeatInterval = 41250 * time.Millisecond
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{
		opts:      o,
		ln:        ln,
		base:      "http://" + ln.Addr().String(),
		ctx:       ctx,
		cancel:    cancel,
		log:       o.Logger,
		changed:   make(chan struct{}),
		limits:    map[string]*bucket{},
		conns:     map[*gwConn]struct{}{},
		transport: http.DefaultTransport.(*http.Transport).Clone(),
	}
	s.st.init(o.BotName)
	s.srv = &http.Server{Handler: s, BaseContext: func(net.Listener) context.Context { return ctx }}
	s.tasks.Go(func() { _ = s.srv.Serve(ln) })
	return s, nil
}

// Close stops the emulator, closing every gateway connection.
func (s *Server) Close() {
	s.cancel()
	_ = s.srv.Close()
	s.tasks.Close()
	s.transport.CloseIdleConnections()
}

// URL is the emulator's base URL (http://127.0.0.1:port); the REST API is
// under URL()+"/api" (any of /api, /api/v9, /api/v10).
func (s *Server) URL() string { return s.base }

// GatewayURL is the gateway's WebSocket URL, as /gateway answers.
func (s *Server) GatewayURL() string {
	return "ws" + strings.TrimPrefix(s.base, "http") + "/gateway-ws"
}

// Token is the bot token the emulator accepts (no "Bot " prefix).
func (s *Server) Token() string { return s.opts.Token }

// AppID is the application's (and the bot user's) ID.
func (s *Server) AppID() string { return s.st.bot.ID }

// BotUser is the bot's user.
func (s *Server) BotUser() User { return s.st.bot }

// SetVoiceServer replaces the VOICE_SERVER_UPDATE hook (for plugging in a
// voice emulator after the server started).
func (s *Server) SetVoiceServer(f VoiceServerFunc) {
	s.mu.Lock()
	s.opts.VoiceServer = f
	s.mu.Unlock()
}

// SetVoiceLeft replaces the VoiceLeft hook.
func (s *Server) SetVoiceLeft(f VoiceLeftFunc) {
	s.mu.Lock()
	s.opts.VoiceLeft = f
	s.mu.Unlock()
}

// Transport returns a RoundTripper that sends every request, whatever its
// host (discord.com included), to the emulator.
func (s *Server) Transport() http.RoundTripper {
	u, _ := url.Parse(s.base)
	return rewriter{host: u.Host, next: s.transport}
}

// HTTPClient returns an http.Client using Transport.
func (s *Server) HTTPClient() *http.Client {
	return &http.Client{Transport: s.Transport(), Timeout: 20 * time.Second}
}

type rewriter struct {
	host string
	next *http.Transport
}

// CloseIdleConnections lets http.Client.CloseIdleConnections reach the
// emulator's transport.
func (r rewriter) CloseIdleConnections() { r.next.CloseIdleConnections() }

func (r rewriter) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	req.URL.Scheme = "http"
	req.URL.Host = r.host
	req.Host = r.host
	return r.next.RoundTrip(req)
}

// RateLimited reports how many requests the emulator answered with 429.
func (s *Server) RateLimited() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.limited
}

// notifyLocked wakes every waiter; s.mu must be held.
func (s *Server) notifyLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// waitFor calls check under s.mu until it returns true or ctx ends.
func (s *Server) waitFor(ctx context.Context, check func() bool) error {
	for {
		s.mu.Lock()
		ok := check()
		ch := s.changed
		s.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		case <-s.ctx.Done():
			return errors.New("discordtest: server closed")
		}
	}
}

// apiError is Discord's JSON error body.
type apiError struct {
	status  int
	Message string          `json:"message"`
	Code    int             `json:"code"`
	Errors  json.RawMessage `json:"errors,omitempty"`
}

func (e *apiError) Error() string { return fmt.Sprintf("%d %s (code %d)", e.status, e.Message, e.Code) }

func errUnauthorized() *apiError {
	return &apiError{status: 401, Message: "401: Unauthorized", Code: 0}
}
func errNotFound() *apiError { return &apiError{status: 404, Message: "404: Not Found", Code: 0} }
func errUnknown(what string, code int) *apiError {
	return &apiError{status: 404, Message: "Unknown " + what, Code: code}
}
func errFormBody(field, code, msg string) *apiError {
	body, _ := json.Marshal(map[string]any{field: map[string]any{"_errors": []map[string]string{{"code": code, "message": msg}}}})
	return &apiError{status: 400, Message: "Invalid Form Body", Code: 50035, Errors: body}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = 500, []byte(`{"message":"500: Internal Server Error","code":0}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func writeError(w http.ResponseWriter, e *apiError) { writeJSON(w, e.status, e) }

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// bucket is a fixed-window rate limit, as Discord's headers describe it.
type bucket struct {
	id    string
	limit int
	win   time.Duration
	reset time.Time
	used  int
}

// take counts one request against key's bucket and writes the rate-limit
// headers; it reports false (after writing a 429) when the bucket is empty.
func (s *Server) take(w http.ResponseWriter, key string, limit int, win time.Duration) bool {
	now := time.Now()
	s.mu.Lock()
	b := s.limits[key]
	if b == nil {
		b = &bucket{id: randomHex(8), limit: limit, win: win}
		s.limits[key] = b
	}
	if !now.Before(b.reset) {
		b.used, b.reset = 0, now.Add(b.win)
	}
	ok := b.used < b.limit
	if ok {
		b.used++
	} else {
		s.limited++
	}
	remaining, after, reset := b.limit-b.used, b.reset.Sub(now), b.reset
	s.mu.Unlock()
	h := w.Header()
	h.Set("X-RateLimit-Limit", fmt.Sprint(limit))
	h.Set("X-RateLimit-Remaining", fmt.Sprint(remaining))
	h.Set("X-RateLimit-Reset", fmt.Sprintf("%.3f", float64(reset.UnixMilli())/1000))
	h.Set("X-RateLimit-Reset-After", fmt.Sprintf("%.3f", after.Seconds()))
	h.Set("X-RateLimit-Bucket", b.id)
	if ok {
		return true
	}
	h.Set("X-RateLimit-Scope", "user")
	h.Set("Retry-After", fmt.Sprint(int(after.Seconds())+1))
	writeJSON(w, http.StatusTooManyRequests, map[string]any{
		// The description's RatelimitedResponse requires code (the
		// prose docs' example has none): code 0, as on other errors.
		"message": "You are being rate limited.", "code": 0, "retry_after": after.Seconds(), "global": false,
	})
	return false
}
