package livetest_test

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/livecord/livecord/internal/nodetest"
	"github.com/livecord/livecord/live/livetest"
	"github.com/livecord/livecord/resample"
)

// sdkSummary is what tools/node/genai-live.mjs prints.
type sdkSummary struct {
	SetupComplete      bool
	AudioBytes         int
	AudioChunks        int
	MimeTypes          []string
	Transcript         string
	GenerationComplete bool
	TurnComplete       bool
	Usage              *struct{ ResponseTokenCount int }
	Handle             string
	Order              []string
	Close              *struct {
		Code   int
		Reason string
	}
	Error       *string
	Turns       int
	Interrupted bool
}

func runSDK(t *testing.T, opts map[string]any) sdkSummary {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	arg, _ := json.Marshal(opts)
	out, err := nodetest.Command(ctx, t, "genai-live.mjs", string(arg)).Output()
	if err != nil {
		t.Fatalf("node: %v\n%s", err, out)
	}
	var s sdkSummary
	if err := json.Unmarshal(out, &s); err != nil {
		t.Fatalf("summary %q: %v", out, err)
	}
	return s
}

// The official @google/genai SDK completes a turn against the emulator:
// its "//ws/…" URL is routed, its setup passes strict validation, and it
// decodes the binary pretty-printed frames into audio and transcription.
func TestOfficialSDK(t *testing.T) {
	nodetest.Require(t)
	srv := livetest.NewServer(t, livetest.Options{})
	const prompt = "Hello? Gemini are you there?"
	for _, tc := range []struct {
		name, apiKey, version, wantVersion, cred string
	}{
		{"api key, SDK default version", srv.Key, "", "v1", "key"},
		{"api key, v1beta", srv.Key, "v1beta", "v1beta", "key"},
		{"ephemeral token", srv.Token, "v1alpha", "v1alpha", "access_token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := len(srv.Conns())
			s := runSDK(t, map[string]any{"baseUrl": srv.URL(), "apiKey": tc.apiKey, "apiVersion": tc.version, "prompt": prompt})
			if s.Error != nil {
				t.Fatalf("SDK error: %s", *s.Error)
			}
			pcm, transcript := livetest.Speak(prompt)
			if !s.SetupComplete || !s.TurnComplete || !s.GenerationComplete || s.AudioBytes != 2*len(pcm) ||
				s.Transcript != transcript || s.Usage == nil || s.Usage.ResponseTokenCount == 0 || s.Handle == "" {
				t.Errorf("summary %+v", s)
			}
			if len(s.MimeTypes) != 1 || s.MimeTypes[0] != "audio/pcm;rate=24000" {
				t.Errorf("mime types %v", s.MimeTypes)
			}
			if s.Order[len(s.Order)-1] != "turnComplete" || s.Order[len(s.Order)-2] != "generationComplete" {
				t.Errorf("order ends %v", s.Order[max(0, len(s.Order)-3):])
			}
			conns := srv.Conns()
			if len(conns) != n+1 {
				t.Fatalf("%d connections", len(conns)-n)
			}
			c := conns[n]
			if !strings.HasPrefix(c.Path, "//ws/") || c.APIVersion != tc.wantVersion || c.Credential != tc.cred {
				t.Errorf("conn %+v", c)
			}
			var setup struct {
				Model             string
				SystemInstruction struct {
					Role  string
					Parts []struct{ Text string }
				}
			}
			json.Unmarshal(srv.LastSetup(), &setup)
			if setup.Model != "models/gemini-3.8-live" || setup.SystemInstruction.Parts[0].Text != "You are terse." {
				t.Errorf("setup %s", srv.LastSetup())
			}
		})
	}
	t.Run("interruption", func(t *testing.T) {
		srv.Script(livetest.Reply{Duration: time.Minute})
		s := runSDK(t, map[string]any{"baseUrl": srv.URL(), "apiKey": srv.Key, "apiVersion": "v1beta",
			"prompt": "Tell me a long story.", "interruptWith": "Stop."})
		if s.Error != nil {
			t.Fatalf("SDK error: %s", *s.Error)
		}
		_, second := livetest.Speak("Stop.")
		if !s.Interrupted || s.Turns != 2 || !strings.HasSuffix(s.Transcript, second) || s.AudioBytes >= 60*48000 {
			t.Errorf("summary %+v", s)
		}
		// interrupted, then that turn's turnComplete, with no generationComplete in between.
		i := slices.Index(s.Order, "interrupted")
		if i < 0 || s.Order[i+1] != "turnComplete" || slices.Index(s.Order, "generationComplete") < i {
			t.Errorf("order around the interruption: %v", s.Order[max(0, i-2):min(len(s.Order), i+3)])
		}
	})
	t.Run("bad key", func(t *testing.T) {
		s := runSDK(t, map[string]any{"baseUrl": srv.URL(), "apiKey": "wrong", "apiVersion": "v1beta"})
		if s.Error == nil || !strings.Contains(*s.Error, "API key not valid") || s.Close == nil || s.Close.Code != 1007 {
			t.Errorf("summary %+v", s)
		}
	})
}

// talkSummary is what tools/node/genai-live-talk.mjs prints.
type talkSummary struct {
	SetupComplete bool
	Order         []string
	Turns         []struct {
		Heard, Transcript string
		AudioBytes        int
		Interrupted       bool
		Complete          bool
	}
	Close *struct {
		Code   int
		Reason string
	}
	Error      *string
	ChunksSent int
}

// speechFile writes text in the emulator's voice as raw PCM16LE at 16 kHz,
// the way a microphone path sends it, and returns its path.
func speechFile(t *testing.T, text string) string {
	t.Helper()
	r, err := resample.New(livetest.SampleRate, 16000, 1)
	if err != nil {
		t.Fatal(err)
	}
	pcm := make([]int16, 3200) // 200 ms of silence first
	pcm = r.Flush(r.Process(pcm, livetest.Say(text)))
	b := make([]byte, 2*len(pcm))
	for i, v := range pcm {
		binary.LittleEndian.PutUint16(b[2*i:], uint16(v))
	}
	p := filepath.Join(t.TempDir(), "speech.pcm")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// The official SDK holds a spoken conversation with the emulator: its
// realtimeInput audio, audioStreamEnd and realtimeInputConfig pass strict
// validation; it receives activity, the transcription of what it said, the
// reply, and an interruption when it talks over that reply.
func TestOfficialSDKTalks(t *testing.T) {
	nodetest.Require(t)
	const question, stop = "What is the weather like in Paris today?", "Stop, tell me a joke instead."
	srv := livetest.NewServer(t, livetest.Options{})
	srv.Hear(question, livetest.Say(question), livetest.SampleRate)
	srv.Hear(stop, livetest.Say(stop), livetest.SampleRate)
	srv.Script(livetest.Reply{Duration: time.Minute}) // long enough to talk over
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	arg, _ := json.Marshal(map[string]any{"baseUrl": srv.URL(), "apiKey": srv.Key, "apiVersion": "v1beta",
		"speech": []string{speechFile(t, question), speechFile(t, stop)}, "context": "Alice is speaking."})
	out, err := nodetest.Command(ctx, t, "genai-live-talk.mjs", string(arg)).Output()
	if err != nil {
		t.Fatalf("node: %v\n%s", err, out)
	}
	var s talkSummary
	if err := json.Unmarshal(out, &s); err != nil {
		t.Fatalf("summary %q: %v", out, err)
	}
	if s.Error != nil {
		t.Fatalf("SDK error: %s (%+v)", *s.Error, s)
	}
	if !s.SetupComplete || len(s.Turns) != 2 || s.ChunksSent < 100 {
		t.Fatalf("summary %+v", s)
	}
	first, second := s.Turns[0], s.Turns[1]
	if first.Heard != question || !first.Interrupted || first.AudioBytes == 0 || first.AudioBytes >= 60*48000 {
		t.Errorf("first turn %+v", first)
	}
	_, reply := livetest.Speak(stop)
	if second.Heard != stop || second.Interrupted || second.Transcript != reply {
		t.Errorf("second turn %+v", second)
	}
	want := []string{"activityStart", "activityEnd", "inputTranscription", "audio", "activityStart", "interrupted",
		"turnComplete", "activityEnd", "inputTranscription", "audio", "turnComplete"}
	if !slices.Equal(s.Order, want) {
		t.Errorf("order %v\nwant  %v", s.Order, want)
	}
	var setup struct {
		InputAudioTranscription *struct{}
		RealtimeInputConfig     struct {
			AutomaticActivityDetection struct {
				StartOfSpeechSensitivity string
				SilenceDurationMs        json.Number
			}
			ActivityHandling string
		}
	}
	json.Unmarshal(srv.LastSetup(), &setup)
	if rc := setup.RealtimeInputConfig; setup.InputAudioTranscription == nil || rc.ActivityHandling != "START_OF_ACTIVITY_INTERRUPTS" ||
		rc.AutomaticActivityDetection.StartOfSpeechSensitivity != "START_SENSITIVITY_HIGH" || rc.AutomaticActivityDetection.SilenceDurationMs != "300" {
		t.Errorf("setup %s", srv.LastSetup())
	}
	if p := srv.Prompts(); len(p) != 2 || p[0] != question || p[1] != stop {
		t.Errorf("prompts %q", p)
	}
}
