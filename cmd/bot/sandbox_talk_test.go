package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/livecord/livecord/audio/speech"
	"github.com/livecord/livecord/audio/wav"
)

// TestSandboxTalk runs `bot sandbox -talk -say …` with no Gemini key, the
// member speaking two recordings in formats the resampler does not serve
// directly (44.1 kHz stereo, 16 kHz mono): both are heard as said, the
// second cuts the first answer, and the summary has its latency lines.
func TestSandboxTalk(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	for _, k := range []string{"GEMINI_API_KEY", "GOOGLE_API_KEY", "GEMINI_BASE_URL", "GEMINI_MODEL", "DISCORD_TOKEN"} {
		t.Setenv(k, "")
	}
	dir := t.TempDir()
	write := func(name string, p speech.Phrase, rate, channels int) string {
		pcm, err := mono48k(p.PCM, 1, speech.Rate) // identity at 48 kHz
		if err != nil {
			t.Fatal(err)
		}
		var raw []byte
		n := len(pcm) * rate / speech.Rate
		for i := range n {
			v := pcm[i*speech.Rate/rate]
			for range channels {
				raw = binary.LittleEndian.AppendUint16(raw, uint16(v))
			}
		}
		var buf bytes.Buffer
		if err := wav.Encode(&buf, rate, channels, raw); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	q, _ := speech.Lookup("weather")
	stop, _ := speech.Lookup("interrupt")
	a, b := write("question.wav", q, 44100, 2), write("stop.wav", stop, 16000, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	var stdout, stderr syncBuffer
	if err := runSandbox(ctx, []string{"-talk", "-out", dir, "-timeout", "60s", "-say", a, "-say", b}, &stdout, &stderr); err != nil {
		t.Fatalf("sandbox -talk: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	out := stdout.String()
	t.Logf("summary:\n%s", out)
	for _, want := range []string{"bot-added voice-to-voice latency:", "barge-in latency:", "median",
		"**you:** question.wav", "*(interrupted)*", "**you:** stop.wav"} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q", want)
		}
	}
	raw, err := os.ReadFile(filepath.Join(dir, "heard.wav"))
	if err != nil {
		t.Fatal(err)
	}
	f, err := wav.Decode(raw)
	if err != nil || f.SampleRate != 48000 || f.Channels != 2 || len(f.Samples()) < 48000*2 {
		t.Fatalf("heard.wav: %v, %+v", err, f.Header)
	}
}
