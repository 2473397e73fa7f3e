package bot_test

import (
	"context"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/livecord/livecord/discordtest"
	"github.com/livecord/livecord/live/livetest"
)

// BenchmarkAskDefer measures how long after INTERACTION_CREATE the bot's
// defer (type 5) reaches Discord, as the emulator times it; each answer is
// awaited outside the timer.
func BenchmarkAskDefer(b *testing.B) {
	h := newHarness(b, discordtest.Options{}, livetest.Options{Speed: math.Inf(1)})
	h.cfg.QueueCap = 1 << 20
	h.start()
	var lat []time.Duration
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	b.ResetTimer()
	for b.Loop() {
		ia := h.ask(h.alice, "hello there")
		cb, err := ia.WaitCallback(ctx)
		if err != nil {
			b.Fatal(err)
		}
		lat = append(lat, cb.Latency)
		b.StopTimer()
		answered(b, ia)
		b.StartTimer()
	}
	slices.Sort(lat)
	var sum time.Duration
	for _, l := range lat {
		sum += l
	}
	b.ReportMetric(float64(sum.Microseconds())/float64(len(lat))/1000, "defer-ms/op")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-defer-ms")
}
