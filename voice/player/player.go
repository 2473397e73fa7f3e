package player

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/livecord/livecord/resample"
	"github.com/livecord/livecord/voice/internal/wire"
	"layeh.com/gopus"
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
// encoded frame, five silence frames at the end of each turn or interruption.
// Write, EndTurn and Interrupt may be called from any goroutine.
type Player struct {
	sink   Sink
	cfg    Config
	log    *slog.Logger
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}

	encMu sync.Mutex // encoder side
	rs    *resample.Resampler
	enc   *gopus.Encoder
	mono  []int16
	pend  []int16 // interleaved stereo at 48 kHz, less than one frame
	pcm   [wire.FrameSamples * 2]int16

	mu          sync.Mutex // queue and turn state
	queue       [][]byte
	open        bool // a turn is being written
	interrupted bool
	wake        chan struct{}
	changed     chan struct{} // closed and replaced when the player goes idle
	idle        bool
	firstAt     time.Time // first Write of the turn, until its first packet is sent
	stats       playerStats
}

type playerStats struct {
	sent, silence, underruns, sendErrors int64
	lateness                             []time.Duration // ring of recent lateness
	lateIdx                              int
}

const latenessWindow = 3000 // 60 s of frames

// Stats summarises a Player's output so far.
type Stats struct {
	Frames     int64 // audio frames sent (silence excluded)
	Silence    int64 // silence frames sent
	Underruns  int64 // times the queue ran dry in the middle of a turn
	SendErrors int64 // frames the sink refused (e.g. while reconnecting)
	// Lateness of packets behind their clock slot over the last 60 s of frames.
	LateP50, LateP99, LateMax time.Duration
}

// NewPlayer starts a Player sending to sink. It stops when ctx ends or on Close.
func New(ctx context.Context, sink Sink, cfg Config) (*Player, error) {
	if cfg.InputRate == 0 {
		cfg.InputRate = 24000
	}
	if cfg.Bitrate <= 0 {
		cfg.Bitrate = 64000
	}
	cfg.Bitrate = min(cfg.Bitrate, 510000)
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
	enc, err := gopus.NewEncoder(48000, 2, gopus.Audio)
	if err != nil {
		return nil, fmt.Errorf("player: opus encoder: %w", err)
	}
	enc.SetBitrate(cfg.Bitrate)
	p := &Player{
		sink: sink, cfg: cfg, log: log, rs: rs, enc: enc,
		done: make(chan struct{}), wake: make(chan struct{}, 1), changed: make(chan struct{}), idle: true,
	}
	p.ctx, p.cancel = context.WithCancel(ctx)
	go p.run()
	return p, nil
}

// Write queues one chunk of mono PCM at InputRate; whole 20 ms frames are
// encoded and playable at once. It opens a turn if none is open. After Close
// it returns ErrClosed.
func (p *Player) Write(pcm []int16) error {
	if p.ctx.Err() != nil {
		return ErrClosed
	}
	p.encMu.Lock()
	defer p.encMu.Unlock()
	p.mu.Lock()
	full := time.Duration(len(p.queue))*frameDuration >= p.cfg.MaxQueue
	if !p.open && !full {
		p.firstAt = time.Now()
	}
	p.open = true
	p.mu.Unlock()
	if full {
		return ErrQueueFull
	}
	p.mono = p.rs.Process(p.mono[:0], pcm)
	return p.encode(p.mono)
}

// EndTurn ends the current turn: the resampler's tail and a last zero-padded
// frame are queued, and after the queue plays out five silence frames follow.
// Without an open turn it does nothing.
func (p *Player) EndTurn() error {
	p.encMu.Lock()
	defer p.encMu.Unlock()
	p.mu.Lock()
	open := p.open
	p.mu.Unlock()
	if !open {
		return nil // no turn (or it was interrupted): nothing to flush
	}
	p.mono = p.rs.Flush(p.mono[:0])
	err := p.encode(p.mono)
	if n := len(p.pend); n > 0 && err == nil {
		p.pend = append(p.pend, make([]int16, 2*wire.FrameSamples-n)...)
		err = p.encode(nil)
	}
	p.mu.Lock()
	p.open = false
	p.mu.Unlock()
	p.poke()
	return err
}

// Interrupt drops everything queued and not yet sent: the next clock slot
// (within 20 ms) carries the first of five silence frames.
func (p *Player) Interrupt() {
	p.encMu.Lock()
	defer p.encMu.Unlock()
	p.rs.Reset()
	p.enc.ResetState()
	p.pend = p.pend[:0]
	p.mu.Lock()
	if len(p.queue) > 0 || p.open || !p.idle {
		p.interrupted = true
	}
	p.queue = nil
	p.open = false
	p.firstAt = time.Time{}
	p.mu.Unlock()
	p.poke()
}

// Wait blocks until the player is idle: the turn ended (EndTurn or
// Interrupt), everything was sent and the silence tail too.
func (p *Player) Wait(ctx context.Context) error {
	for {
		p.mu.Lock()
		idle := p.idle && len(p.queue) == 0 && !p.open && !p.interrupted
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
	st := Stats{Frames: p.stats.sent, Silence: p.stats.silence, Underruns: p.stats.underruns, SendErrors: p.stats.sendErrors}
	if l := slices.Clone(p.stats.lateness); len(l) > 0 {
		sort.Slice(l, func(i, j int) bool { return l[i] < l[j] })
		st.LateP50 = l[len(l)/2]
		st.LateP99 = l[min(len(l)-1, len(l)*99/100)]
		st.LateMax = l[len(l)-1]
	}
	return st
}

// encode appends 48 kHz mono samples (duplicated to stereo) to the pending
// frame and queues every complete frame. Called with encMu held.
func (p *Player) encode(mono []int16) error {
	for _, s := range mono {
		p.pend = append(p.pend, s, s)
	}
	for len(p.pend) >= 2*wire.FrameSamples {
		copy(p.pcm[:], p.pend[:2*wire.FrameSamples])
		p.pend = p.pend[:copy(p.pend, p.pend[2*wire.FrameSamples:])]
		b, err := p.enc.Encode(p.pcm[:], wire.FrameSamples, opusMaxPacket)
		if err != nil {
			return fmt.Errorf("player: opus encode: %w", err)
		}
		// Each frame is playable as soon as it is encoded.
		p.mu.Lock()
		p.queue = append(p.queue, slices.Clone(b))
		p.mu.Unlock()
		p.poke()
		// A long chunk is many encoder calls: let senders whose slot came
		// (this or other players') run between them.
		runtime.Gosched()
	}
	return nil
}

func (p *Player) poke() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// setIdle records the sender's state; going idle always wakes Wait, whose
// condition also depends on flags the sender may just have cleared.
func (p *Player) setIdle(idle bool) {
	p.mu.Lock()
	if p.idle != idle || idle {
		p.idle = idle
		close(p.changed)
		p.changed = make(chan struct{})
	}
	p.mu.Unlock()
}

// run is the sender: packet n of a run goes out at start + n·20 ms, where
// start is taken once when playback (re)starts, so sleeping late never
// accumulates into drift.
func (p *Player) run() {
	defer close(p.done)
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
		ready := len(p.queue) > 0
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
			p.mu.Lock()
			var frame []byte
			tail := p.interrupted || (len(p.queue) == 0 && !p.open)
			if !tail && len(p.queue) > 0 {
				frame = p.queue[0]
				p.queue[0] = nil
				p.queue = p.queue[1:]
			}
			p.interrupted = false
			p.mu.Unlock()
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
		ok := len(p.queue) >= p.cfg.Refill || !p.open || p.interrupted
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
	if len(p.stats.lateness) < latenessWindow {
		p.stats.lateness = append(p.stats.lateness, late)
	} else {
		p.stats.lateness[p.stats.lateIdx] = late
		p.stats.lateIdx = (p.stats.lateIdx + 1) % latenessWindow
	}
}
