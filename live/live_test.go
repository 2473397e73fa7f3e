package live_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/livecord/livecord/live"
	"github.com/livecord/livecord/live/livetest"
)

func TestMain(m *testing.M) {
	if os.Getenv(emulatorEnv) != "" {
		serveEmulator()
	}
	goleak.VerifyTestMain(m)
}

const prompt = "Hello? Gemini are you there?"

// syncBuf is a log sink shared by the client's goroutines.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func config(srv *livetest.Server, logs io.Writer) live.Config {
	c := live.Config{APIKey: srv.Key, BaseURL: srv.URL(), OutputTranscription: true, Compression: true,
		StallTimeout: 5 * time.Second}
	if logs != nil {
		c.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return c
}

func dial(t *testing.T, cfg live.Config) *live.Session {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := live.Dial(ctx, cfg)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// result is everything one turn produced.
type result struct {
	kinds      []live.EventKind
	audio      []byte
	transcript string
	text       string
	usage      live.Usage
	err        error
}

func (r result) has(k live.EventKind) bool {
	for _, x := range r.kinds {
		if x == k {
			return true
		}
	}
	return false
}

// drain reads a turn to its end (io.EOF or an error).
func drain(t *testing.T, turn *live.Turn) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var r result
	for {
		ev, err := turn.Next(ctx)
		if err == io.EOF {
			return r
		}
		if err != nil {
			r.err = err
			return r
		}
		r.kinds = append(r.kinds, ev.Kind)
		switch ev.Kind {
		case live.EventAudio:
			if len(ev.Audio)%2 != 0 {
				t.Fatalf("audio event of %d bytes: not whole samples", len(ev.Audio))
			}
			r.audio = append(r.audio, ev.Audio...)
		case live.EventOutputTranscript:
			r.transcript += ev.Text
		case live.EventText:
			r.text += ev.Text
		case live.EventTurnComplete:
			r.usage = ev.Usage
		}
	}
}

func send(t *testing.T, s *live.Session, text string) *live.Turn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	turn, err := s.Send(ctx, text)
	if err != nil {
		t.Fatalf("Send(%q): %v", text, err)
	}
	return turn
}

func pcmBytes(pcm []int16) []byte {
	b := make([]byte, 2*len(pcm))
	for i, v := range pcm {
		binary.LittleEndian.PutUint16(b[2*i:], uint16(v))
	}
	return b
}

func TestTextInAudioOut(t *testing.T) {
	srv := livetest.NewServer(t, livetest.Options{})
	s := dial(t, config(srv, nil))
	turn := send(t, s, prompt)
	r := drain(t, turn)
	if r.err != nil {
		t.Fatal(r.err)
	}
	wantPCM, wantText := livetest.Speak(prompt)
	if !bytes.Equal(r.audio, pcmBytes(wantPCM)) {
		t.Errorf("audio: got %d bytes, want the %d bytes of Speak(prompt)", len(r.audio), 2*len(wantPCM))
	}
	if r.transcript != wantText || turn.Transcript() != wantText {
		t.Errorf("transcript %q (Turn %q), want %q", r.transcript, turn.Transcript(), wantText)
	}
	if !bytes.Equal(turn.Audio(), r.audio) {
		t.Error("Turn.Audio differs from the audio events")
	}
	// Order: audio and transcript interleave, then generationComplete, then
	// turnComplete last.
	last := r.kinds[len(r.kinds)-1]
	if last != live.EventTurnComplete {
		t.Errorf("last event %v, want turn-complete", last)
	}
	gen := -1
	for i, k := range r.kinds {
		if k == live.EventGenerationComplete {
			gen = i
		}
		if k == live.EventAudio && gen >= 0 {
			t.Errorf("audio after generation-complete")
		}
	}
	if gen < 0 {
		t.Error("no generation-complete")
	}
	firstTx := -1
	for i, k := range r.kinds {
		if k == live.EventOutputTranscript {
			firstTx = i
			break
		}
	}
	if firstTx < 0 || firstTx > 2 {
		t.Errorf("transcript not interleaved with audio (first fragment at event %d)", firstTx)
	}
	if r.usage.ResponseTokens == 0 || r.usage.TotalTokens < r.usage.ResponseTokens {
		t.Errorf("usage %+v", r.usage)
	}
	if _, err := turn.Next(context.Background()); err != io.EOF {
		t.Errorf("Next after turn-complete: %v, want io.EOF", err)
	}
	// The setup the emulator accepted carries the config.
	var setup struct {
		Model            string
		GenerationConfig struct{ ResponseModalities []string }
		OutputAudioTranscription,
		ContextWindowCompression,
		SessionResumption *json.RawMessage
	}
	if err := json.Unmarshal(srv.LastSetup(), &setup); err != nil {
		t.Fatal(err)
	}
	if setup.Model != "models/gemini-3.8-live" || len(setup.GenerationConfig.ResponseModalities) != 1 ||
		setup.GenerationConfig.ResponseModalities[0] != "AUDIO" || setup.OutputAudioTranscription == nil ||
		setup.ContextWindowCompression == nil || setup.SessionResumption == nil {
		t.Errorf("setup %s", srv.LastSetup())
	}
	if c := srv.Conns(); len(c) != 1 || c[0].Credential != "x-goog-api-key" || c[0].APIVersion != "v1beta" {
		t.Errorf("conns %+v", c)
	}
}

// A second turn sees the handle the first one produced.
func TestHandleAfterTurn(t *testing.T) {
	srv := livetest.NewServer(t, livetest.Options{})
	s := dial(t, config(srv, nil))
	drain(t, send(t, s, "one"))
	r := drain(t, send(t, s, "two"))
	if r.err != nil {
		t.Fatal(r.err)
	}
	issued := srv.HandlesIssued()
	if len(issued) == 0 || s.Handle() == "" {
		t.Fatalf("no handle: issued %v, session %q", issued, s.Handle())
	}
	found := false
	for _, h := range issued {
		found = found || h == s.Handle()
	}
	if !found {
		t.Errorf("session handle %q was never issued (%v)", s.Handle(), issued)
	}
}

// historyResponder answers with the earlier prompts of the session, which
// is how the tests see whether context survived a reconnect.
func historyResponder(req livetest.Request) livetest.Reply {
	var prev []string
	for _, e := range req.History {
		prev = append(prev, e.Prompt)
	}
	return livetest.Reply{Transcript: "Earlier you said: " + strings.Join(prev, " | ") + ".", Duration: 300 * time.Millisecond}
}

func TestGoAwayResumesWithContext(t *testing.T) {
	srv := livetest.NewServer(t, livetest.Options{})
	srv.Respond(historyResponder)
	s := dial(t, config(srv, nil))
	// goAway arrives mid-reply; the connection closes 1011 a while later.
	srv.Script(livetest.Reply{Transcript: "Noted.", Fault: livetest.Fault{Kind: livetest.FaultGoAway, AfterChunks: 1, TimeLeft: 3 * time.Second}})
	r := drain(t, send(t, s, "My name is Ada."))
	if r.err != nil || !r.has(live.EventGoAway) {
		t.Fatalf("turn 1: err %v, events %v (want a go-away)", r.err, r.kinds)
	}
	r = drain(t, send(t, s, "What is my name?"))
	if r.err != nil {
		t.Fatal(r.err)
	}
	if want := "Earlier you said: My name is Ada.."; r.transcript != want {
		t.Errorf("after resume: %q, want %q", r.transcript, want)
	}
	conns, seen, issued := srv.Conns(), srv.HandlesSeen(), srv.HandlesIssued()
	if len(conns) != 2 || len(seen) != 1 || len(issued) < 1 || seen[0] != issued[0] {
		t.Errorf("conns %d, handles seen %v, issued %v: want 2 connections resuming with the first handle", len(conns), seen, issued)
	}
}

func TestResumeAfterMidTurnClose(t *testing.T) {
	srv := livetest.NewServer(t, livetest.Options{})
	srv.Respond(historyResponder)
	s := dial(t, config(srv, nil))
	drain(t, send(t, s, "first"))
	srv.Script(livetest.Reply{Fault: livetest.Fault{Kind: livetest.FaultClose, AfterChunks: 2, Code: 1011, Reason: "Internal error encountered."}})
	r := drain(t, send(t, s, "second"))
	var le *live.Error
	if !errors.As(r.err, &le) || le.Class != live.ClassTransient || le.Code != 1011 {
		t.Fatalf("turn 2: %v, want a transient 1011", r.err)
	}
	if len(r.audio) != 2*11520 || le.PartialAudio != 480*time.Millisecond {
		t.Errorf("partial audio: %d bytes, reported %v; want 2 chunks (480ms)", len(r.audio), le.PartialAudio)
	}
	if !strings.Contains(le.UserMessage(), "kept") {
		t.Errorf("user message does not mention the kept audio: %q", le.UserMessage())
	}
	r = drain(t, send(t, s, "third"))
	if r.err != nil {
		t.Fatal(r.err)
	}
	// The handle predates the failed turn, so the context is "first" only.
	if want := "Earlier you said: first."; r.transcript != want {
		t.Errorf("after 1011: %q, want %q", r.transcript, want)
	}
	if seen := srv.HandlesSeen(); len(seen) != 1 {
		t.Errorf("handles seen %v, want one resumption", seen)
	}
}

func TestStall(t *testing.T) {
	srv := livetest.NewServer(t, livetest.Options{})
	cfg := config(srv, nil)
	cfg.StallTimeout = time.Second
	s := dial(t, cfg)
	// Audio given up front: no synthesis time counts against the deadline.
	pcm := livetest.Loop([]int16{1000, -1000}, time.Second)
	srv.Script(livetest.Reply{PCM: pcm, Fault: livetest.Fault{Kind: livetest.FaultStall, AfterChunks: 3}},
		livetest.Reply{PCM: pcm, Transcript: "ok"})
	start := time.Now()
	r := drain(t, send(t, s, prompt))
	var le *live.Error
	if !errors.As(r.err, &le) || le.Class != live.ClassStall {
		t.Fatalf("got %v, want a stall error", r.err)
	}
	if el := time.Since(start); el < cfg.StallTimeout || el > 5*time.Second {
		t.Errorf("stall reported after %v (timeout %v)", el, cfg.StallTimeout)
	}
	if le.PartialAudio != 720*time.Millisecond {
		t.Errorf("partial audio %v, want 720ms", le.PartialAudio)
	}
	// The session recovers on a fresh connection.
	if r := drain(t, send(t, s, "again")); r.err != nil || !r.has(live.EventTurnComplete) {
		t.Fatalf("after stall: %v %v", r.err, r.kinds)
	}
}

func TestInterruption(t *testing.T) {
	srv := livetest.NewServer(t, livetest.Options{})
	s := dial(t, config(srv, nil))
	srv.Script(livetest.Reply{Duration: time.Minute})
	first := send(t, s, "tell me a long story")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if ev, err := first.Next(ctx); err != nil || ev.Kind != live.EventAudio {
		t.Fatalf("first event %v %v", ev.Kind, err)
	}
	second := send(t, s, prompt)
	r1 := drain(t, first)
	if r1.err != nil || !r1.has(live.EventInterrupted) || r1.has(live.EventGenerationComplete) {
		t.Fatalf("interrupted turn: err %v events %v", r1.err, r1.kinds)
	}
	if got := live.AudioDuration(len(first.Audio())); got >= time.Minute {
		t.Errorf("interrupted turn delivered the whole minute")
	}
	r2 := drain(t, second)
	want, _ := livetest.Speak(prompt)
	if r2.err != nil || !bytes.Equal(r2.audio, pcmBytes(want)) {
		t.Fatalf("second turn: err %v, %d audio bytes", r2.err, len(r2.audio))
	}
}

func TestOddChunks(t *testing.T) {
	srv := livetest.NewServer(t, livetest.Options{})
	s := dial(t, config(srv, nil))
	for _, size := range []int{999, 11521, 3} {
		srv.Script(livetest.Reply{ChunkBytes: size, Duration: 200 * time.Millisecond})
		r := drain(t, send(t, s, "odd"))
		pcm, _ := livetest.Speak("odd")
		if want := pcmBytes(livetest.Loop(pcm, 200*time.Millisecond)); r.err != nil || !bytes.Equal(r.audio, want) {
			t.Errorf("chunk %d: err %v, got %d bytes want %d (or different samples)", size, r.err, len(r.audio), len(want))
		}
	}
}

// TestLargeFrames: a 2.5 s chunk arrives as one 160 KB frame, far past
// coder/websocket's default 32 KiB read limit.
func TestLargeFrames(t *testing.T) {
	srv := livetest.NewServer(t, livetest.Options{})
	s := dial(t, config(srv, nil))
	srv.Script(livetest.Reply{ChunkBytes: 120001, Duration: 3 * time.Second})
	r := drain(t, send(t, s, "big"))
	pcm, _ := livetest.Speak("big")
	if want := pcmBytes(livetest.Loop(pcm, 3*time.Second)); r.err != nil || !bytes.Equal(r.audio, want) {
		t.Fatalf("err %v, got %d bytes want %d (or different samples)", r.err, len(r.audio), len(want))
	}
}

func TestTextModality(t *testing.T) {
	srv := livetest.NewServer(t, livetest.Options{})
	cfg := config(srv, nil)
	cfg.Model, cfg.Modality = "gemini-3.5-transcribe-live", live.Text
	s := dial(t, cfg)
	turn := send(t, s, prompt)
	r := drain(t, turn)
	if r.err != nil || len(r.audio) != 0 || r.text != livetest.DefaultTranscript(prompt) || turn.Transcript() != r.text {
		t.Fatalf("err %v audio %d text %q", r.err, len(r.audio), r.text)
	}
}

func TestErrorClasses(t *testing.T) {
	const secret = "AIzaSyTOPSECRETKEY0123456789"
	tests := []struct {
		name   string
		prep   func(*livetest.Server, *live.Config)
		class  live.ErrorClass
		code   int
		reason string
		words  string // in UserMessage
	}{
		{"bad key", func(_ *livetest.Server, c *live.Config) { c.APIKey = secret }, live.ClassAuth, 1007, "API key not valid", "API key"},
		{"retired model", func(_ *livetest.Server, c *live.Config) { c.Model = "gemini-2.0-flash-live-001" }, live.ClassNotFound, 1008, "is not found for API version v1beta", "model"},
		{"text on audio model", func(_ *livetest.Server, c *live.Config) { c.Modality = live.Text }, live.ClassInvalidConfig, 1007, "Cannot extract voices", "settings"},
		{"quota", func(s *livetest.Server, _ *live.Config) {
			s.RejectSetup(1011, "You exceeded your current quota, please check your plan and billing details.")
		}, live.ClassQuota, 1011, "quota", "quota"},
		{"internal", func(s *livetest.Server, _ *live.Config) { s.RejectSetup(1011, "Internal error encountered.") }, live.ClassTransient, 1011, "Internal error", "try again"},
		{"stale handle", func(_ *livetest.Server, c *live.Config) { c.Handle = "no-such-handle" }, live.ClassSessionExpired, 1008, "session not found", "fresh"},
		{"setup stall", func(s *livetest.Server, c *live.Config) { s.StallSetup(); c.ConnectTimeout = 300 * time.Millisecond }, live.ClassTimeout, 0, "", "too long"},
		{"bad version", func(_ *livetest.Server, c *live.Config) { c.APIVersion = "v2" }, live.ClassInvalidConfig, 0, "", "settings"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := livetest.NewServer(t, livetest.Options{})
			var logs syncBuf
			cfg := config(srv, &logs)
			tc.prep(srv, &cfg)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			s, err := live.Dial(ctx, cfg)
			if err == nil {
				s.Close()
				t.Fatal("Dial succeeded")
			}
			var le *live.Error
			if !errors.As(err, &le) {
				t.Fatalf("%v is not a *live.Error", err)
			}
			if le.Class != tc.class || le.Code != tc.code || !strings.Contains(le.Reason, tc.reason) {
				t.Errorf("got class %v code %d reason %q; want %v %d %q", le.Class, le.Code, le.Reason, tc.class, tc.code, tc.reason)
			}
			if !strings.Contains(le.UserMessage(), tc.words) {
				t.Errorf("user message %q lacks %q", le.UserMessage(), tc.words)
			}
			for what, s := range map[string]string{"error": err.Error(), "user message": le.UserMessage(), "logs": logs.String()} {
				if strings.Contains(s, secret) || strings.Contains(s, srv.Key) {
					t.Errorf("%s contains the API key: %s", what, s)
				}
			}
		})
	}
}

// The key never appears in a dial error even when the transport fails.
func TestKeyNotInDialError(t *testing.T) {
	const secret = "AIzaSyTOPSECRETKEY0123456789"
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := live.Dial(ctx, live.Config{APIKey: secret, BaseURL: "http://127.0.0.1:1"})
	var le *live.Error
	if !errors.As(err, &le) || le.Class != live.ClassUnreachable || strings.Contains(err.Error(), secret) {
		t.Fatalf("got %v", err)
	}
}

func TestResumeFromHandleInNewSession(t *testing.T) {
	srv := livetest.NewServer(t, livetest.Options{})
	srv.Respond(historyResponder)
	s := dial(t, config(srv, nil))
	drain(t, send(t, s, "remember 42"))
	drain(t, send(t, s, "ok"))
	s.Close() // waits for the handle that covers "ok"
	h := s.Handle()
	cfg := config(srv, nil)
	cfg.Handle = h
	s2 := dial(t, cfg)
	r := drain(t, send(t, s2, "what number?"))
	if !strings.Contains(r.transcript, "remember 42 | ok") {
		t.Errorf("resumed session lost context: %q", r.transcript)
	}
}

func TestCloseFailsOpenTurn(t *testing.T) {
	srv := livetest.NewServer(t, livetest.Options{})
	s := dial(t, config(srv, nil))
	srv.Script(livetest.Reply{Duration: time.Minute})
	turn := send(t, s, "long")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	r := drain(t, turn)
	var le *live.Error
	if !errors.As(r.err, &le) || le.Class != live.ClassClosed {
		t.Fatalf("got %v, want ClassClosed", r.err)
	}
	if _, err := s.Send(context.Background(), "x"); !errors.As(err, &le) || le.Class != live.ClassClosed {
		t.Fatalf("Send after Close: %v", err)
	}
}

// A connection that dies after the prompt went out but before any of the
// reply arrived (the service closing between turns races our Send) is
// resumed and the turn sent again, once.
func TestResendWhenLostBeforeReply(t *testing.T) {
	srv := livetest.NewServer(t, livetest.Options{})
	srv.Respond(historyResponder)
	var logs syncBuf
	s := dial(t, config(srv, &logs))
	defer func() {
		if t.Failed() {
			t.Log(logs.String())
		}
	}()
	drain(t, send(t, s, "one"))
	srv.Script(livetest.Reply{Fault: livetest.Fault{Kind: livetest.FaultDrop}})
	r := drain(t, send(t, s, "two"))
	if r.err != nil || r.transcript != "Earlier you said: one." {
		t.Fatalf("err %v transcript %q", r.err, r.transcript)
	}
	if p := srv.Prompts(); len(p) != 3 || p[1] != "two" || p[2] != "two" {
		t.Errorf("prompts %q", p)
	}
	// Twice in a row: the error surfaces.
	drop := livetest.Reply{Fault: livetest.Fault{Kind: livetest.FaultClose, Code: 1011, Reason: "The service is currently unavailable."}}
	srv.Script(drop, drop)
	r = drain(t, send(t, s, "three"))
	var le *live.Error
	if !errors.As(r.err, &le) || le.Class != live.ClassTransient || le.PartialAudio != 0 {
		t.Fatalf("got %v", r.err)
	}
}

// Close mid-reply stops every goroutine of the client (and Close on the
// emulator every one of its own).
func TestNoLeaksAfterClose(t *testing.T) {
	srv, err := livetest.New(livetest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	srv.Script(livetest.Reply{Duration: time.Minute})
	cfg := config(srv, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := live.Dial(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	turn, err := s.Send(ctx, "long")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := turn.Next(ctx); err != nil {
		t.Fatal(err)
	}
	s.Close()
	srv.Close()
	goleak.VerifyNone(t)
}

func TestEphemeralTokenAndSpeechConfig(t *testing.T) {
	srv := livetest.NewServer(t, livetest.Options{})
	cfg := config(srv, nil)
	cfg.APIKey, cfg.APIVersion, cfg.Voice, cfg.Language = srv.Token, "v1alpha", "Puck", "en-GB"
	s := dial(t, cfg)
	if r := drain(t, send(t, s, "hi")); r.err != nil {
		t.Fatal(r.err)
	}
	if c := srv.Conns(); c[0].Credential != "authorization" || c[0].APIVersion != "v1alpha" {
		t.Errorf("conn %+v", c[0])
	}
	if st := string(srv.LastSetup()); !strings.Contains(st, `"voiceName":"Puck"`) || !strings.Contains(st, `"languageCode":"en-GB"`) {
		t.Errorf("setup %s", st)
	}
}

// notifyHandler signals when the client logs msg: a way to wait for an
// internal event (here the end of a connection) without sleeping.
type notifyHandler struct {
	slog.Handler
	msg string
	ch  chan struct{}
}

func (h notifyHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h notifyHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == h.msg {
		select {
		case h.ch <- struct{}{}:
		default:
		}
	}
	return nil
}

// goAway between turns, then the service's 1011 close: the next Send
// resumes on a new connection with the latest handle.
func TestClosedBetweenTurnsResumes(t *testing.T) {
	srv := livetest.NewServer(t, livetest.Options{})
	srv.Respond(historyResponder)
	ended := make(chan struct{}, 1)
	cfg := config(srv, nil)
	cfg.Logger = slog.New(notifyHandler{Handler: slog.DiscardHandler, msg: "live: connection ended", ch: ended})
	s := dial(t, cfg)
	drain(t, send(t, s, "one"))
	drain(t, send(t, s, "two")) // by now the handle after "one" is known
	srv.GoAway(10 * time.Millisecond)
	select {
	case <-ended:
	case <-time.After(10 * time.Second):
		t.Fatal("connection did not end after goAway")
	}
	r := drain(t, send(t, s, "three"))
	if r.err != nil || r.transcript != "Earlier you said: one | two." {
		t.Fatalf("err %v transcript %q", r.err, r.transcript)
	}
	if seen := srv.HandlesSeen(); len(seen) != 1 {
		t.Errorf("handles seen %v", seen)
	}
}

// An expired handle surfaces once as ClassSessionExpired; the Session then
// forgets it and the next Send starts a fresh conversation.
func TestExpiredHandle(t *testing.T) {
	srv := livetest.NewServer(t, livetest.Options{})
	srv.Respond(historyResponder)
	ended := make(chan struct{}, 1)
	cfg := config(srv, nil)
	cfg.Logger = slog.New(notifyHandler{Handler: slog.DiscardHandler, msg: "live: connection ended", ch: ended})
	s := dial(t, cfg)
	drain(t, send(t, s, "one"))
	drain(t, send(t, s, "two"))
	srv.ExpireHandles()
	srv.GoAway(0)
	select {
	case <-ended:
	case <-time.After(10 * time.Second):
		t.Fatal("connection did not end")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := s.Send(ctx, "three")
	var le *live.Error
	if !errors.As(err, &le) || le.Class != live.ClassSessionExpired || !le.Class.Retryable() {
		t.Fatalf("got %v, want session-expired", err)
	}
	if s.Handle() != "" {
		t.Errorf("handle %q kept", s.Handle())
	}
	r := drain(t, send(t, s, "three"))
	if r.err != nil || r.transcript != "Earlier you said: ." {
		t.Fatalf("fresh session: %v %q", r.err, r.transcript)
	}
}
