package voice_test

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/livecord/livecord/live/livetest"
	"github.com/livecord/livecord/voice/internal/wire"
	"github.com/livecord/livecord/voice/player"

	"github.com/coder/websocket"
	"github.com/livecord/livecord/voice/voicetest"
)

// bothPools trusts the certificates of several emulators.
func bothPools(srvs ...*voicetest.Server) *x509.CertPool {
	p := x509.NewCertPool()
	for _, s := range srvs {
		b, _ := pem.Decode(s.CertPEM())
		c, _ := x509.ParseCertificate(b.Bytes)
		p.AddCert(c)
	}
	return p
}

func websocketCode(c int) websocket.StatusCode { return websocket.StatusCode(c) }

func testKey() wire.SecretKey {
	var k wire.SecretKey
	for i := range k {
		k[i] = byte(i + 1)
	}
	return k
}

// waitTail waits until user's frames from index from on end with the
// five-frame silence tail (the player reports idle once it sent them; the
// emulator may still be reading them).
func waitTail(ctx context.Context, t *testing.T, srv *voicetest.Server, user string, from int) []voicetest.Frame {
	t.Helper()
	fs, err := srv.WaitFrames(ctx, user, func(f []voicetest.Frame) bool {
		if len(f)-from < 5 {
			return false
		}
		for _, x := range f[len(f)-5:] {
			if !x.IsSilence() {
				return false
			}
		}
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	return fs
}

// speech is the Live emulator's synthetic reply voice (24 kHz mono).
func speech() []int16 {
	return livetest.Say("Hello there. This is a test of the voice player, speaking as the reply streams in.")
}

// chunks splits pcm into Live-sized chunks (varying 20–120 ms, as the service sends).
func chunks(pcm []int16) [][]int16 {
	var out [][]int16
	sizes := []int{960, 2880, 480, 1440, 1920, 720}
	for i := 0; len(pcm) > 0; i++ {
		n := min(sizes[i%len(sizes)], len(pcm))
		out = append(out, pcm[:n])
		pcm = pcm[n:]
	}
	return out
}

// pacing returns the median arrival interval, the 99th percentile of its
// deviation from 20 ms, and the drift of the clock over the stream.
func pacing(fs []voicetest.Frame) (median, p99dev, drift time.Duration) {
	var iv []time.Duration
	var dev []time.Duration
	for i := 1; i < len(fs); i++ {
		d := fs[i].Arrival.Sub(fs[i-1].Arrival)
		iv = append(iv, d)
		dev = append(dev, (d - 20*time.Millisecond).Abs())
	}
	sort.Slice(iv, func(i, j int) bool { return iv[i] < iv[j] })
	sort.Slice(dev, func(i, j int) bool { return dev[i] < dev[j] })
	// Drift: how far the clock moved from n·20 ms between the first and the
	// last second of the stream (medians, so one late packet is not drift).
	offset := func(from, to int) time.Duration {
		var o []time.Duration
		for i := from; i < to; i++ {
			o = append(o, fs[i].Arrival.Sub(fs[0].Arrival)-time.Duration(i)*20*time.Millisecond)
		}
		slices.Sort(o)
		return o[len(o)/2]
	}
	w := min(50, len(fs)/2)
	drift = offset(len(fs)-w, len(fs)) - offset(0, w)
	return iv[len(iv)/2], dev[len(dev)*99/100], drift
}

// streamFor writes d of speech to p as fast as Live would (in chunks, ahead of real time).
func streamFor(ctx context.Context, t *testing.T, p *player.Player, d time.Duration) {
	pcm := speech()
	total := int(d.Seconds() * 24000)
	for sent := 0; sent < total; {
		for _, c := range chunks(pcm) {
			if sent >= total {
				break
			}
			c = c[:min(len(c), total-sent)]
			if err := p.Write(c); err != nil {
				t.Fatal(err)
			}
			sent += len(c)
		}
	}
	if err := p.EndTurn(); err != nil {
		t.Fatal(err)
	}
}

// timerNoise runs a bare 20 ms timer loop anchored like the player's until
// ctx ends, and returns its p99 lateness: the scheduling noise the machine
// imposes in this run, the reference the player's pacing is judged against.
func timerNoise(ctx context.Context) func() time.Duration {
	res := make(chan time.Duration, 1)
	go func() {
		var late []time.Duration
		start := time.Now()
		for n := 1; ; n++ {
			at := start.Add(time.Duration(n) * 20 * time.Millisecond)
			t := time.NewTimer(time.Until(at))
			select {
			case <-ctx.Done():
				t.Stop()
				slices.Sort(late)
				res <- late[len(late)*99/100]
				return
			case <-t.C:
				late = append(late, time.Since(at))
			}
		}
	}()
	return func() time.Duration { return <-res }
}

// gapBound starts a timerNoise reference and returns a func that stops it
// and gives base plus four times the bare timer's p99 lateness: a wall-clock
// gap over that is the code's, not the machine's.
func gapBound(ctx context.Context, base time.Duration) func() time.Duration {
	ctx, cancel := context.WithCancel(ctx)
	noise := timerNoise(ctx)
	return func() time.Duration {
		cancel()
		return base + 4*noise()
	}
}
