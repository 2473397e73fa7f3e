package livetest_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"time"

	"github.com/livecord/livecord/live"
	"github.com/livecord/livecord/live/livetest"
)

// Script a reply, then fail the next one mid-stream with a 1011.
func ExampleServer_Script() {
	srv, err := livetest.New(livetest.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	srv.Script(
		livetest.Reply{Transcript: "Hi.", Duration: 480 * time.Millisecond},
		livetest.Reply{Fault: livetest.Fault{Kind: livetest.FaultClose, AfterChunks: 1, Code: 1011, Reason: "Internal error encountered."}},
	)
	ctx := context.Background()
	sess, err := live.Dial(ctx, live.Config{APIKey: srv.Key, BaseURL: srv.URL(), OutputTranscription: true})
	if err != nil {
		log.Fatal(err)
	}
	defer sess.Close()
	for _, prompt := range []string{"Hello", "Again"} {
		turn, err := sess.Send(ctx, prompt)
		if err != nil {
			log.Fatal(err)
		}
		for err == nil {
			_, err = turn.Next(ctx)
		}
		if err != io.EOF {
			fmt.Println("error:", err)
		}
		fmt.Printf("%q %v\n", turn.Transcript(), live.AudioDuration(len(turn.Audio())))
	}
	// Output:
	// "Hi." 480ms
	// error: live: receive: transient (close 1011): Internal error encountered. after 240ms of audio
	// "I" 240ms
}
