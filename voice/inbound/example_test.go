package inbound_test

import (
	"fmt"
	"math"
	"time"

	"layeh.com/gopus"

	"github.com/livecord/livecord/voice/inbound"
)

// The voice connection calls Packet for every decrypted audio packet and
// Tick every 10 ms, and acts on the events: Audio to Live as
// realtimeInput.audio, Onset to stop the bot's own audio (barge-in), End to
// send audioStreamEnd.
func Example() {
	r := inbound.New(inbound.Config{})
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var evs []inbound.Event
	handle := func() {
		for _, e := range evs {
			switch e.Kind {
			case inbound.Start:
				fmt.Println(e.UserID, "starts a turn")
			case inbound.Onset:
				fmt.Println(e.UserID, "is speaking: stop the bot's audio")
			case inbound.End:
				fmt.Println(e.UserID, "ends the turn:", e.Reason)
			}
		}
	}

	// Half a second of a 150 Hz buzz from user "42" on SSRC 7, 20 ms packets.
	enc, _ := gopus.NewEncoder(48000, 2, gopus.Voip)
	pcm := make([]int16, 2*960)
	now := start
	for i := 0; i < 25; i++ {
		for k := 0; k < 960; k++ {
			v := int16(6000 * math.Sin(2*math.Pi*150*float64(i*960+k)/48000))
			pcm[2*k], pcm[2*k+1] = v, v
		}
		opus, _ := enc.Encode(pcm, 960, 1275)
		now = now.Add(20 * time.Millisecond)
		evs = r.Packet(evs[:0], inbound.Packet{SSRC: 7, UserID: "42", Sequence: uint16(i), Timestamp: uint32(i * 960), Opus: opus, Arrival: now})
		handle()
	}
	// The client stops sending; the ticks notice the pause.
	for k := 0; k < 50; k++ {
		now = now.Add(10 * time.Millisecond)
		evs = r.Tick(evs[:0], now)
		handle()
	}
	fmt.Println("frames decoded:", r.Stats().Frames)
	// Output:
	// 42 starts a turn
	// 42 is speaking: stop the bot's audio
	// 42 ends the turn: paused
	// frames decoded: 25
}
