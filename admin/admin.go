// Package admin serves livecord's operator endpoints: /healthz for liveness
// and readiness checks and /metrics in the Prometheus text format. It listens
// on loopback by default because neither endpoint needs to face the internet.
package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// DefaultAddr is where the admin listener binds unless configured otherwise.
const DefaultAddr = "127.0.0.1:9464"

// Check reports one dependency's health; a nil error means healthy.
type Check func(ctx context.Context) error

// Metrics holds every series livecord exports. The zero value is not usable;
// create one with NewMetrics.
type Metrics struct {
	Registry *prometheus.Registry

	// Turns counts finished /ask turns by outcome ("ok", "error", "interrupted", "cancelled").
	Turns *prometheus.CounterVec
	// Errors counts failures by class (Live error classes, "discord", "voice", …).
	Errors *prometheus.CounterVec
	// DeferLatency is the time from receiving an interaction to its deferred answer.
	DeferLatency prometheus.Histogram
	// FirstAudioLatency is the time from sending a prompt to Live's first audio chunk.
	FirstAudioLatency prometheus.Histogram
	// FirstPacketLatency is the time from Live's first audio chunk to the first RTP packet.
	FirstPacketLatency prometheus.Histogram
	// TurnDuration is the wall time of a whole turn.
	TurnDuration prometheus.Histogram
	// ReplyAudio is the length of spoken replies in seconds.
	ReplyAudio prometheus.Histogram
	// VoiceConnections is the number of open voice connections.
	VoiceConnections prometheus.Gauge
	// LiveSessions is the number of open Gemini Live sessions.
	LiveSessions prometheus.Gauge
	// QueuedTurns is the number of turns waiting in conversation queues.
	QueuedTurns prometheus.Gauge
	// Conversations is the number of conversations held in memory (busy or
	// not yet idle; an idle one is dropped and resumed from its stored handle).
	Conversations prometheus.Gauge
	// Tokens counts recorded Live tokens by model, direction ("prompt",
	// "response") and modality ("text", "audio", "other", "thoughts"); no
	// per-guild labels (those are in the store, /usage).
	Tokens *prometheus.CounterVec

	// ListeningChannels is the number of voice channels the bot listens in (/talk).
	ListeningChannels prometheus.Gauge
	// SpeechTurns counts spoken exchanges by outcome ("ok", "interrupted", "gated", "error").
	SpeechTurns *prometheus.CounterVec
	// BargeIns counts replies cut by someone speaking, by who noticed first
	// ("local": the voiced-onset gate; "live": the service's interrupted).
	BargeIns *prometheus.CounterVec
	// Received counts the voice receive path's packets by what happened to
	// them (voice.ReceiveStats: "datagrams", "undecryptable", "e2ee_failed", …).
	Received *prometheus.CounterVec
}

// NewMetrics registers livecord's series, plus Go runtime and process
// collectors, on a fresh registry (never the global one, so tests and
// several bots in one process do not collide).
func NewMetrics() *Metrics {
	r := prometheus.NewRegistry()
	r.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	// Latency buckets span a fast local path (ms) to a slow remote model (s).
	lat := []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}
	m := &Metrics{
		Registry: r,
		Turns: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "livecord_turns_total", Help: "Finished /ask turns by outcome.",
		}, []string{"outcome"}),
		Errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "livecord_errors_total", Help: "Errors by class.",
		}, []string{"class"}),
		DeferLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "livecord_defer_latency_seconds", Help: "Interaction received to deferred answer sent.", Buckets: lat,
		}),
		FirstAudioLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "livecord_first_audio_latency_seconds", Help: "Prompt sent to the first Live audio chunk.", Buckets: lat,
		}),
		FirstPacketLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "livecord_first_packet_latency_seconds", Help: "First Live audio chunk to the first RTP packet sent.", Buckets: lat,
		}),
		TurnDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "livecord_turn_duration_seconds", Help: "Wall time of a whole turn.", Buckets: []float64{.5, 1, 2, 5, 10, 20, 30, 60, 120, 300},
		}),
		ReplyAudio: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "livecord_reply_audio_seconds", Help: "Length of spoken replies.", Buckets: []float64{1, 2, 5, 10, 20, 30, 60, 120, 300},
		}),
		VoiceConnections: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "livecord_voice_connections", Help: "Open Discord voice connections.",
		}),
		LiveSessions: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "livecord_live_sessions", Help: "Open Gemini Live sessions.",
		}),
		QueuedTurns: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "livecord_queued_turns", Help: "Turns waiting in conversation queues.",
		}),
		Conversations: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "livecord_conversations", Help: "Conversations held in memory (dropped after the idle timeout).",
		}),
		Tokens: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "livecord_tokens_total", Help: "Live tokens of recorded turns by model, direction and modality.",
		}, []string{"model", "direction", "modality"}),
	}
	m.ListeningChannels = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "livecord_listening_channels", Help: "Voice channels the bot listens in (/talk).",
	})
	m.SpeechTurns = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "livecord_speech_turns_total", Help: "Spoken exchanges by outcome.",
	}, []string{"outcome"})
	m.BargeIns = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "livecord_barge_ins_total", Help: "Spoken replies cut by someone speaking, by who noticed first.",
	}, []string{"by"})
	m.Received = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "livecord_voice_received_total", Help: "Voice receive path packets by what happened to them.",
	}, []string{"what"})
	r.MustRegister(m.Turns, m.Errors, m.DeferLatency, m.FirstAudioLatency, m.FirstPacketLatency,
		m.TurnDuration, m.ReplyAudio, m.VoiceConnections, m.LiveSessions, m.QueuedTurns, m.Conversations, m.Tokens,
		m.ListeningChannels, m.SpeechTurns, m.BargeIns, m.Received)
	// Pre-create the common label values so a scrape shows the series at zero
	// before the first event: dashboards and alerts then see a flat line, not "no data".
	for _, o := range []string{"ok", "error", "interrupted", "cancelled"} {
		m.Turns.WithLabelValues(o)
	}
	return m
}

// Server is the admin HTTP listener.
type Server struct {
	srv     *http.Server
	ln      net.Listener
	log     *slog.Logger
	mu      sync.Mutex
	checks  map[string]Check
	timeout time.Duration
	done    chan struct{}
	err     error
}

// Listen binds addr (DefaultAddr when empty) and starts serving m's metrics
// and the health checks added with AddCheck. Close stops it.
func Listen(addr string, m *Metrics, log *slog.Logger) (*Server, error) {
	if addr == "" {
		addr = DefaultAddr
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("admin: listen %s: %w", addr, err)
	}
	s := &Server{ln: ln, log: log, checks: map[string]Check{}, timeout: 2 * time.Second, done: make(chan struct{})}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}))
	mux.HandleFunc("GET /healthz", s.healthz)
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		defer close(s.done)
		if err := s.srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			s.err = err
		}
	}()
	return s, nil
}

// Addr is the address the listener is bound to (useful with port 0).
func (s *Server) Addr() string { return s.ln.Addr().String() }

// AddCheck registers a named health check run on every /healthz request.
func (s *Server) AddCheck(name string, c Check) {
	s.mu.Lock()
	s.checks[name] = c
	s.mu.Unlock()
}

type checkResult struct {
	Name  string `json:"name"`
	OK    bool   `json:"ok"`
	Error string `json:"error,omitempty"`
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	names := make([]string, 0, len(s.checks))
	for n := range s.checks {
		names = append(names, n)
	}
	checks := make(map[string]Check, len(s.checks))
	for k, v := range s.checks {
		checks[k] = v
	}
	s.mu.Unlock()
	sort.Strings(names)

	ctx, cancel := context.WithTimeout(r.Context(), s.timeout)
	defer cancel()
	// Checks run concurrently so one slow dependency does not hide the others.
	results := make([]checkResult, len(names))
	var wg sync.WaitGroup
	for i, n := range names {
		wg.Go(func() {
			err := checks[n](ctx)
			results[i] = checkResult{Name: n, OK: err == nil}
			if err != nil {
				results[i].Error = err.Error()
			}
		})
	}
	wg.Wait()
	status := http.StatusOK
	for _, res := range results {
		if !res.OK {
			status = http.StatusServiceUnavailable
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(struct {
		OK     bool          `json:"ok"`
		Checks []checkResult `json:"checks"`
	}{status == http.StatusOK, results})
}

// Close shuts the listener down, waiting up to ctx for in-flight requests.
func (s *Server) Close(ctx context.Context) error {
	err := s.srv.Shutdown(ctx)
	<-s.done
	if err != nil {
		return fmt.Errorf("admin: shutdown: %w", err)
	}
	if s.err != nil {
		return fmt.Errorf("admin: serve: %w", s.err)
	}
	return nil
}
