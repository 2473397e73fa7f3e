package live_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"log"
	"time"

	"github.com/livecord/livecord/live"
	"github.com/livecord/livecord/live/livetest"
	"github.com/livecord/livecord/resample"
)

// One text turn, audio and transcript out. In production the Config comes
// from the program's configuration (cmd/bot reads GEMINI_*); here it points at the in-repo emulator.
func ExampleDial() {
	srv, err := livetest.New(livetest.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	ctx := context.Background()

	sess, err := live.Dial(ctx, live.Config{APIKey: srv.Key, BaseURL: srv.URL(), OutputTranscription: true})
	if err != nil {
		log.Fatal(err)
	}
	defer sess.Close()
	turn, err := sess.Send(ctx, "Hello? Gemini are you there?")
	if err != nil {
		log.Fatal(err)
	}
	var pcm []byte
	for {
		ev, err := turn.Next(ctx)
		if err == io.EOF {
			break
		}
		if err != nil {
			log.Fatal(err) // an *live.Error: err.(*live.Error).UserMessage() is for the user
		}
		if ev.Kind == live.EventAudio {
			pcm = append(pcm, ev.Audio...) // PCM16LE, 24 kHz mono
		}
	}
	fmt.Println(turn.Transcript())
	fmt.Println(len(pcm) > 0, len(pcm) == len(turn.Audio()))
	// Output:
	// I am here. You said: Hello? Gemini are you there? This is the Live emulator.
	// true true
}

// A spoken conversation: audio streams in continuously, the service detects
// when the speaker starts and stops, and each reply arrives as a Turn the
// server starts. Speech over a reply interrupts it (EventInterrupted), and
// the new speech arrives as the next turn.
func ExampleSession_NextTurn() {
	srv, err := livetest.New(livetest.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	const question = "What is the weather like in Paris today?"
	srv.Hear(question, livetest.Say(question), livetest.SampleRate) // the emulator recognises this speech
	ctx := context.Background()

	sess, err := live.Dial(ctx, live.Config{APIKey: srv.Key, BaseURL: srv.URL(),
		InputTranscription: true, OutputTranscription: true,
		Realtime: &live.Realtime{SilenceDuration: 300 * time.Millisecond}})
	if err != nil {
		log.Fatal(err)
	}
	defer sess.Close()
	// Who speaks next, as context: no reply is asked for.
	if err := sess.SendContext(ctx, "Alice is speaking."); err != nil {
		log.Fatal(err)
	}
	// A microphone: 16 kHz mono PCM16LE in 20 ms pieces.
	rs, err := resample.New(livetest.SampleRate, live.InputRate, 1)
	if err != nil {
		log.Fatal(err)
	}
	mic := rs.Flush(rs.Process(nil, livetest.Say(question)))
	pcm := make([]byte, 2*len(mic))
	for i, v := range mic {
		binary.LittleEndian.PutUint16(pcm[2*i:], uint16(v))
	}
	for len(pcm) > 0 {
		n := min(640, len(pcm))
		if err := sess.SendAudio(ctx, pcm[:n]); err != nil {
			log.Fatal(err)
		}
		pcm = pcm[n:]
	}
	if err := sess.SendAudioEnd(ctx); err != nil { // the speaker's packets stopped
		log.Fatal(err)
	}

	turn, err := sess.NextTurn(ctx)
	if err != nil {
		log.Fatal(err)
	}
	for {
		ev, err := turn.Next(ctx)
		if err == io.EOF {
			break
		}
		if err != nil {
			log.Fatal(err)
		}
		switch ev.Kind {
		case live.EventInputTranscript:
			fmt.Println("heard:", ev.Text)
		case live.EventInterrupted:
			fmt.Println("interrupted: stop playback")
		}
	}
	fmt.Println("reply:", turn.Transcript())
	// Output:
	// heard: What is the weather like in Paris today?
	// reply: I am here. You said: What is the weather like in Paris today? This is the Live emulator.
}
