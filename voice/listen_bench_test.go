package voice_test

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"layeh.com/gopus"

	phrases "github.com/livecord/livecord/audio/speech"
	"github.com/livecord/livecord/voice"
	"github.com/livecord/livecord/voice/inbound"
	"github.com/livecord/livecord/voice/internal/wire"
	"github.com/livecord/livecord/voice/player"
	"github.com/livecord/livecord/voice/voicetest"
	"github.com/pion/rtp"
)

// allSpeech is every phrase back to back, as a Discord client encodes it.
func allSpeech(b *testing.B) [][]byte {
	b.Helper()
	ps, err := phrases.Phrases()
	if err != nil {
		b.Fatal(err)
	}
	var pcm []int16
	for _, p := range ps {
		pcm = append(pcm, p.PCM...)
	}
	fs, err := voicetest.EncodeOpus(pcm)
	if err != nil {
		b.Fatal(err)
	}
	return fs
}

// BenchmarkListenPacket is one speaking user's receive cost per 20 ms
// packet, end to end on the bot's side: transport AEAD open, RTP header,
// SSRC → user, DAVE decryption, then voice/inbound (jitter buffer, Opus
// decode, downmix, 48→16 kHz, onset) and the listener call; against
// libopus decoding the same frames alone. The two alternate in blocks of 50
// packets, so a busy machine slows both alike; x_opus_decode is the ratio,
// speakers_per_core = 20 ms / path time.
//
//	go test -run '^$' -bench ListenPacket -benchmem -count 3 ./voice/
func BenchmarkListenPacket(b *testing.B) {
	for _, withDAVE := range []bool{true, false} {
		name := "transport+dave"
		if !withDAVE {
			name = "transport"
		}
		b.Run(name, func(b *testing.B) {
			frames := allSpeech(b)
			var sender, receiver *voice.DAVE
			if withDAVE {
				sender, receiver = daveGroup(b) // the bot's and the user's layers: the user hears the bot
			}
			ci, _ := wire.NewCipher(wire.ModeAES256GCM, testKey())
			var samples atomic.Int64
			var e2ee voice.E2EE
			if receiver != nil {
				e2ee = receiver
			}
			// Continuous speech: no turn cap in the way.
			r := voice.NewBareReceiver(ci, e2ee, inbound.Config{MaxTurn: 24 * time.Hour}, func(ev inbound.Event) { samples.Add(int64(len(ev.PCM))) })
			defer r.Close()
			r.Map(7, botID)
			dec, err := gopus.NewDecoder(48000, 2)
			if err != nil {
				b.Fatal(err)
			}
			const block = 50
			pkts := make([][]byte, block)
			var daveBuf []byte
			var path, opus time.Duration
			at := time.Now()
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; {
				n := min(block, b.N-i)
				for k := range n { // what the sender does, outside both timings
					f := frames[(i+k)%len(frames)]
					if sender != nil {
						if daveBuf, err = sender.EncryptOpus(daveBuf[:0], f); err != nil {
							b.Fatal(err)
						}
						f = daveBuf
					}
					h := rtp.Header{Version: 2, PayloadType: wire.PayloadTypeOpus, SequenceNumber: uint16(i + k), Timestamp: uint32((i + k) * 960), SSRC: 7}
					pkts[k], _ = ci.Seal(pkts[k][:0], &h, f, uint32(i+k+1))
				}
				start := time.Now()
				for k := range n {
					at = at.Add(20 * time.Millisecond)
					r.Datagram(pkts[k], at)
				}
				mid := time.Now()
				for k := range n {
					if _, err := dec.Decode(frames[(i+k)%len(frames)], 960, false); err != nil {
						b.Fatal(err)
					}
				}
				path += mid.Sub(start)
				opus += time.Since(mid)
				i += n
			}
			b.StopTimer()
			st := r.Stats()
			if st.Inbound.Frames != uint64(b.N) || st.E2EEFailed != 0 || st.Undecryptable != 0 {
				b.Fatalf("decoded %d of %d packets: %+v", st.Inbound.Frames, b.N, st)
			}
			perFrame := path / time.Duration(b.N)
			b.ReportMetric(float64(perFrame.Nanoseconds()), "path_ns/frame")
			b.ReportMetric(float64(opus.Nanoseconds())/float64(b.N), "opus_ns/frame")
			b.ReportMetric(float64(path)/float64(opus), "x_opus_decode")
			b.ReportMetric(float64(20*time.Millisecond)/float64(perFrame), "speakers_per_core")
		})
	}
}

// BenchmarkListeningLoad runs whole calls on the voice emulator with DAVE:
// channels × speakers members speak pre-encoded speech in real time
// (Speaker.SpeakOpus) while the bot, connected to every channel, listens to
// all of them and speaks a reply in each through its Player. It reports the
// bot's sending lateness (p99 behind the 20 ms slot, the median stream's and
// the worst stream's) beside a bare 20 ms timer loop's p99 in the same run,
// the share of the speakers' frames the bot decoded, and the process CPU per
// speaker-second (everything: bot, emulator, speakers). Run on one core:
//
//	go test -run '^$' -bench ListeningLoad -benchtime 1x -cpu 1 ./voice/
func BenchmarkListeningLoad(b *testing.B) {
	for _, tc := range []struct{ channels, speakers int }{{1, 25}, {50, 1}} {
		b.Run(fmt.Sprintf("channels=%d,speakers=%d", tc.channels, tc.speakers), func(b *testing.B) {
			for b.Loop() {
				runListening(b, tc.channels, tc.speakers, 6*time.Second)
			}
		})
	}
}

func runListening(b *testing.B, channels, speakers int, d time.Duration) {
	es := voicetest.NewExternalSender()
	srv, err := voicetest.New(voicetest.Options{DAVE: es, RequireDAVE: true})
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), d+2*time.Minute)
	defer cancel()
	frames := allSpeech(b)
	n := int(d / (20 * time.Millisecond))
	frames = slices.Repeat(frames, n/len(frames)+1)[:n]

	bots := make([]botConn, channels)
	var sps []*voicetest.Speaker
	var heard atomic.Int64
	for c := range channels {
		guild, channel := fmt.Sprintf("5%017d", c), fmt.Sprintf("6%017d", c)
		dv, err := voice.NewDAVE(snowflake(b, botID), snowflake(b, channel), nil)
		if err != nil {
			b.Fatal(err)
		}
		conn, err := voice.Dial(ctx, voice.Config{Server: srv.Grant(guild, channel, botID, "bot-"+channel), UserID: botID,
			GuildID: guild, ChannelID: channel, TLSConfig: srv.ClientTLS(), E2EE: dv})
		if err != nil {
			b.Fatal(err)
		}
		defer conn.Close()
		conn.Listen(func(ev inbound.Event) {
			if ev.Kind == inbound.Audio {
				heard.Add(1)
			}
		})
		bots[c] = botConn{conn: conn, dave: dv}
		for s := range speakers {
			sp, err := srv.Join(ctx, guild, channel, fmt.Sprintf("7%05d%012d", c, s))
			if err != nil {
				b.Fatal(err)
			}
			defer sp.Close()
			sps = append(sps, sp)
		}
	}
	for _, bc := range bots {
		if err := bc.dave.WaitReady(ctx); err != nil {
			b.Fatal(err)
		}
	}
	for _, sp := range sps {
		if err := sp.WaitReady(ctx); err != nil {
			b.Fatal(err)
		}
	}
	for i := range bots {
		if bots[i].p, err = player.New(ctx, bots[i].conn, player.Config{}); err != nil {
			b.Fatal(err)
		}
		defer bots[i].p.Close()
	}
	reply := speech()

	noiseCtx, stopNoise := context.WithCancel(ctx)
	noise := timerNoise(noiseCtx)
	cpu0 := cpuTime()
	var wg sync.WaitGroup
	for i, sp := range sps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pause(ctx, time.Duration(i)*20*time.Millisecond/time.Duration(len(sps))) // clients' clocks are not aligned
			if err := sp.SpeakOpus(ctx, frames, voicetest.SpeakOptions{}); err != nil {
				b.Error(err)
			}
		}()
	}
	for i, bc := range bots {
		wg.Add(1)
		go func() { // the Live side of each reply: 100 ms chunks at twice real time
			defer wg.Done()
			pause(ctx, time.Duration(i)*time.Millisecond)
			total := int(d.Seconds() * 24000)
			tick := time.NewTicker(50 * time.Millisecond)
			defer tick.Stop()
			for off := 0; off < total; off += 2400 {
				s := off % (len(reply) - 2400)
				bc.p.Write(reply[s : s+2400])
				<-tick.C
			}
			bc.p.EndTurn()
			bc.p.Wait(ctx)
		}()
	}
	wg.Wait()
	cpu := cpuTime() - cpu0
	stopNoise()
	// Let the last packets and pause decisions land, then count.
	want := int64(len(sps)) * int64(n)
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); {
		if frames := decoded(bots); frames >= uint64(want) {
			break
		}
		pause(ctx, 20*time.Millisecond)
	}
	var p99s []time.Duration
	var late, rate uint64
	var sum voice.ReceiveStats
	for _, bc := range bots {
		p99s = append(p99s, bc.p.Stats().LateP99)
		st := bc.conn.ReceiveStats()
		late += st.Inbound.Late
		rate += st.Inbound.RateLimited
		sum.Datagrams += st.Datagrams
		sum.E2EEFailed += st.E2EEFailed
		sum.Unmapped += st.Unmapped
		sum.Undecryptable += st.Undecryptable
		sum.Inbound.Frames += st.Inbound.Frames
		sum.Inbound.Concealed += st.Inbound.Concealed
	}
	b.Logf("%d speakers × %d frames; the bots' receive counters summed: %+v", len(sps), n, sum)
	slices.Sort(p99s)
	b.ReportMetric(float64(p99s[len(p99s)/2].Microseconds())/1000, "p99-late-ms")
	b.ReportMetric(float64(p99s[len(p99s)-1].Microseconds())/1000, "worst-stream-p99-late-ms")
	b.ReportMetric(float64(noise().Microseconds())/1000, "bare-timer-p99-late-ms")
	b.ReportMetric(float64(decoded(bots))/float64(want), "heard-fraction")
	b.ReportMetric(float64(late+rate), "late+ratelimited")
	b.ReportMetric(cpu.Seconds()*1000/(float64(len(sps))*d.Seconds()), "cpu-ms/speaker-s")
}

type botConn struct {
	conn *voice.Conn
	dave *voice.DAVE
	p    *player.Player
}

// decoded is the frames the bots decoded.
func decoded(bots []botConn) uint64 {
	var n uint64
	for _, bc := range bots {
		n += bc.conn.ReceiveStats().Inbound.Frames
	}
	return n
}

func pause(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// BenchmarkListeningMemory is the heap one listening channel holds for
// its receive side (the Receiver, one speaker's pipeline with its decoder,
// resampler and buffers, the hold and counters), measured over 50 channels
// each fed 2 s of one speaker's speech, against a bare libopus decoder
// (48 kHz stereo) measured in the same run.
//
//	go test -run '^$' -bench ListeningMemory -benchtime 1x ./voice/
func BenchmarkListeningMemory(b *testing.B) {
	const channels = 50
	frames := allSpeech(b)[:100]
	ci, _ := wire.NewCipher(wire.ModeAES256GCM, testKey())
	pkts := make([][]byte, len(frames))
	for i, f := range frames {
		h := rtp.Header{Version: 2, PayloadType: wire.PayloadTypeOpus, SequenceNumber: uint16(i), Timestamp: uint32(i * 960), SSRC: 7}
		pkts[i], _ = ci.Seal(nil, &h, f, uint32(i+1))
	}
	heap := func() uint64 {
		runtime.GC()
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	for b.Loop() {
		before := heap()
		decs := make([]*gopus.Decoder, channels)
		for i := range decs {
			decs[i], _ = gopus.NewDecoder(48000, 2)
		}
		perDecoder := float64(heap()-before) / channels
		runtime.KeepAlive(decs)
		decs = nil

		before = heap()
		rs := make([]*voice.BareReceiver, channels)
		for i := range rs {
			rs[i] = voice.NewBareReceiver(ci, nil, inbound.Config{}, func(inbound.Event) {})
			rs[i].Map(7, userID)
			at := time.Now()
			for _, p := range pkts {
				at = at.Add(20 * time.Millisecond)
				rs[i].Datagram(p, at)
			}
		}
		perChannel := float64(heap()-before) / channels
		for _, r := range rs {
			if r.Stats().Inbound.Frames != uint64(len(pkts)) {
				b.Fatalf("decoded %d of %d", r.Stats().Inbound.Frames, len(pkts))
			}
			r.Close()
		}
		b.ReportMetric(perChannel/1000, "KB/channel")
		b.ReportMetric(perDecoder/1000, "KB/opus-decoder")
		b.ReportMetric(perChannel/perDecoder, "x_opus_decoder")
	}
}

// cpuTime is the process's user+system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
