package live

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/livecord/livecord/live/internal/wire"
)

// Defaults used when a Config field is empty.
const (
	DefaultModel        = "gemini-3.8-live"
	DefaultAPIVersion   = "v1beta"
	DefaultBaseURL      = "https://generativelanguage.googleapis.com"
	DefaultStallTimeout = 30 * time.Second
	// DefaultConnectTimeout bounds connect + WebSocket upgrade + setup.
	DefaultConnectTimeout = 10 * time.Second
	// DefaultTurnTimeout bounds a whole turn, however steadily the server
	// sends: a reply as long as DefaultMaxReply streamed at real time fits.
	DefaultTurnTimeout = 11 * time.Minute
	// DefaultMaxReply caps one reply's audio (28.8 MB of 24 kHz PCM16).
	DefaultMaxReply = 10 * time.Minute
)

// Modality is the kind of reply the model produces.
type Modality string

// Response modalities. Current Live models only allow Audio; Text is for the
// models that still accept it.
const (
	Audio Modality = "AUDIO"
	Text  Modality = "TEXT"
)

// Config describes a Live session. Only APIKey is required.
type Config struct {
	// APIKey is a Gemini API key, or an ephemeral token ("auth_tokens/…").
	APIKey string
	// Model is the model id without "models/" (default DefaultModel).
	Model string
	// APIVersion is v1beta (default), v1alpha or v1.
	APIVersion string
	// BaseURL replaces https://generativelanguage.googleapis.com, with the
	// same meaning as the official SDK's GOOGLE_GEMINI_BASE_URL (http/https
	// become ws/wss; a path prefix is kept).
	BaseURL string
	// Voice is a prebuilt voice name such as "Kore" (empty: the model's).
	Voice string
	// Language is a BCP-47 code such as "en-US" (empty: the model's choice).
	Language string
	// SystemInstruction is sent as the setup's systemInstruction.
	SystemInstruction string

	// Modality selects Audio (default when empty) or Text replies.
	Modality Modality
	// InputTranscription asks for transcripts of the user's audio.
	InputTranscription bool
	// OutputTranscription asks for transcripts of the model's audio.
	OutputTranscription bool
	// Compression enables contextWindowCompression (sliding window), which
	// lifts the 15-minute session limit.
	Compression bool
	// Handle resumes an earlier session from this resumption handle.
	Handle string
	// History seeds a new session (one without Handle) with earlier turns,
	// oldest first: the setup carries historyConfig
	// (initialHistoryInClientContent) and the turns go as one clientContent
	// without turnComplete right after setupComplete, before the first
	// Send. Ignored when resuming: the handle holds the context.
	History []HistoryTurn
	// StallTimeout fails a turn when no server message arrives for this long
	// (default DefaultStallTimeout).
	StallTimeout time.Duration

	// ConnectTimeout bounds each connection's TCP/TLS connect, WebSocket
	// upgrade and setupComplete together, whatever the caller's context
	// allows (default DefaultConnectTimeout). No upgrade answer in time is
	// ClassUnreachable; no setupComplete in time is ClassTimeout.
	ConnectTimeout time.Duration
	// TurnTimeout bounds a turn from Send (or, for a turn the server
	// starts, from its first message) to turnComplete, even if the server
	// keeps sending (default DefaultTurnTimeout). Past it the turn fails
	// with ClassTimeout and the connection is dropped.
	TurnTimeout time.Duration
	// MaxReply caps a reply's audio (and its text at 1 MiB); default
	// DefaultMaxReply. What passes it
	// ends the turn with ClassTooLong after the audio up to the cap, and
	// the connection is dropped, so a server flooding audio cannot make the
	// client buffer without bound.
	MaxReply time.Duration
	// GoogleSearch offers Google Search to the model (grounding); the
	// sources it used arrive as EventGrounding and in Turn.Sources.
	GoogleSearch bool
	// Tools are the functions the model may call (EventToolCall; answer with
	// Session.Respond).
	Tools []FunctionDeclaration
	// Realtime, when set, enables streamed input (Session.SendAudio) and
	// turns the server starts on its own (Session.NextTurn).
	Realtime *Realtime

	// HTTPClient performs the WebSocket handshake (default: a client whose
	// connect, TLS handshake and response-header waits are bounded by
	// ConnectTimeout).
	HTTPClient *http.Client
	// Logger receives debug and warning records (default: discarded). The
	// API key never reaches it.
	Logger *slog.Logger
}

// Validate reports the first field Dial would refuse: the base URL's
// scheme, the API version, the model name, the modality or a negative
// stall timeout. Empty fields are valid (Dial fills in the defaults); a
// missing APIKey is left to Dial, which names it.
func (c Config) Validate() error {
	if c.StallTimeout < 0 {
		return fmt.Errorf("live: stall timeout %v is negative", c.StallTimeout)
	}
	for i, h := range c.History {
		if h.Role != "user" && h.Role != "model" {
			return fmt.Errorf("live: history turn %d has role %q, not user or model", i, h.Role)
		}
	}
	switch c.Modality {
	case "", Audio, Text:
	default:
		return fmt.Errorf("live: modality %q is not AUDIO or TEXT", c.Modality)
	}
	if _, _, err := c.withDefaults().endpoint(); err != nil {
		return fmt.Errorf("live: %w", err)
	}
	return nil
}

// withDefaults returns c with empty fields filled in.
func (c Config) withDefaults() Config {
	if c.Model == "" {
		c.Model = DefaultModel
	}
	c.Model = strings.TrimPrefix(c.Model, "models/")
	if c.APIVersion == "" {
		c.APIVersion = DefaultAPIVersion
	}
	if c.BaseURL == "" {
		c.BaseURL = DefaultBaseURL
	}
	if c.Modality == "" {
		c.Modality = Audio
	}
	if c.StallTimeout <= 0 {
		c.StallTimeout = DefaultStallTimeout
	}
	if c.ConnectTimeout <= 0 {
		c.ConnectTimeout = DefaultConnectTimeout
	}
	if c.TurnTimeout <= 0 {
		c.TurnTimeout = DefaultTurnTimeout
	}
	if c.MaxReply <= 0 {
		c.MaxReply = DefaultMaxReply
	}
	if c.HTTPClient == nil {
		c.HTTPClient = dialClient(c.ConnectTimeout)
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// dialClient is an HTTP/1.1 client (a WebSocket upgrade needs one) whose
// every wait is bounded, so a dial never depends on the caller's context
// alone.
// Clients are shared per timeout: an idle Session must not hold a
// transport of its own.
func dialClient(d time.Duration) *http.Client {
	dialClients.Lock()
	defer dialClients.Unlock()
	if c, ok := dialClients.m[d]; ok {
		return c
	}
	c := &http.Client{Transport: &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: d, KeepAlive: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout:   d,
		ResponseHeaderTimeout: d,
		MaxIdleConns:          1,
		IdleConnTimeout:       time.Second,
	}}
	if len(dialClients.m) >= 8 {
		clear(dialClients.m)
	}
	dialClients.m[d] = c
	return c
}

var dialClients = struct {
	sync.Mutex
	m map[time.Duration]*http.Client
}{m: map[time.Duration]*http.Client{}}

// Realtime configures streamed input (realtimeInputConfig). The zero value
// keeps the service's automatic activity detection at its defaults; every
// setup asks that speech starting interrupts a reply
// (START_OF_ACTIVITY_INTERRUPTS).
type Realtime struct {
	// ManualActivity disables automatic activity detection: the caller
	// marks speech with Session.Activity.
	ManualActivity bool
	// StartSensitivity and EndSensitivity are "high" or "low" ("" leaves
	// the service default, high): how readily speech is taken to start or
	// to have ended.
	StartSensitivity, EndSensitivity string
	// PrefixPadding is how long speech must last before its start is
	// committed (prefixPaddingMs); SilenceDuration is how long silence must
	// last before speech is taken to have ended (silenceDurationMs). Zero
	// leaves the service default.
	PrefixPadding, SilenceDuration time.Duration
}

// ephemeral reports whether the credential is an ephemeral token.
func (c Config) ephemeral() bool { return strings.HasPrefix(c.APIKey, "auth_tokens/") }

// endpoint returns the WebSocket URL (without credentials) and the headers
// carrying them.
func (c Config) endpoint() (string, http.Header, error) {
	u, err := url.Parse(c.BaseURL)
	if err != nil {
		return "", nil, fmt.Errorf("base URL: %w", err)
	}
	switch u.Scheme {
	case "http", "ws":
		u.Scheme = "ws"
	case "https", "wss":
		u.Scheme = "wss"
	default:
		return "", nil, fmt.Errorf("base URL: unsupported scheme %q", u.Scheme)
	}
	switch c.APIVersion {
	case "v1", "v1beta", "v1alpha":
	default:
		return "", nil, fmt.Errorf("unsupported API version %q", c.APIVersion)
	}
	if r := c.Realtime; r != nil {
		for _, v := range []string{r.StartSensitivity, r.EndSensitivity} {
			if v != "" && v != "high" && v != "low" {
				return "", nil, fmt.Errorf("realtime: sensitivity %q is not \"high\" or \"low\"", v)
			}
		}
		if r.PrefixPadding < 0 || r.SilenceDuration < 0 {
			return "", nil, errors.New("realtime: negative prefix padding or silence duration")
		}
	}
	if strings.ContainsAny(c.Model, "?&/") || strings.Contains(c.Model, "..") {
		return "", nil, fmt.Errorf("invalid model name %q", c.Model)
	}
	method, h := "BidiGenerateContent", http.Header{}
	if c.ephemeral() {
		method = "BidiGenerateContentConstrained"
		h.Set("Authorization", "Token "+c.APIKey)
	} else {
		h.Set("x-goog-api-key", c.APIKey)
	}
	u.Path = strings.TrimRight(u.Path, "/") + "/ws/google.ai.generativelanguage." + c.APIVersion + ".GenerativeService." + method
	u.RawQuery, u.Fragment = "", ""
	h.Set("User-Agent", "livecord")
	return u.String(), h, nil
}

// setup builds the setup message; handle resumes a session when set.
func (c Config) setup(handle string) *wire.Setup {
	s := &wire.Setup{
		Model:             "models/" + c.Model,
		GenerationConfig:  &wire.GenerationConfig{ResponseModalities: []string{string(c.Modality)}},
		SessionResumption: &wire.SessionResumption{Handle: handle},
	}
	if c.Modality == Audio && (c.Voice != "" || c.Language != "") {
		sc := &wire.SpeechConfig{LanguageCode: c.Language}
		if c.Voice != "" {
			sc.VoiceConfig = &wire.VoiceConfig{PrebuiltVoiceConfig: &wire.PrebuiltVoiceConfig{VoiceName: c.Voice}}
		}
		s.GenerationConfig.SpeechConfig = sc
	}
	if c.SystemInstruction != "" {
		s.SystemInstruction = &wire.Content{Role: "user", Parts: []wire.Part{{Text: c.SystemInstruction}}}
	}
	if c.InputTranscription {
		s.InputAudioTranscription = &struct{}{}
	}
	if c.OutputTranscription && c.Modality == Audio {
		s.OutputAudioTranscription = &struct{}{}
	}
	if r := c.Realtime; r != nil {
		aad := &wire.AutomaticActivityDetection{Disabled: r.ManualActivity,
			PrefixPaddingMs: int(r.PrefixPadding / time.Millisecond), SilenceDurationMs: int(r.SilenceDuration / time.Millisecond)}
		if r.StartSensitivity != "" {
			aad.StartOfSpeechSensitivity = "START_SENSITIVITY_" + strings.ToUpper(r.StartSensitivity)
		}
		if r.EndSensitivity != "" {
			aad.EndOfSpeechSensitivity = "END_SENSITIVITY_" + strings.ToUpper(r.EndSensitivity)
		}
		s.RealtimeInputConfig = &wire.RealtimeInputConfig{AutomaticActivityDetection: aad,
			ActivityHandling: "START_OF_ACTIVITY_INTERRUPTS"}
	}
	if len(c.Tools) > 0 {
		s.Tools = append(s.Tools, wire.Tool{FunctionDeclarations: c.Tools})
	}
	if c.GoogleSearch {
		s.Tools = append(s.Tools, wire.Tool{GoogleSearch: &struct{}{}})
	}
	if c.Compression {
		s.ContextWindowCompression = &wire.ContextWindowCompression{SlidingWindow: &struct{}{}}
	}
	if handle == "" && len(c.History) > 0 {
		s.HistoryConfig = &wire.HistoryConfig{InitialHistoryInClientContent: true}
	}
	return s
}

// HistoryTurn is one earlier turn that seeds a new session.
type HistoryTurn struct {
	// Role is "user" (what was asked) or "model" (what was answered).
	Role string
	Text string
}

// history is the clientContent that seeds a new session, nil for none.
func (c Config) history(handle string) *wire.ClientMessage {
	if handle != "" || len(c.History) == 0 {
		return nil
	}
	cc := &wire.ClientContent{}
	for _, h := range c.History {
		cc.Turns = append(cc.Turns, wire.Content{Role: h.Role, Parts: []wire.Part{{Text: h.Text}}})
	}
	return &wire.ClientMessage{ClientContent: cc}
}
