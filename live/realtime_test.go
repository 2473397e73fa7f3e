package live_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/livecord/livecord/live"
	"github.com/livecord/livecord/live/livetest"
	"github.com/livecord/livecord/resample"
)

const (
	question = "What is the weather like in Paris today?"
	bargeIn  = "Stop, tell me a joke instead."
)

// speech16k is the emulator's synthetic voice saying text, at 16 kHz as a
// microphone path would send it, with lead silence.
func speech16k(t testing.TB, text string) []int16 {
	t.Helper()
	r, err := resample.New(livetest.SampleRate, live.InputRate, 1)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]int16, live.InputRate/5) // 200 ms of silence first
	out = r.Process(out, livetest.Say(text))
	return r.Flush(out)
}

func silence(d time.Duration) []int16 { return make([]int16, int(d.Seconds()*live.InputRate)) }

// stream sends pcm as a voice path does: 20 ms at a time, here faster than
// real time (the emulator judges activity in audio time).
func stream(t *testing.T, s *live.Session, pcm []int16) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b := pcmBytes(pcm)
	for lo := 0; lo < len(b); lo += 640 {
		if err := s.SendAudio(ctx, b[lo:min(lo+640, len(b))]); err != nil {
			t.Fatalf("SendAudio: %v", err)
		}
	}
}

func nextTurn(t *testing.T, s *live.Session) *live.Turn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	turn, err := s.NextTurn(ctx)
	if err != nil {
		t.Fatalf("NextTurn: %v", err)
	}
	return turn
}

// heardText joins a result's input transcript; drain keeps only output.
func heard(t *testing.T, turn *live.Turn) (result, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var r result
	var in string
	for {
		ev, err := turn.Next(ctx)
		if err != nil {
			if !errors.Is(err, io.EOF) {
				r.err = err
			}
			return r, in
		}
		r.kinds = append(r.kinds, ev.Kind)
		switch ev.Kind {
		case live.EventAudio:
			r.audio = append(r.audio, ev.Audio...)
		case live.EventOutputTranscript:
			r.transcript += ev.Text
		case live.EventInputTranscript:
			in += ev.Text
		}
	}
}

func realtimeConfig(srv *livetest.Server) live.Config {
	cfg := config(srv, nil)
	cfg.InputTranscription = true
	cfg.Realtime = &live.Realtime{SilenceDuration: 300 * time.Millisecond}
	return cfg
}

// A spoken exchange: context added without a reply, speech streamed, the
// server's activity detection ends the turn on silence, and the reply
// arrives as a turn the server started, opened by what it heard.
func TestSpokenTurn(t *testing.T) {
	srv := livetest.NewServer(t, livetest.Options{})
	srv.Hear(question, livetest.Say(question), livetest.SampleRate)
	srv.Hear(bargeIn, livetest.Say(bargeIn), livetest.SampleRate)
	var mu sync.Mutex
	var reqs []livetest.Request
	srv.Respond(func(r livetest.Request) livetest.Reply {
		mu.Lock()
		reqs = append(reqs, r)
		mu.Unlock()
		return livetest.Reply{}
	})
	s := dial(t, realtimeConfig(srv))
	ctx := context.Background()
	if err := s.SendContext(ctx, "Alice is speaking."); err != nil {
		t.Fatal(err)
	}
	stream(t, s, append(speech16k(t, question), silence(time.Second)...))
	turn := nextTurn(t, s)
	r, in := heard(t, turn)
	if r.err != nil || in != question || turn.Heard() != question {
		t.Fatalf("err %v, heard %q (Turn.Heard %q)", r.err, in, turn.Heard())
	}
	want := []live.EventKind{live.EventActivityStart, live.EventActivityEnd, live.EventInputTranscript}
	if !slices.Equal(r.kinds[:3], want) || r.kinds[len(r.kinds)-1] != live.EventTurnComplete {
		t.Errorf("events %v", r.kinds)
	}
	pcm, transcript := livetest.Speak(question)
	if r.transcript != transcript || len(r.audio) != 2*len(pcm) {
		t.Errorf("reply %q, %d bytes", r.transcript, len(r.audio))
	}
	mu.Lock()
	defer mu.Unlock()
	if len(reqs) != 1 || !reqs[0].Spoken || reqs[0].Context != "Alice is speaking." || reqs[0].Prompt != question {
		t.Errorf("requests %+v", reqs)
	}
	var setup struct {
		InputAudioTranscription *struct{}
		RealtimeInputConfig     struct {
			AutomaticActivityDetection struct{ SilenceDurationMs int }
			ActivityHandling           string
		}
	}
	if err := json.Unmarshal(srv.LastSetup(), &setup); err != nil || setup.InputAudioTranscription == nil ||
		setup.RealtimeInputConfig.ActivityHandling != "START_OF_ACTIVITY_INTERRUPTS" ||
		setup.RealtimeInputConfig.AutomaticActivityDetection.SilenceDurationMs != 300 {
		t.Errorf("setup %s", srv.LastSetup())
	}
}

// Barge-in: speech over a reply interrupts it (activity start, interrupted,
// turnComplete), and audioStreamEnd ends the new speech at once.
func TestSpokenBargeIn(t *testing.T) {
	srv := livetest.NewServer(t, livetest.Options{})
	srv.Hear(question, livetest.Say(question), livetest.SampleRate)
	srv.Hear(bargeIn, livetest.Say(bargeIn), livetest.SampleRate)
	srv.Script(livetest.Reply{Duration: time.Minute})
	s := dial(t, realtimeConfig(srv))
	stream(t, s, append(speech16k(t, question), silence(time.Second)...))
	first := nextTurn(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		ev, err := first.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if ev.Kind == live.EventAudio {
			break
		}
	}
	stream(t, s, speech16k(t, bargeIn))
	if err := s.SendAudioEnd(ctx); err != nil {
		t.Fatal(err)
	}
	r1, _ := heard(t, first)
	n := len(r1.kinds)
	if r1.err != nil || n < 3 || !slices.Equal(r1.kinds[n-3:], []live.EventKind{live.EventActivityStart, live.EventInterrupted, live.EventTurnComplete}) {
		t.Fatalf("interrupted turn: err %v, ends %v", r1.err, r1.kinds[max(0, n-4):])
	}
	if live.AudioDuration(len(first.Audio())) >= time.Minute {
		t.Error("the whole reply arrived despite the barge-in")
	}
	r2, in := heard(t, nextTurn(t, s))
	_, transcript := livetest.Speak(bargeIn)
	if r2.err != nil || in != bargeIn || r2.transcript != transcript || r2.kinds[0] != live.EventActivityEnd {
		t.Fatalf("second turn: err %v, heard %q, reply %q, events %v", r2.err, in, r2.transcript, r2.kinds)
	}
}

// With activity detection off, the caller marks the speech; the service
// sends no activity events of its own.
func TestManualActivity(t *testing.T) {
	srv := livetest.NewServer(t, livetest.Options{})
	srv.Hear(question, livetest.Say(question), livetest.SampleRate)
	cfg := realtimeConfig(srv)
	cfg.Realtime = &live.Realtime{ManualActivity: true}
	s := dial(t, cfg)
	ctx := context.Background()
	if err := s.Activity(ctx, true); err != nil {
		t.Fatal(err)
	}
	stream(t, s, speech16k(t, question))
	if err := s.Activity(ctx, false); err != nil {
		t.Fatal(err)
	}
	r, in := heard(t, nextTurn(t, s))
	if r.err != nil || in != question || slices.Contains(r.kinds, live.EventActivityStart) {
		t.Fatalf("err %v heard %q events %v", r.err, in, r.kinds)
	}
	// audioStreamEnd is for automatic detection only (the service would
	// close the connection with 1007): refused locally.
	var le *live.Error
	if err := s.SendAudioEnd(ctx); !errors.As(err, &le) || le.Class != live.ClassInvalidConfig {
		t.Fatalf("SendAudioEnd with manual activity: %v", err)
	}
}

// Unrecognised speech is answered without a transcription; streamed audio
// without Config.Realtime is refused.
func TestUnrecognisedSpeechAndNoRealtime(t *testing.T) {
	srv := livetest.NewServer(t, livetest.Options{})
	s := dial(t, realtimeConfig(srv))
	stream(t, s, append(speech16k(t, question), silence(time.Second)...))
	r, in := heard(t, nextTurn(t, s))
	if r.err != nil || in != "" || r.transcript != livetest.DefaultTranscript("") {
		t.Fatalf("err %v heard %q reply %q", r.err, in, r.transcript)
	}
	plain := dial(t, config(srv, nil))
	var le *live.Error
	if err := plain.SendAudio(context.Background(), []byte{0, 0}); !errors.As(err, &le) || le.Class != live.ClassInvalidConfig {
		t.Fatalf("SendAudio without Realtime: %v", err)
	}
}

// A question that takes longer than StallTimeout to say is not a stalled
// reply: while its audio streams, the turn the server opened on hearing it
// start keeps its clocks at zero.
func TestLongQuestionIsNotAStall(t *testing.T) {
	srv := livetest.NewServer(t, livetest.Options{})
	srv.Hear(question, livetest.Say(question), livetest.SampleRate)
	cfg := realtimeConfig(srv)
	cfg.StallTimeout = 300 * time.Millisecond
	s := dial(t, cfg)
	speech := pcmBytes(speech16k(t, question))
	done := make(chan error, 1)
	go func() {
		// At real time, as a microphone sends it: the speech lasts several
		// stall timeouts.
		ctx := context.Background()
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for lo := 0; lo < len(speech); lo += 640 {
			<-tick.C
			if err := s.SendAudio(ctx, speech[lo:min(lo+640, len(speech))]); err != nil {
				done <- err
				return
			}
		}
		done <- s.SendAudioEnd(ctx)
	}()
	start := time.Now()
	r, in := heard(t, nextTurn(t, s))
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if r.err != nil || in != question || !r.has(live.EventTurnComplete) {
		t.Fatalf("after %v: err %v, heard %q, events %v", time.Since(start), r.err, in, r.kinds)
	}
	if el := time.Since(start); el < 3*cfg.StallTimeout {
		t.Errorf("the question took only %v to stream", el)
	}
}
