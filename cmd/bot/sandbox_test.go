package main

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/livecord/livecord/audio/wav"
	"github.com/livecord/livecord/live"
	"github.com/livecord/livecord/live/livetest"
	"github.com/livecord/livecord/voice"
)

// TestSandbox runs `bot sandbox` as a newcomer would, with no Gemini key:
// both WAV files are written and decode, reply.wav is exactly what the Live
// emulator sent, heard.wav (decoded by the listener's own voice connection)
// sounds like it, and the summary has every timing line.
func TestSandbox(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	for _, k := range []string{"GEMINI_API_KEY", "GOOGLE_API_KEY", "GEMINI_BASE_URL", "GEMINI_MODEL", "DISCORD_TOKEN"} {
		t.Setenv(k, "")
	}
	dir := t.TempDir()
	prompt := "Hello? Gemini are you there?"
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	var stdout, stderr syncBuffer
	// A picture goes with the question (issue 16): served as the attachment's
	// CDN URL, prepared by the bot, received by the emulator.
	pic := filepath.Join(dir, "screenshot.png")
	if err := os.WriteFile(pic, sandboxPNG(t, 300, 200), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := runSandbox(ctx, []string{"-out", dir, "-timeout", "60s", "-image", pic, prompt}, &stdout, &stderr); err != nil {
		t.Fatalf("sandbox: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	out := stdout.String()
	t.Logf("summary:\n%s", out)

	read := func(name string) *wav.File {
		t.Helper()
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		f, err := wav.Decode(b)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return f
	}
	reply, heard := read("reply.wav"), read("heard.wav")
	want, transcript := livetest.Speak(prompt)
	if reply.SampleRate != live.SampleRate || reply.Channels != 1 || !slices.Equal(reply.Samples(), want) {
		t.Fatalf("reply.wav (%d Hz, %d ch, %d samples) is not the emulator's %d samples at 24 kHz mono",
			reply.SampleRate, reply.Channels, len(reply.Samples()), len(want))
	}
	if heard.SampleRate != 48000 || heard.Channels != 2 {
		t.Fatalf("heard.wav is %d Hz, %d channels; want 48 kHz stereo", heard.SampleRate, heard.Channels)
	}
	hs := heard.Samples()
	// At least the reply (resampled to 48 kHz stereo), plus the silence tail.
	if min := 4 * len(want); len(hs) < min {
		t.Fatalf("heard.wav has %d samples, want at least %d", len(hs), min)
	}
	mono := make([]int16, len(hs)/2)
	for i := range mono {
		mono[i] = int16((int32(hs[2*i]) + int32(hs[2*i+1])) / 2)
	}
	corr := livetest.EnvelopeCorrelation(want, live.SampleRate, mono, 48000, time.Second)
	t.Logf("heard vs reply: envelope correlation %.3f", corr)
	if corr < 0.9 {
		t.Fatalf("heard.wav does not sound like the reply: envelope correlation %.3f", corr)
	}

	lines := map[string]string{}
	for _, l := range strings.Split(out, "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok {
			lines[k] = strings.TrimSpace(v)
		}
	}
	for _, k := range []string{"defer latency", "first-audio latency", "first-packet latency", "reply length",
		"packets", "lateness", "encryption", "heard vs reply", "transcript", "wrote", "tools", "sources", "image"} {
		if lines[k] == "" {
			t.Errorf("summary lacks %q", k)
		}
	}
	// The emulated model called the clock and grounded its answer.
	if !strings.HasPrefix(lines["tools"], "checked the time in ") || !strings.Contains(lines["sources"], "(<https://ai.google.dev/gemini-api/docs/live>)") ||
		!strings.HasPrefix(lines["image"], "image/png 300×200, ") {
		t.Errorf("tools %q, sources %q, image %q", lines["tools"], lines["sources"], lines["image"])
	}
	// The channel requires DAVE and the listener decoded the reply through
	// its own MLS group member.
	if !strings.Contains(lines["encryption"], "DAVE on") {
		t.Errorf("encryption %q: the sandbox ran without DAVE", lines["encryption"])
	}
	if lines["transcript"] != transcript {
		t.Errorf("transcript %q, want %q", lines["transcript"], transcript)
	}
	var sent, got, lost int
	if _, err := fmt.Sscanf(lines["packets"], "%d sent by the bot, %d received by the listener, %d lost", &sent, &got, &lost); err != nil {
		t.Fatalf("packets line %q: %v", lines["packets"], err)
	}
	// Every 20 ms of the reply is a packet, plus the five-frame silence tail.
	// A DAVE sender drops what it plays before its group is ready, so on a
	// starved machine the first few frames may be missing; all that was
	// sent must arrive.
	frames := (len(want) + 479) / 480
	t.Logf("packets: %d sent, %d received, %d lost (the reply is %d frames + 5 silence)", sent, got, lost, frames)
	if sent < frames*9/10+5 || sent > frames+5+2 || got != sent || lost != 0 {
		t.Errorf("packets: %d sent, %d received, %d lost; want about %d sent, all received", sent, got, lost, frames+5)
	}
	var d float64
	if _, err := fmt.Sscanf(lines["defer latency"], "%f ms", &d); err != nil || d <= 0 || d > 3000 {
		t.Errorf("defer latency %q not within (0, 3 s]", lines["defer latency"])
	}
	for _, secret := range []string{"emulator-token", livetest.DefaultKey} {
		if strings.Contains(out+stderr.String(), secret) {
			t.Errorf("output shows the credential %q", secret)
		}
	}
}

func TestSandboxArguments(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "no prompt given"},
		{[]string{"-voice", "Nobody", "hi"}, `voice "Nobody" is not one of`},
		{[]string{"-timeout", "soon", "hi"}, "invalid value"},
	} {
		var out, errb syncBuffer
		err := runSandbox(context.Background(), tc.args, &out, &errb)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want %q", tc.args, err, tc.want)
		}
	}
}

func TestLateness(t *testing.T) {
	t0 := time.Unix(1000, 0)
	frame := func(seq uint16, at time.Duration) voice.Frame {
		return voice.Frame{Sequence: seq, Arrival: t0.Add(at)}
	}
	ms := time.Millisecond
	for _, tc := range []struct {
		name   string
		frames []voice.Frame
		want   []time.Duration
	}{
		{"steady", []voice.Frame{frame(1, 0), frame(2, 20*ms), frame(3, 40*ms)}, []time.Duration{0, 0, 0}},
		{"one late", []voice.Frame{frame(1, 0), frame(2, 25*ms), frame(3, 40*ms)}, []time.Duration{0, 0, 5 * ms}},
		// The first packet was itself late: the clock anchors on the earliest.
		{"late start", []voice.Frame{frame(1, 3*ms), frame(2, 20*ms), frame(3, 40*ms)}, []time.Duration{0, 0, 3 * ms}},
		// A lost packet (seq 2) does not shift the clock; the wrap is followed.
		{"loss and wrap", []voice.Frame{frame(65535, 0), frame(1, 40*ms), frame(2, 61*ms)}, []time.Duration{0, 0, 1 * ms}},
		{"reordered", []voice.Frame{frame(1, 0), frame(3, 40*ms), frame(2, 41*ms)}, []time.Duration{0, 0, 21 * ms}},
	} {
		if got := lateness(tc.frames); !slices.Equal(got, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
	sorted := []time.Duration{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	if p := percentile(sorted, 0.5); p != 5 {
		t.Errorf("p50 %v", p)
	}
	if p := percentile(sorted, 0.99); p != 10 {
		t.Errorf("p99 %v", p)
	}
}

func TestTranscriptOf(t *testing.T) {
	for in, want := range map[string]string{
		"<@1> asked:\n> hi\n\nHello there.\n\n-# 🔊 1.0 s":                       "Hello there.",
		"<@1> asked:\n> hi\n\nFirst.\n\nSecond.\n\nℹ️ note\n-# 🔊 2.0 s":         "First.\n\nSecond.",
		"<@1> asked:\n> hi\n\n*(no transcript)*\n\n-# 🔊 1.0 s · ✂️ interrupted": "*(no transcript)*",
	} {
		if got := transcriptOf(in); got != want {
			t.Errorf("transcriptOf(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestSandboxChoosesLive(t *testing.T) {
	for _, tc := range []struct {
		key, baseURL  string
		offline, real bool
	}{
		{"", "", false, false},                           // a newcomer: the emulator
		{"AIza-key", "", false, true},                    // a key: the real service
		{"AIza-key", "", true, false},                    // -offline wins
		{"AIza-key", "http://127.0.0.1:1", false, false}, // another endpoint: not the real service
	} {
		if got := useRealLive(live.Config{APIKey: tc.key, BaseURL: tc.baseURL}, tc.offline); got != tc.real {
			t.Errorf("key %q, base URL %q, offline %v: real %v, want %v", tc.key, tc.baseURL, tc.offline, got, tc.real)
		}
	}
}

func sandboxPNG(t *testing.T, w, h int) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for i := range img.Pix {
		img.Pix[i] = byte(i)
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}
