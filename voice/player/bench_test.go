package player_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/livecord/livecord/voice/internal/opusq"
	"github.com/livecord/livecord/voice/internal/wire"
	"github.com/livecord/livecord/voice/player"

	"github.com/livecord/livecord/resample"
	"github.com/livecord/livecord/voice"
	"github.com/livecord/livecord/voice/voicetest"
	"github.com/pion/rtp"
	"layeh.com/gopus"
)

// BenchmarkOpusEncodeFrame is a reference cost: libopus (gopus, at its
// default complexity 9 and no signal hint, as the player encoded before
// Config.Complexity) encoding the same speech as BenchmarkPlayerWrite, one
// 20 ms 48 kHz stereo frame at 64 kb/s per op, already resampled. The
// player's own setting is measured by player.EncodeCost in
// BenchmarkConcurrentStreams.
func BenchmarkOpusEncodeFrame(b *testing.B) {
	enc, err := gopus.NewEncoder(48000, 2, gopus.Audio)
	if err != nil {
		b.Fatal(err)
	}
	enc.SetBitrate(64000)
	rs, _ := resample.New(24000, 48000, 1)
	mono := rs.Process(nil, speech())
	stereo := make([]int16, 2*len(mono))
	for i, v := range mono {
		stereo[2*i], stereo[2*i+1] = v, v
	}
	frames := len(stereo) / (2 * wire.FrameSamples)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		f := i % frames
		if _, err := enc.Encode(stereo[f*2*wire.FrameSamples:(f+1)*2*wire.FrameSamples], wire.FrameSamples, 1500); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

type nullSink struct{}

func (nullSink) SetSpeaking(context.Context, bool) error { return nil }
func (nullSink) WriteOpus([]byte) error                  { return nil }

// BenchmarkPlayerWrite is Write's own cost per 20 ms of Live audio (480
// samples at 24 kHz → resample → queue as PCM; the first frame after each
// Interrupt is encoded in Write, the rest by the scheduler on other
// goroutines as their slots near, which this does not time).
func BenchmarkPlayerWrite(b *testing.B) {
	p, err := player.New(context.Background(), nullSink{}, player.Config{})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	pcm := speech()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		s := (i * 480) % (len(pcm) - 480)
		if err := p.Write(pcm[s : s+480]); err != nil {
			b.Fatal(err)
		}
		if i++; i%1000 == 0 {
			p.Interrupt() // keep the queue short; the sender plays in real time
		}
	}
}

// BenchmarkTransportSeal is the transport path's per-packet cost (RTP header
// and AEAD) for a 160-byte Opus frame.
func BenchmarkTransportSeal(b *testing.B) {
	payload := make([]byte, 160)
	for _, mode := range wire.SupportedModes {
		b.Run(mode, func(b *testing.B) {
			c, _ := wire.NewCipher(mode, testKey())
			h := rtp.Header{Version: 2, PayloadType: 120, SSRC: 1}
			buf := make([]byte, 0, 256)
			b.ReportAllocs()
			b.SetBytes(int64(len(payload)))
			var n uint32
			for b.Loop() {
				n++
				h.SequenceNumber++
				buf, _ = c.Seal(buf[:0], &h, payload, n)
			}
		})
	}
}

// BenchmarkConcurrentStreams plays streams replies at once, each a Player →
// Conn → voice emulator (each bot in its own call), with the Live-side
// producer writing 100 ms chunks of 24 kHz speech at twice real time as the
// service does. It reports the p99 lateness of packets behind their 20 ms
// slot over all streams (and the worst single stream's), underruns, frames
// the senders had to encode inline, the first-packet latency (a turn's first
// Write → its first packet), the process CPU per stream, and two references
// measured in the same run: the p99 lateness of a bare 20 ms timer loop
// running beside the streams (the machine's own scheduling noise) and
// libopus's thread CPU per frame at the player's setting (encode-us/frame),
// whence floor-streams = 20 ms / that cost, the most streams one core could
// encode, and floor-frac = streams / floor-streams.
// Run with one core:
//
//	go test -run '^$' -bench ConcurrentStreams -benchtime 1x -cpu 1 ./voice/player/
func BenchmarkConcurrentStreams(b *testing.B) {
	stereo := speechStereo()
	for _, streams := range []int{50, 100, 150, 200} {
		b.Run(fmt.Sprintf("streams=%d", streams), func(b *testing.B) {
			for b.Loop() {
				// The players' setting: 64 kb/s, DefaultComplexity, voice.
				cost, err := opusq.EncodeCost(stereo, 64000, player.DefaultComplexity, 5)
				if err != nil {
					b.Fatal(err)
				}
				noiseCtx, stop := context.WithCancel(context.Background())
				noise := timerNoise(noiseCtx)
				const d = 6 * time.Second
				cpu0 := cpuTime()
				r := runStreams(b, streams, d)
				cpu := cpuTime() - cpu0
				stop()
				// CPU of the whole process (bots, producers and the emulator) per
				// second of one stream's audio: robust to the machine's other load.
				perStream := cpu.Seconds() / (float64(streams) * d.Seconds())
				floor := opusq.Floor(cost)
				b.ReportMetric(perStream*1000, "cpu-ms/stream-s")
				b.ReportMetric(1/perStream, "streams/core")
				b.ReportMetric(float64(r.p99.Microseconds())/1000, "p99-late-ms")
				b.ReportMetric(float64(r.worst.Microseconds())/1000, "worst-stream-p99-late-ms")
				b.ReportMetric(float64(noise().Microseconds())/1000, "bare-timer-p99-late-ms")
				b.ReportMetric(float64(r.underruns), "underruns")
				b.ReportMetric(float64(r.inline), "inline-encodes")
				b.ReportMetric(float64(r.firstP50.Microseconds())/1000, "first-packet-p50-ms")
				b.ReportMetric(float64(r.firstMax.Microseconds())/1000, "first-packet-max-ms")
				b.ReportMetric(float64(cost.Nanoseconds())/1000, "encode-us/frame")
				b.ReportMetric(floor, "floor-streams")
				b.ReportMetric(float64(streams)/floor, "floor-frac")
			}
		})
	}
}

// speechStereo is speech() resampled to 48 kHz and made stereo, as the
// player encodes it.
func speechStereo() []int16 {
	rs, _ := resample.New(24000, 48000, 1)
	mono := rs.Process(nil, speech())
	stereo := make([]int16, 2*len(mono))
	for i, v := range mono {
		stereo[2*i], stereo[2*i+1] = v, v
	}
	return stereo
}

// cpuTime is the process's user+system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

type streamsResult struct {
	p99, worst         time.Duration // over all packets; the worst stream's p99
	firstP50, firstMax time.Duration // first Write → first packet, over the streams
	underruns, inline  int64
}

// runStreams plays streams replies of d each at once and sums up what the
// senders saw.
func runStreams(b *testing.B, streams int, d time.Duration) streamsResult {
	srv, err := voicetest.New(voicetest.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), d+60*time.Second)
	defer cancel()
	pcm := speech()
	players := make([]*player.Player, streams)
	var (
		mu    sync.Mutex
		first []time.Duration
	)
	onFirst := func(d time.Duration) {
		mu.Lock()
		first = append(first, d)
		mu.Unlock()
	}
	for i := range streams {
		user := fmt.Sprintf("3%017d", i)
		channel := fmt.Sprintf("4%017d", i)
		c, err := voice.Dial(ctx, voice.Config{
			Server: srv.Grant(guildID, channel, user, "s"+user), UserID: user, GuildID: guildID,
			ChannelID: channel, TLSConfig: srv.ClientTLS(),
		})
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		if players[i], err = player.New(ctx, c, player.Config{OnFirstPacket: onFirst}); err != nil {
			b.Fatal(err)
		}
		defer players[i].Close()
	}
	var wg sync.WaitGroup
	for i, p := range players {
		wg.Add(1)
		go func() { // the Live side: 100 ms chunks at twice real time
			defer wg.Done()
			time.Sleep(time.Duration(i) * time.Millisecond) // turns start spread, as replies do
			total := int(d.Seconds() * 24000)
			tick := time.NewTicker(50 * time.Millisecond)
			defer tick.Stop()
			for off := 0; off < total; off += 2400 {
				s := off % (len(pcm) - 2400)
				p.Write(pcm[s : s+2400])
				<-tick.C
			}
			p.EndTurn()
			p.Wait(ctx)
		}()
	}
	wg.Wait()
	var r streamsResult
	var all []time.Duration
	for _, p := range players {
		st := p.Stats()
		r.worst = max(r.worst, st.LateP99)
		r.underruns += st.Underruns
		r.inline += st.InlineEncodes
		all = append(all, player.LatenessSamples(p)...)
	}
	slices.Sort(all)
	r.p99 = all[len(all)*99/100]
	mu.Lock()
	slices.Sort(first)
	if len(first) > 0 {
		r.firstP50, r.firstMax = first[len(first)/2], first[len(first)-1]
	}
	mu.Unlock()
	return r
}
