package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/livecord/livecord/audio/wav"
	"github.com/livecord/livecord/live"
	"github.com/livecord/livecord/live/livetest"
)

// liveEnv points loadLiveConfig at srv and clears every other Live key.
func liveEnv(t *testing.T, srv *livetest.Server) {
	for _, k := range []string{"GOOGLE_API_KEY", "GEMINI_MODEL", "GEMINI_API_VERSION", "GEMINI_VOICE", "GEMINI_LANGUAGE",
		"GEMINI_SYSTEM_INSTRUCTION", "GEMINI_STALL_TIMEOUT", "GEMINI_OUTPUT_TRANSCRIPTION", "GEMINI_COMPRESSION",
		"GEMINI_CONNECT_TIMEOUT", "GEMINI_TURN_TIMEOUT", "GEMINI_MAX_REPLY"} {
		t.Setenv(k, "")
	}
	t.Setenv("GEMINI_BASE_URL", srv.URL())
	t.Setenv("GEMINI_API_KEY", srv.Key)
}

func readWAV(t *testing.T, path string) *wav.File {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := wav.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if f.SampleRate != 24000 || f.Channels != 1 {
		t.Fatalf("WAV is %d Hz × %d channels", f.SampleRate, f.Channels)
	}
	return f
}

func TestAsk(t *testing.T) {
	srv := livetest.NewServer(t, livetest.Options{})
	liveEnv(t, srv)
	const prompt = "Hello? Gemini are you there?"
	out := filepath.Join(t.TempDir(), "reply.wav")
	var stdout, stderr bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := runAsk(ctx, []string{"-o", out, prompt}, &stdout, &stderr); err != nil {
		t.Fatalf("ask: %v\n%s", err, stderr.String())
	}
	pcm, transcript := livetest.Speak(prompt)
	if got := strings.TrimSpace(stdout.String()); got != transcript {
		t.Errorf("printed %q, want %q", got, transcript)
	}
	if !slices.Equal(readWAV(t, out).Samples(), pcm) {
		t.Error("reply.wav does not hold the audio the emulator sent")
	}
	if !strings.Contains(stderr.String(), "\rreceiving audio:") {
		t.Errorf("no progress line in %q", stderr.String())
	}
}

func TestAskTextAndErrors(t *testing.T) {
	srv := livetest.NewServer(t, livetest.Options{})
	liveEnv(t, srv)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dir := t.TempDir()
	var stdout, stderr bytes.Buffer
	// The default model only speaks: -text surfaces the service's refusal.
	err := runAsk(ctx, []string{"-text", "-o", filepath.Join(dir, "r.wav"), "hi"}, &stdout, &stderr)
	if err == nil || !strings.Contains(err.Error(), "Gemini rejected the bot's settings") || !strings.Contains(err.Error(), "Cannot extract voices") {
		t.Errorf("-text on an audio model: %v", err)
	}
	t.Setenv("GEMINI_MODEL", "gemini-3.5-transcribe-live")
	stdout.Reset()
	if err := runAsk(ctx, []string{"-text", "-o", filepath.Join(dir, "r.wav"), "hi"}, &stdout, &stderr); err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(stdout.String()); got != livetest.DefaultTranscript("hi") {
		t.Errorf("text reply %q", got)
	}
	if _, err := os.Stat(filepath.Join(dir, "r.wav")); !os.IsNotExist(err) {
		t.Error("a text reply wrote a WAV")
	}
	t.Setenv("GEMINI_API_KEY", "wrong-key")
	if err := runAsk(ctx, []string{"hi"}, io.Discard, io.Discard); err == nil || strings.Contains(err.Error(), "wrong-key") {
		t.Errorf("bad key: %v", err)
	}
}

func TestChat(t *testing.T) {
	srv := livetest.NewServer(t, livetest.Options{})
	liveEnv(t, srv)
	srv.Respond(func(r livetest.Request) livetest.Reply {
		return livetest.Reply{Transcript: "reply " + r.Prompt, Duration: 200 * time.Millisecond}
	})
	dir := t.TempDir()
	var stdout, stderr bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	in := strings.NewReader("one\n\ntwo\nq\nthree\n")
	if err := chat(ctx, []string{"-dir", dir}, in, &stdout, &stderr); err != nil {
		t.Fatalf("chat: %v\n%s", err, stderr.String())
	}
	if got := stdout.String(); got != "reply one\nreply two\n" {
		t.Errorf("stdout %q", got)
	}
	for _, n := range []string{"audio_1.wav", "audio_2.wav"} {
		if f := readWAV(t, filepath.Join(dir, n)); live.AudioDuration(len(f.Data)) != 200*time.Millisecond {
			t.Errorf("%s: %d bytes", n, len(f.Data))
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "audio_3.wav")); !os.IsNotExist(err) {
		t.Error("turn after q was sent")
	}
	if p := srv.Prompts(); len(p) != 2 {
		t.Errorf("prompts %q", p)
	}
}

// `bot emulate live` prints a base URL and key that `ask` can use.
func TestEmulateLive(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- emulateLive(ctx, nil, pw, io.Discard)
		pw.Close()
	}()
	sc := bufio.NewScanner(pr)
	vars := map[string]string{}
	for len(vars) < 2 && sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), "=")
		vars[k] = v
	}
	go io.Copy(io.Discard, pr)
	for _, k := range []string{"GEMINI_API_KEY", "GOOGLE_API_KEY", "GEMINI_MODEL", "GEMINI_API_VERSION"} {
		t.Setenv(k, "")
	}
	t.Setenv("GEMINI_BASE_URL", vars["GEMINI_BASE_URL"])
	t.Setenv("GEMINI_API_KEY", vars["GEMINI_API_KEY"])
	out := filepath.Join(t.TempDir(), "reply.wav")
	var stdout bytes.Buffer
	actx, acancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer acancel()
	err := runAsk(actx, []string{"-o", out, "Hello? Gemini are you there?"}, &stdout, io.Discard)
	cancel()
	if err2 := <-done; err2 != nil {
		t.Fatal(err2)
	}
	if err != nil {
		t.Fatalf("ask against `emulate live` (%v): %v", vars, err)
	}
	if !strings.Contains(stdout.String(), "Hello? Gemini are you there?") {
		t.Errorf("stdout %q", stdout.String())
	}
	readWAV(t, out)
}

// TestChatText: `chat -text` with a text-capable model prints each reply and
// writes no audio files.
func TestChatText(t *testing.T) {
	srv := livetest.NewServer(t, livetest.Options{})
	liveEnv(t, srv)
	t.Setenv("GEMINI_MODEL", "gemini-3.5-transcribe-live")
	dir := t.TempDir()
	var stdout, stderr bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := chat(ctx, []string{"-text", "-dir", dir}, strings.NewReader("one\ntwo\nq\n"), &stdout, &stderr); err != nil {
		t.Fatalf("chat -text: %v\n%s", err, stderr.String())
	}
	if want := livetest.DefaultTranscript("one") + "\n" + livetest.DefaultTranscript("two") + "\n"; stdout.String() != want {
		t.Errorf("stdout %q, want %q", stdout.String(), want)
	}
	if files, _ := os.ReadDir(dir); len(files) != 0 {
		t.Errorf("text replies wrote %d files", len(files))
	}
	if setup := string(srv.LastSetup()); !strings.Contains(setup, "TEXT") {
		t.Errorf("setup did not ask for TEXT:\n%s", setup)
	}
}

// silentServer accepts TCP connections and never answers a byte (a Gemini
// endpoint that hangs the WebSocket upgrade); it returns the base URL.
func silentServer(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	var conns []net.Conn
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c) // held open, never answered
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		for _, c := range conns {
			c.Close()
		}
	})
	return "http://" + ln.Addr().String()
}

// TestAskUpgradeNeverAnswered: `bot ask` against a server that accepts the
// connection but never answers the WebSocket upgrade exits with an error
// saying Gemini could not be reached, once GEMINI_CONNECT_TIMEOUT has
// passed: judged against a bare timer of the same length started at the
// same moment (the machine's own lateness), not a fixed margin.
func TestAskUpgradeNeverAnswered(t *testing.T) {
	liveEnv(t, livetest.NewServer(t, livetest.Options{}))
	t.Setenv("GEMINI_BASE_URL", silentServer(t))
	const connect = time.Second
	t.Setenv("GEMINI_CONNECT_TIMEOUT", connect.String())
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour) // the connect deadline must end it, not this
	defer cancel()
	start := time.Now()
	ref := make(chan time.Duration, 1)
	go func() { time.Sleep(connect); ref <- time.Since(start) }()
	err := runAsk(ctx, []string{"-o", filepath.Join(t.TempDir(), "r.wav"), "hello?"}, io.Discard, io.Discard)
	took := time.Since(start)
	bare := <-ref
	if err == nil || !strings.Contains(err.Error(), "could not reach Gemini") {
		t.Fatalf("ask against a silent server: %v, want a clear unreachable error", err)
	}
	t.Logf("failed after %v (a bare %v timer took %v): %v", took, connect, bare, err)
	if took < connect || took > 2*bare {
		t.Fatalf("ask failed after %v, want at the connect deadline (%v; a bare timer took %v)", took, connect, bare)
	}
}
