package player

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/livecord/livecord/resample"
	"github.com/livecord/livecord/voice/internal/wire"
)

// Sink receives a Player's output; *Conn is one.
type Sink interface {
	SetSpeaking(ctx context.Context, on bool) error
	WriteOpus(frame []byte) error
}

// Config configures NewPlayer.
type Config struct {
	// InputRate is the rate of the mono PCM given to Write (default 24000, Live's).
	InputRate int
	// Bitrate of the Opus encoder in bit/s: the voice channel's bitrate
	// (default 64000), capped at 510000.
	Bitrate int
	// Complexity of the Opus encoder, 1 (cheapest) to 10 (libopus's best);
	// 0 means DefaultComplexity. Encoding is nearly all of a stream's CPU, so
	// this sets how many streams a core can carry.
	Complexity int
	// Refill is how many frames must be queued again after an underrun before
	// playback resumes (default 3, 60 ms): a small jitter buffer for a
	// producer that falls behind. The first frame of a turn plays at once.
	Refill int
	// MaxQueue bounds the queued audio (default 10 minutes); Write fails beyond it.
	MaxQueue time.Duration
	// Logger receives warnings; nil discards them.
	Logger *slog.Logger
	// OnFirstPacket, when set, is called from the sender with the time from
	// a turn's first Write to its first audio packet accepted by the sink
	// (resampling, encoding, queueing and the clock slot in between).
	OnFirstPacket func(time.Duration)
	// OnUnderrun, when set, is called from the sender each time the queue
	// runs dry in the middle of a turn.
	OnUnderrun func()
}

// Frame timing of Discord audio.
const (
	frameDuration = 20 * time.Millisecond
	silenceFrames = 5
	opusMaxPacket = 1500
)

// ErrQueueFull is returned by Player.Write when MaxQueue of audio is waiting.
var ErrQueueFull = errors.New("player: queue full")

// ErrClosed is returned by Write and Wait after Close.
var ErrClosed = errors.New("player: closed")

// Player turns a stream of PCM chunks into Opus frames sent on a drift-free
// 20 ms clock: speaking before the first packet, playback from the first
// frame, five silence frames at the end of each turn or interruption.
// Write only resamples and queues 20 ms PCM frames; the shared scheduler
// (sched.go) encodes each a few slots before its send time.
// Write, EndTurn and Interrupt may be called from any goroutine.
type Player struct {
	sink   Sink
	cfg    Config
	log    *slog.Logger
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}

	// Lock order: wmu, encMu, mu, then the scheduler's.
	wmu  sync.Mutex // the writer side: resampler and the frame being filled
	rs   *resample.Resampler
	mono []int16 // resampler output, at most one step
	pend *pcmFrame
	npcm int       // samples in pend
	step int       // input samples resampled at a time (10 ms)
	cut  [][]int16 // frames completed by one Write, committed together

	encMu sync.Mutex   // the encoder: one frame at a time per player
	enc   *opusEncoder // nil while idle: its 52 KB of state is made per talk spurt

	mu sync.Mutex // queue, turn and sender state
	// q[head:] are the frames not yet sent; q[head:encNext] are encoded.
	q           []qframe
	head        int
	encNext     int
	playing     bool      // the sender is in a run: q[head] goes out at headSlot
	headSlot    time.Time //
	open        bool      // a turn is being written
	interrupted bool
	closed      bool
	wake        chan struct{}
	changed     chan struct{} // closed and replaced when the player goes idle
	idle        bool
	firstAt     time.Time // first Write of the turn, until its first packet is sent
	stats       playerStats

	// Owned by the scheduler (its mutex).
	schedIdx int
	schedDue time.Time
}

// qframe is one 20 ms frame: 48 kHz mono PCM until it is encoded.
type qframe struct {
	pcm  *pcmFrame
	opus []byte
}

type pcmFrame [wire.FrameSamples]int16

// encBuf is an encode's scratch (stereo PCM and the packet), pooled so an
// idle player holds none.
type encBuf struct {
	stereo [2 * wire.FrameSamples]int16
	out    [opusMaxPacket]byte
}

var (
	pcmPool = sync.Pool{New: func() any { return new(pcmFrame) }}
	encPool = sync.Pool{New: func() any { return new(encBuf) }}
)

type playerStats struct {
	sent, silence, underruns, sendErrors, inline int64
	lateness                                     []uint16 // ring of recent lateness, in latenessUnit
	lateIdx                                      int
	lateMax                                      time.Duration
}

const (
	latenessWindow = 3000 // 60 s of frames
	latenessUnit   = 10 * time.Microsecond
)

// Stats summarises a Player's output so far.
type Stats struct {
	Frames     int64 // audio frames sent (silence excluded)
	Silence    int64 // silence frames sent
	Underruns  int64 // times the queue ran dry in the middle of a turn
	SendErrors int64 // frames the sink refused (e.g. while reconnecting)
	// InlineEncodes counts frames the sender had to encode itself because the
	// scheduler had not by their slot (an overloaded core); each delays
	// that one packet by an encode.
	InlineEncodes int64
	// Lateness of packets behind their clock slot over the last 60 s of
	// frames (10 µs resolution, up to 655 ms); LateMax is over all frames.
	LateP50, LateP99, LateMax time.Duration
}

// New starts a Player sending to sink. It stops when ctx ends or on Close.
func New(ctx context.Context, sink Sink, cfg Config) (*Player, error) {
	if cfg.InputRate == 0 {
		cfg.InputRate = 24000
	}
	if cfg.Bitrate <= 0 {
		cfg.Bitrate = 64000
	}
	cfg.Bitrate = min(cfg.Bitrate, 510000)
	if cfg.Complexity == 0 {
		cfg.Complexity = DefaultComplexity
	}
	if cfg.Complexity < 1 || cfg.Complexity > 10 {
		return nil, fmt.Errorf("player: opus complexity %d outside 1–10", cfg.Complexity)
	}
	if cfg.Refill <= 0 {
		cfg.Refill = 3
	}
	if cfg.MaxQueue <= 0 {
		cfg.MaxQueue = 10 * time.Minute
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	rs, err := resample.New(cfg.InputRate, 48000, 1)
	if err != nil {
		return nil, fmt.Errorf("player: %w", err)
	}
	if _, err := newOpusEncoder(cfg.Bitrate, cfg.Complexity); err != nil {
		return nil, err // fail here, not at the first Write
	}
	p := &Player{
		sink: sink, cfg: cfg, log: log, rs: rs, step: max(cfg.InputRate/100, 1),
		done: make(chan struct{}), wake: make(chan struct{}, 1), changed: make(chan struct{}), idle: true,
		schedIdx: -1,
	}
	p.ctx, p.cancel = context.WithCancel(ctx)
	go p.run()
	return p, nil
}

// Write queues one chunk of mono PCM at InputRate, resampled into 20 ms
// frames that are playable at once (the first frame of a turn is encoded
// here, the rest just in time). It opens a turn if none is open. After Close
// it returns ErrClosed.
func (p *Player) Write(pcm []int16) error {
	if p.ctx.Err() != nil {
		return ErrClosed
	}
	p.wmu.Lock()
	defer p.wmu.Unlock()
	p.mu.Lock()
	full := time.Duration(len(p.q)-p.head)*frameDuration >= p.cfg.MaxQueue
	if !p.open && !full {
		p.firstAt = time.Now()
	}
	p.open = true
	p.mu.Unlock()
	if full {
		return ErrQueueFull
	}
	// In 10 ms steps, so the resampler's output buffer stays small.
	for len(pcm) > 0 {
		n := min(len(pcm), p.step)
		p.mono = p.rs.Process(p.mono[:0], pcm[:n])
		p.frame(p.mono)
		pcm = pcm[n:]
		if len(p.cut) >= 16 { // a long chunk: keep p.cut small
			if err := p.commit(); err != nil {
				return err
			}
		}
	}
	return p.commit()
}

// frame appends 48 kHz samples to the frame being filled and moves every
// complete one to p.cut. Called with wmu held.
func (p *Player) frame(mono []int16) {
	for len(mono) > 0 {
		if p.pend == nil {
			p.pend = pcmPool.Get().(*pcmFrame)
		}
		n := copy(p.pend[p.npcm:], mono)
		p.npcm += n
		mono = mono[n:]
		if p.npcm == wire.FrameSamples {
			p.cut = append(p.cut, p.pend[:])
			p.pend, p.npcm = nil, 0
		}
	}
}

// commit queues the frames in p.cut, schedules their encoding and, if the
// sender is not playing, encodes the first at once so a turn's first packet
// does not wait for the scheduler. Called with wmu held.
func (p *Player) commit() error {
	if len(p.cut) == 0 {
		return nil
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		for i, f := range p.cut {
			pcmPool.Put((*pcmFrame)(f))
			p.cut[i] = nil
		}
		p.cut = p.cut[:0]
		return ErrClosed
	}
	for i, f := range p.cut {
		p.q = append(p.q, qframe{pcm: (*pcmFrame)(f)})
		p.cut[i] = nil
	}
	p.cut = p.cut[:0]
	now := p.encNext == p.head && !p.playing
	p.schedule()
	p.mu.Unlock()
	var err error
	if now {
		err = p.encodeNext(firstFrame)
	}
	p.poke()
	return err
}

// schedule tells the scheduler when the next frame to encode is due: its
// slot if the sender is playing, else now (the sender starts at once).
// Called with mu held.
func (p *Player) schedule() {
	if p.encNext >= len(p.q) || p.closed {
		encoders.update(p, time.Time{}, false)
		return
	}
	base := time.Now()
	if p.playing {
		base = p.headSlot
	}
	encoders.update(p, base.Add(time.Duration(p.encNext-p.head)*frameDuration), true)
}

// Who calls encodeNext.
const (
	byScheduler = iota
	firstFrame  // Write, for a turn's first frame: only the head
	inline      // the sender's fallback at the head's slot: only the head, counted
)

// encodeNext encodes the oldest frame still PCM (if any) and schedules the
// next.
func (p *Player) encodeNext(by int) error {
	p.encMu.Lock()
	defer p.encMu.Unlock()
	p.mu.Lock()
	if p.encNext >= len(p.q) || p.closed || (by != byScheduler && p.encNext != p.head) {
		p.mu.Unlock()
		return nil // nothing to do, or a worker encoded the head meanwhile
	}
	pcm := p.q[p.encNext].pcm
	p.mu.Unlock()
	// Only this goroutine (holding encMu) encodes, and whatever drops the
	// queue (Interrupt, going idle, closing) takes encMu too: the frame
	// stays at p.encNext (its index can only shift with head when the
	// sender compacts the queue).
	var err error
	if p.enc == nil {
		p.enc, err = newOpusEncoder(p.cfg.Bitrate, p.cfg.Complexity)
	}
	b := encPool.Get().(*encBuf)
	for i, s := range pcm {
		b.stereo[2*i], b.stereo[2*i+1] = s, s
	}
	var pkt []byte
	if err == nil {
		pkt, err = p.enc.encode(b.out[:0:opusMaxPacket], b.stereo[:])
	}
	if err != nil {
		pkt = wire.SilenceFrame // keep the clock: one frame of silence; the caller reports err
	}
	pkt = slices.Clone(pkt)
	encPool.Put(b)
	pcmPool.Put(pcm)
	p.mu.Lock()
	p.q[p.encNext] = qframe{opus: pkt}
	p.encNext++
	if by == inline {
		p.stats.inline++
	}
	p.schedule()
	p.mu.Unlock()
	if err != nil {
		return fmt.Errorf("player: %w", err)
	}
	return nil
}

// EndTurn ends the current turn: the resampler's tail and a last zero-padded
// frame are queued, and after the queue plays out five silence frames follow.
// Without an open turn it does nothing.
func (p *Player) EndTurn() error {
	p.wmu.Lock()
	defer p.wmu.Unlock()
	p.mu.Lock()
	open := p.open
	p.mu.Unlock()
	if !open {
		return nil // no turn (or it was interrupted): nothing to flush
	}
	p.mono = p.rs.Flush(p.mono[:0])
	p.frame(p.mono)
	if p.npcm > 0 {
		clear(p.pend[p.npcm:])
		p.cut = append(p.cut, p.pend[:])
		p.pend, p.npcm = nil, 0
	}
	err := p.commit()
	p.mono, p.cut = nil, nil // small, but nothing of a turn outlives it
	p.mu.Lock()
	p.open = false
	p.mu.Unlock()
	p.poke()
	if errors.Is(err, ErrClosed) {
		return nil
	}
	return err
}

// Interrupt drops everything queued and not yet sent, encoded or not: the
// next clock slot (within 20 ms) carries the first of five silence frames.
func (p *Player) Interrupt() {
	p.wmu.Lock()
	defer p.wmu.Unlock()
	p.encMu.Lock()
	defer p.encMu.Unlock()
	p.rs.Reset()
	p.enc = nil // the next turn starts a fresh encoder
	if p.pend != nil {
		pcmPool.Put(p.pend)
		p.pend, p.npcm = nil, 0
	}
	p.mono, p.cut = nil, nil
	p.mu.Lock()
	if len(p.q) > p.head || p.open || !p.idle {
		p.interrupted = true
	}
	p.dropQueue()
	p.open = false
	p.firstAt = time.Time{}
	p.mu.Unlock()
	p.poke()
}

// dropQueue discards every unsent frame and, with them, the queue's
// backing array: a long reply's queue is not kept for the next. Called
// with mu held.
func (p *Player) dropQueue() {
	for _, f := range p.q[p.head:] {
		if f.pcm != nil {
			pcmPool.Put(f.pcm)
		}
	}
	p.q, p.head, p.encNext = nil, 0, 0
	encoders.update(p, time.Time{}, false)
}

// Wait blocks until the player is idle: the turn ended (EndTurn or
// Interrupt), everything was sent and the silence tail too.
func (p *Player) Wait(ctx context.Context) error {
	for {
		p.mu.Lock()
		idle := p.idle && len(p.q) == p.head && !p.open && !p.interrupted
		ch := p.changed
		p.mu.Unlock()
		if idle {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		case <-p.done:
			return ErrClosed
		}
	}
}

// Close stops the player at once (no silence tail) and waits for its goroutine.
func (p *Player) Close() error {
	p.cancel()
	<-p.done
	return nil
}

// Stats returns counters and recent packet lateness.
func (p *Player) Stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	st := Stats{
		Frames: p.stats.sent, Silence: p.stats.silence, Underruns: p.stats.underruns,
		SendErrors: p.stats.sendErrors, InlineEncodes: p.stats.inline, LateMax: p.stats.lateMax,
	}
	if l := slices.Clone(p.stats.lateness); len(l) > 0 {
		slices.Sort(l)
		st.LateP50 = time.Duration(l[len(l)/2]) * latenessUnit
		st.LateP99 = time.Duration(l[min(len(l)-1, len(l)*99/100)]) * latenessUnit
	}
	return st
}

func (p *Player) poke() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// setIdle records the sender's state; going idle always wakes Wait, whose
// condition also depends on flags the sender may just have cleared. An idle
// player keeps no queue and no encoder: nothing sized by the last reply,
// and the next talk spurt starts from a fresh encoder state anyway.
func (p *Player) setIdle(idle bool) {
	if idle {
		p.encMu.Lock()
		defer p.encMu.Unlock()
	}
	p.mu.Lock()
	if idle && len(p.q) == p.head {
		p.q, p.head, p.encNext = nil, 0, 0
		p.enc = nil
	}
	if p.idle != idle || idle {
		p.idle = idle
		close(p.changed)
		p.changed = make(chan struct{})
	}
	p.mu.Unlock()
}

// take returns the frame for the slot at: the head of the queue, encoded by
// the sender itself if the scheduler has not (counted); or tail when the
// turn ended or was interrupted; or neither (nil) on an underrun.
func (p *Player) take(at time.Time) (frame []byte, tail bool) {
	for range 2 {
		p.mu.Lock()
		tail = p.interrupted || (len(p.q) == p.head && !p.open)
		p.interrupted = false
		if tail || len(p.q) == p.head {
			p.playing = false
			p.mu.Unlock()
			return nil, tail
		}
		if p.encNext == p.head { // not encoded in time
			p.mu.Unlock()
			if err := p.encodeNext(inline); err != nil {
				p.log.Warn("player: inline encode", "err", err)
			}
			continue
		}
		frame = p.q[p.head].opus
		p.q[p.head] = qframe{}
		p.head++
		if p.head == len(p.q) {
			p.q, p.head, p.encNext = p.q[:0], 0, 0
		} else if p.head >= 64 && 2*p.head >= len(p.q) {
			// Slide the queue down so its backing array stays bounded by what
			// is queued.
			n := copy(p.q, p.q[p.head:])
			clear(p.q[n:])
			p.q, p.encNext, p.head = p.q[:n], p.encNext-p.head, 0
		}
		// Keys do not move: the head and its slot advance together.
		p.playing, p.headSlot = true, at.Add(frameDuration)
		p.mu.Unlock()
		return frame, false
	}
	// Interrupted while encoding inline: the next pass sees it. Only an
	// encoder that keeps failing gets here; treat it as an underrun.
	return nil, false
}

// run is the sender: packet n of a run goes out at start + n·20 ms, where
// start is taken once when playback (re)starts, so sleeping late never
// accumulates into drift.
func (p *Player) run() {
	defer close(p.done)
	defer func() {
		p.encMu.Lock() // an encode in flight finishes first
		p.mu.Lock()
		p.closed = true
		p.dropQueue()
		p.enc = nil
		p.mu.Unlock()
		p.encMu.Unlock()
	}()
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	var (
		speaking bool
		start    time.Time
		n        int64
		next     time.Time // the slot after the last tail, to keep the clock across turns
	)
	waitWake := func() bool {
		select {
		case <-p.wake:
			return true
		case <-p.ctx.Done():
			return false
		}
	}
	// sleepSlot waits for slot n and returns its scheduled time.
	sleepSlot := func() (time.Time, bool) {
		at := start.Add(time.Duration(n) * frameDuration)
		if d := time.Until(at); d > 0 {
			timer.Reset(d)
			select {
			case <-timer.C:
			case <-p.ctx.Done():
				return at, false
			}
		}
		return at, true
	}
	for {
		// Idle: wait for the first frame of a turn.
		p.mu.Lock()
		ready := len(p.q) > p.head
		intr := p.interrupted
		p.mu.Unlock()
		if !ready && intr && !speaking {
			// Interrupted before anything played: no tail is due.
			p.mu.Lock()
			p.interrupted = false
			p.mu.Unlock()
			continue
		}
		if !ready && !intr {
			if speaking {
				if err := p.sink.SetSpeaking(p.ctx, false); err != nil {
					p.log.Warn("player: speaking off", "err", err)
				}
				speaking = false
			}
			next = time.Time{} // a new talk spurt starts its own clock
			p.setIdle(true)
			if !waitWake() {
				return
			}
			continue
		}
		p.setIdle(false)
		if !speaking && ready {
			if err := p.sink.SetSpeaking(p.ctx, true); err != nil {
				p.log.Warn("player: speaking on", "err", err)
			}
			speaking = true
		}
		start, n = time.Now(), 0
		if !next.IsZero() && start.Sub(next) < frameDuration {
			start = next // a turn queued during the last tail continues its clock
		}
		next = time.Time{}
		// Playing: one frame per slot until the turn ends, is interrupted or
		// underruns. The frame is taken only when its slot comes, so an
		// interruption replaces the very next frame with silence.
		for {
			at, ok := sleepSlot()
			if !ok {
				return
			}
			frame, tail := p.take(at)
			if tail {
				if !p.sendSilence(at, sleepSlot, &n) {
					return
				}
				next = start.Add(time.Duration(n) * frameDuration)
				break
			}
			if frame == nil { // underrun in an open turn: refill a little, then re-anchor
				p.mu.Lock()
				p.stats.underruns++
				p.mu.Unlock()
				if p.cfg.OnUnderrun != nil {
					p.cfg.OnUnderrun()
				}
				if !p.refill(waitWake) {
					return
				}
				start, n = time.Now(), 0
				continue
			}
			p.send(frame, at, false)
			n++
		}
	}
}

// refill waits until Refill frames are queued, the turn ends or is interrupted.
func (p *Player) refill(waitWake func() bool) bool {
	for {
		p.mu.Lock()
		ok := len(p.q)-p.head >= p.cfg.Refill || !p.open || p.interrupted
		p.mu.Unlock()
		if ok {
			return true
		}
		if !waitWake() {
			return false
		}
	}
}

// sendSilence sends the five-frame tail, the first in the current slot at.
func (p *Player) sendSilence(at time.Time, sleepSlot func() (time.Time, bool), n *int64) bool {
	for i := range silenceFrames {
		if i > 0 {
			var ok bool
			if at, ok = sleepSlot(); !ok {
				return false
			}
		}
		p.send(wire.SilenceFrame, at, true)
		*n++
	}
	return true
}

func (p *Player) send(frame []byte, at time.Time, silence bool) {
	err := p.sink.WriteOpus(frame)
	late := time.Since(at)
	var first time.Duration
	p.mu.Lock()
	defer func() {
		p.mu.Unlock()
		if first > 0 && p.cfg.OnFirstPacket != nil {
			p.cfg.OnFirstPacket(first)
		}
	}()
	if err != nil {
		p.stats.sendErrors++
		return
	}
	if silence {
		p.stats.silence++
	} else {
		p.stats.sent++
		if !p.firstAt.IsZero() {
			first = max(time.Since(p.firstAt), time.Nanosecond)
			p.firstAt = time.Time{}
		}
	}
	p.stats.lateMax = max(p.stats.lateMax, late)
	u := uint16(min(max(late, 0)/latenessUnit, 1<<16-1))
	if len(p.stats.lateness) < latenessWindow {
		p.stats.lateness = append(p.stats.lateness, u)
	} else {
		p.stats.lateness[p.stats.lateIdx] = u
		p.stats.lateIdx = (p.stats.lateIdx + 1) % latenessWindow
	}
}
