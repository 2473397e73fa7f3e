package player_test

import (
	"context"
	"errors"
	"math"
	"os"
	"slices"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/livecord/livecord/voice/internal/wire"
	"github.com/livecord/livecord/voice/player"

	"github.com/livecord/livecord/live/livetest"
	"github.com/livecord/livecord/resample"
	"github.com/livecord/livecord/voice"
	"github.com/livecord/livecord/voice/voicetest"
	"layeh.com/gopus"
)

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

// decode turns received frames into 48 kHz mono (left channel) PCM.
func decode(t *testing.T, fs []voicetest.Frame) []float64 {
	t.Helper()
	dec, err := gopus.NewDecoder(48000, 2)
	if err != nil {
		t.Fatal(err)
	}
	var out []float64
	for _, f := range fs {
		pcm, err := dec.Decode(f.Payload, wire.FrameSamples, false)
		if err != nil {
			t.Fatalf("frame %d: opus decode: %v", f.Sequence, err)
		}
		for i := 0; i < len(pcm); i += 2 {
			out = append(out, float64(pcm[i]))
		}
	}
	return out
}

func TestPlayerEndToEndSNRAndSilenceTail(t *testing.T) {
	srv := voicetest.NewServer(t, voicetest.Options{})
	ctx := testCtx(t, 30*time.Second)
	bot := dial(t, srv, botID, nil)
	listener := dial(t, srv, userID, func(c *voice.Config) { c.ReceiveBuffer = 1024 })
	p := newPlayer(ctx, t, bot)
	pcm := speech()
	for _, c := range chunks(pcm) {
		if err := p.Write(c); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.EndTurn(); err != nil {
		t.Fatal(err)
	}
	if err := p.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	fs := waitTail(ctx, t, srv, botID, 0)
	// Five silence frames close the turn, and only they are silence.
	n := len(fs) - 5
	for i, f := range fs {
		if f.IsSilence() != (i >= n) {
			t.Fatalf("frame %d of %d: silence=%v", i, len(fs), f.IsSilence())
		}
		if i > 0 && (f.Sequence != fs[i-1].Sequence+1 || f.Timestamp != fs[i-1].Timestamp+wire.FrameSamples) {
			t.Fatalf("frame %d: seq/timestamp not contiguous", i)
		}
	}
	rs, err := resample.New(24000, 48000, 1)
	if err != nil {
		t.Fatal(err)
	}
	ref := rs.Flush(rs.Process(nil, pcm))
	if want := (len(ref) + wire.FrameSamples - 1) / wire.FrameSamples; n != want {
		t.Fatalf("%d audio frames, want %d for %d resampled samples", n, want, len(ref))
	}
	want := make([]float64, len(ref))
	for i, s := range ref {
		want[i] = float64(s)
	}
	snr, lag := voicetest.AlignedSNR(want, decode(t, fs[:n]), 2000)
	t.Logf("decoded Opus vs resampled input: SNR %.1f dB at lag %d samples (%d frames, 64 kb/s)", snr, lag, n)
	if snr < 20 {
		t.Fatalf("SNR %.1f dB < 20 dB", snr)
	}
	// The listener got the same frames through the SFU.
	for i := range n {
		f, err := listener.ReadFrame(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if string(f.Opus) != string(fs[i].Payload) {
			t.Fatalf("relayed frame %d differs", i)
		}
	}
}

// TestPlayerLatencyAndInterrupt checks the first chunk's time to the first
// RTP packet and that an interruption turns the next slot into silence.
func TestPlayerLatencyAndInterrupt(t *testing.T) {
	srv := voicetest.NewServer(t, voicetest.Options{})
	ctx := testCtx(t, 30*time.Second)
	bot := dial(t, srv, botID, nil)
	p := newPlayer(ctx, t, bot)
	pcm := speech()
	var lat, flush []time.Duration
	have := 0
	for turn := range 5 {
		t0 := time.Now()
		if err := p.Write(pcm[:2400]); err != nil { // a 100 ms chunk
			t.Fatal(err)
		}
		fs, err := srv.WaitFrames(ctx, botID, func(f []voicetest.Frame) bool { return len(f) > have })
		if err != nil {
			t.Fatal(err)
		}
		lat = append(lat, fs[have].Arrival.Sub(t0))
		// Keep the turn going, then interrupt it mid-stream.
		for _, c := range chunks(pcm[2400:48000]) {
			p.Write(c)
		}
		if _, err := srv.WaitFrames(ctx, botID, func(f []voicetest.Frame) bool { return len(f) > have+10 }); err != nil {
			t.Fatal(err)
		}
		ti := time.Now()
		p.Interrupt()
		if err := p.Wait(ctx); err != nil {
			t.Fatal(err)
		}
		fs = waitTail(ctx, t, srv, botID, have)
		after := fs[have:]
		last := len(after) - 5
		for i, f := range after {
			if f.IsSilence() != (i >= last) {
				t.Fatalf("turn %d frame %d: silence=%v (want 5 silence frames at the end only)", turn, i, f.IsSilence())
			}
		}
		// The queue is flushed at once: at most the frame being sent at that
		// moment (and one still in the socket) arrives after the interruption.
		late := 0
		for _, f := range after[:last] {
			if f.Arrival.After(ti) {
				late++
			}
		}
		flush = append(flush, after[last].Arrival.Sub(ti))
		if late > 2 {
			t.Fatalf("turn %d: %d audio frames arrived after the interruption", turn, late)
		}
		have = len(fs)
	}
	slices.Sort(lat)
	slices.Sort(flush)
	t.Logf("first chunk to first RTP packet: median %v (min %v, max %v); interrupt to first silence frame: median %v, max %v",
		lat[len(lat)/2], lat[0], lat[len(lat)-1], flush[len(flush)/2], flush[len(flush)-1])
	if flush[len(flush)/2] > 30*time.Millisecond { // one 20 ms slot plus scheduling slack
		t.Errorf("median interrupt-to-silence %v > one frame", flush[len(flush)/2])
	}
	if lat[len(lat)/2] > 60*time.Millisecond {
		t.Fatalf("median first-packet latency %v > 60 ms", lat[len(lat)/2])
	}
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

// TestPlayerPacing streams a reply (10 s; VOICE_PACING_SECONDS overrides,
// 60 for the acceptance figure) and measures intervals at the emulator.
// Median and drift are asserted outright; the p99 bound of 3 ms is asserted
// on top of the scheduling noise a bare timer loop sees in the same run, since
// this machine is shared.
func TestPlayerPacing(t *testing.T) {
	d := 10 * time.Second
	if s, err := strconv.Atoi(os.Getenv("VOICE_PACING_SECONDS")); err == nil && s > 0 {
		d = time.Duration(s) * time.Second
	} else if testing.Short() {
		d = 3 * time.Second
	}
	srv := voicetest.NewServer(t, voicetest.Options{})
	ctx := testCtx(t, d+30*time.Second)
	bot := dial(t, srv, botID, nil)
	p := newPlayer(ctx, t, bot)
	noiseCtx, stopNoise := context.WithCancel(ctx)
	noise := timerNoise(noiseCtx)
	streamFor(ctx, t, p, d)
	if err := p.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	stopNoise()
	ref := noise()
	fs := waitTail(ctx, t, srv, botID, 0)
	med, p99, drift := pacing(fs)
	st := p.Stats()
	t.Logf("%d frames over %v: median interval %v, p99 |interval-20ms| %v, drift %v; sender lateness p50 %v p99 %v max %v; bare timer p99 lateness %v",
		len(fs), d, med, p99, drift, st.LateP50, st.LateP99, st.LateMax, ref)
	if med < 19500*time.Microsecond || med > 20500*time.Microsecond {
		t.Errorf("median interval %v, want 20 ms", med)
	}
	if p99 > 3*time.Millisecond+2*ref {
		t.Errorf("p99 deviation %v > 3 ms + twice the bare timer's p99 lateness (%v)", p99, ref)
	}
	if drift.Abs() > 20*time.Millisecond+ref {
		t.Errorf("drift %v > 20 ms", drift)
	}
	if st.Underruns != 0 || st.SendErrors != 0 {
		t.Errorf("underruns %d, send errors %d", st.Underruns, st.SendErrors)
	}
}

// TestPlayerSurvivesResume forces 4015 mid-reply: packets keep flowing over
// UDP while the gateway resumes, with no gap over 200 ms (plus the scheduling
// noise a bare timer sees in the same run: CI shares two cores).
func TestPlayerSurvivesResume(t *testing.T) {
	srv := voicetest.NewServer(t, voicetest.Options{})
	ctx := testCtx(t, 30*time.Second)
	bot := dial(t, srv, botID, nil)
	p := newPlayer(ctx, t, bot)
	noise := gapBound(ctx, 200*time.Millisecond)
	streamFor(ctx, t, p, 2*time.Second)
	if _, err := srv.WaitFrames(ctx, botID, func(f []voicetest.Frame) bool { return len(f) > 25 }); err != nil {
		t.Fatal(err)
	}
	if err := srv.ForceClose(botID, 4015); err != nil {
		t.Fatal(err)
	}
	if err := p.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	fs := waitTail(ctx, t, srv, botID, 0)
	var gap time.Duration
	for i := 1; i < len(fs); i++ {
		gap = max(gap, fs[i].Arrival.Sub(fs[i-1].Arrival))
		if fs[i].Sequence != fs[i-1].Sequence+1 {
			t.Fatalf("sequence gap at %d", i)
		}
	}
	limit := noise()
	t.Logf("resume after 4015 mid-reply: %d frames, longest gap %v (bound %v)", len(fs), gap, limit)
	if gap > limit || bot.Err() != nil || p.Stats().SendErrors != 0 {
		t.Fatalf("gap %v, conn err %v, send errors %d", gap, bot.Err(), p.Stats().SendErrors)
	}
}

// TestPlayerStopsCleanlyOn4014: the connection stops, the player keeps its
// clock without panicking and reports the refused frames.
func TestPlayerStopsCleanlyOn4014(t *testing.T) {
	srv := voicetest.NewServer(t, voicetest.Options{})
	ctx := testCtx(t, 30*time.Second)
	bot := dial(t, srv, botID, nil)
	p := newPlayer(ctx, t, bot)
	streamFor(ctx, t, p, time.Second)
	if _, err := srv.WaitFrames(ctx, botID, func(f []voicetest.Frame) bool { return len(f) > 5 }); err != nil {
		t.Fatal(err)
	}
	srv.Disconnect(guildID, botID)
	<-bot.Done()
	p.Interrupt()
	if err := p.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	if p.Stats().SendErrors == 0 {
		t.Fatal("no refused frames after 4014")
	}
}

// TestPlayerBackToBackTurns: a turn written while the previous one is still
// playing follows its silence tail on the same clock (no burst).
func TestPlayerBackToBackTurns(t *testing.T) {
	srv := voicetest.NewServer(t, voicetest.Options{})
	ctx := testCtx(t, 30*time.Second)
	bot := dial(t, srv, botID, nil)
	p := newPlayer(ctx, t, bot)
	pcm := speech()
	p.Write(pcm[:4800]) // 200 ms
	p.EndTurn()
	if _, err := srv.WaitFrames(ctx, botID, func(f []voicetest.Frame) bool { return len(f) > 0 && f[len(f)-1].IsSilence() }); err != nil {
		t.Fatal(err)
	}
	p.Write(pcm[4800:9600]) // queued while the first tail plays
	p.EndTurn()
	if err := p.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	fs := waitTail(ctx, t, srv, botID, 20)
	var pattern []bool
	// Each frame's arrival less its slot on the 20 ms grid: a late delivery
	// (a loaded machine) only raises it, while a frame sent in an earlier
	// slot's turn would lower it by 20 ms below every frame before it.
	earliest := time.Duration(math.MaxInt64)
	for i, f := range fs {
		pattern = append(pattern, f.IsSilence())
		off := f.Arrival.Sub(fs[0].Arrival) - time.Duration(i)*20*time.Millisecond
		// At the boundary the second turn takes the slot after the tail.
		if i > 0 && pattern[i-1] && !pattern[i] && off < earliest-10*time.Millisecond {
			t.Errorf("second turn's first frame came %v ahead of its 20 ms slot", earliest-off)
		}
		earliest = min(earliest, off)
	}
	silences := 0
	for _, s := range pattern {
		if s {
			silences++
		}
	}
	if silences != 10 || !pattern[len(pattern)-1] || pattern[0] {
		t.Fatalf("silence pattern %v", pattern)
	}
}

// recordingSink counts what a Player sends, without a network.
type recordingSink struct {
	mu       sync.Mutex
	frames   int
	speaking []bool
}

func (r *recordingSink) SetSpeaking(_ context.Context, on bool) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.speaking = append(r.speaking, on)
	return nil
}

func (r *recordingSink) WriteOpus([]byte) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.frames++
	return nil
}

func (r *recordingSink) sent() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.frames
}

func TestPlayerIdleCallsSendNothing(t *testing.T) {
	ctx := testCtx(t, 10*time.Second)
	sink := &recordingSink{}
	p, err := player.New(ctx, sink, player.Config{})
	if err != nil {
		t.Fatal(err)
	}
	// No turn: EndTurn and Interrupt are no-ops; a sub-frame turn interrupted
	// before any frame played sends nothing either.
	if err := p.EndTurn(); err != nil {
		t.Fatal(err)
	}
	p.Interrupt()
	p.Write(make([]int16, 100))
	p.Interrupt()
	p.EndTurn()
	if err := p.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	p.Close()
	if err := p.Write(make([]int16, 480)); !errors.Is(err, player.ErrClosed) {
		t.Fatalf("write after close: %v", err)
	}
	sink.mu.Lock()
	defer sink.mu.Unlock()
	if sink.frames != 0 || len(sink.speaking) != 0 {
		t.Fatalf("idle player sent %d frames, speaking %v", sink.frames, sink.speaking)
	}
}

// TestPlayerRefillsAfterUnderrun: when the producer falls behind mid-turn,
// playback waits until Refill frames are queued again (a small jitter
// buffer) instead of dribbling out single frames.
func TestPlayerRefillsAfterUnderrun(t *testing.T) {
	srv := voicetest.NewServer(t, voicetest.Options{})
	ctx := testCtx(t, 30*time.Second)
	bot := dial(t, srv, botID, nil)
	p := newPlayer(ctx, t, bot) // Refill 3 by default
	pcm := speech()
	if err := p.Write(pcm[:4800]); err != nil { // 10 frames
		t.Fatal(err)
	}
	if _, err := srv.WaitFrames(ctx, botID, func(f []voicetest.Frame) bool { return len(f) >= 10 }); err != nil {
		t.Fatal(err)
	}
	for p.Stats().Underruns == 0 { // the next slot finds the queue empty
		select {
		case <-time.After(5 * time.Millisecond):
		case <-ctx.Done():
			t.Fatal("no underrun after the queue ran dry")
		}
	}
	if err := p.Write(pcm[4800:5760]); err != nil { // 2 frames: below Refill
		t.Fatal(err)
	}
	// Without the refill rule the first of these would leave within a slot;
	// give it five.
	time.Sleep(100 * time.Millisecond)
	third := time.Now()
	if err := p.Write(pcm[5760:6240]); err != nil { // the third frame
		t.Fatal(err)
	}
	p.EndTurn()
	fs, err := srv.WaitFrames(ctx, botID, func(f []voicetest.Frame) bool { return len(f) >= 18 && f[len(f)-1].IsSilence() })
	if err != nil {
		t.Fatal(err)
	}
	if fs[10].Arrival.Before(third) {
		t.Fatalf("frame 11 arrived %v before the third refill frame was written", third.Sub(fs[10].Arrival))
	}
}

// TestPlayerComplexity: the encoder runs at the configured complexity as
// libopus reports it (DefaultComplexity unless set), and a complexity
// outside 1–10 is refused by New, not at the first Write.
func TestPlayerComplexity(t *testing.T) {
	ctx := testCtx(t, 10*time.Second)
	for _, tc := range []struct{ set, want int }{{0, player.DefaultComplexity}, {1, 1}, {10, 10}} {
		p, err := player.New(ctx, &recordingSink{}, player.Config{Complexity: tc.set})
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Write(speech()[:960]); err != nil { // the turn's first frame is encoded at once
			t.Fatal(err)
		}
		if got := player.EncoderComplexity(p); got != tc.want {
			t.Errorf("Complexity %d: libopus reports %d, want %d", tc.set, got, tc.want)
		}
		p.Close()
	}
	for _, c := range []int{-1, 11} {
		if p, err := player.New(ctx, &recordingSink{}, player.Config{Complexity: c}); err == nil {
			p.Close()
			t.Errorf("New accepted complexity %d", c)
		}
	}
}

// TestPlayerEncodesJustInTime: a reply written all at once (as a producer
// far ahead of real time would) is encoded as its slots near, never more
// than the scheduler's window ahead of the sender, while the queue holds the
// rest as PCM; it all plays.
func TestPlayerEncodesJustInTime(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	sink := &recordingSink{}
	p, err := player.New(ctx, sink, player.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	pcm := speech()[:2*24000] // 2 s: 100 frames
	if err := p.Write(pcm); err != nil {
		t.Fatal(err)
	}
	if err := p.EndTurn(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- p.Wait(ctx) }()
	maxAhead, maxQueued := 0, 0
	for waiting := true; waiting; {
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
			waiting = false
		case <-time.After(2 * time.Millisecond): // sample the queue while it plays
		}
		q, enc := player.Queued(p)
		maxAhead, maxQueued = max(maxAhead, enc), max(maxQueued, q)
	}
	st := p.Stats()
	t.Logf("queued up to %d frames, at most %d of them encoded; %d frames sent, %d encoded inline by the sender",
		maxQueued, maxAhead, st.Frames, st.InlineEncodes)
	// 2 s and the resampler's tail: 101 frames, then the silence tail.
	if st.Frames != 101 || sink.sent() != 106 {
		t.Fatalf("sent %d audio frames (%d packets), want 101 (+5 silence)", st.Frames, sink.sent())
	}
	if maxQueued < 90 {
		t.Fatalf("at most %d frames queued: the write did not queue the reply ahead", maxQueued)
	}
	// Frames are encoded up to the window before their scheduled slot: the
	// head (due within a slot) plus the window, and as many more as the
	// sender is running late (a loaded machine) by whole slots.
	late := int((st.LateMax + 20*time.Millisecond - 1) / (20 * time.Millisecond))
	if maxAhead > player.EncodeAhead+1+late {
		t.Fatalf("%d frames encoded ahead of the sender, window %d, sender up to %v late", maxAhead, player.EncodeAhead, st.LateMax)
	}
}
