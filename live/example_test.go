package live_test

import (
	"context"
	"fmt"
	"io"
	"log"

	"github.com/livecord/livecord/live"
	"github.com/livecord/livecord/live/livetest"
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
