package inbound

import (
	"fmt"
	"sync"
	"time"
)

// SampleRate and ChunkSamples describe [Event.PCM] of [Audio] events: 16 kHz
// mono, 20 ms per chunk (the last chunk of a turn may be shorter).
const (
	SampleRate   = 16000
	ChunkSamples = SampleRate / 50
)

// Packet is one received RTP packet, already transport- and DAVE-decrypted.
type Packet struct {
	SSRC      uint32
	UserID    string // from op 5; the caller holds packets of unknown SSRCs
	Sequence  uint16
	Timestamp uint32
	Opus      []byte // not retained: Receiver copies what it keeps
	Arrival   time.Time
}

// Kind is what an [Event] reports.
type Kind uint8

const (
	// Start: a speaker's turn begins (their first decodable audio after a
	// pause). Audio events follow.
	Start Kind = iota + 1
	// Audio: PCM, ChunkSamples of 16 kHz mono, in order.
	Audio
	// Onset: voiced speech began in the audio just reported (for local
	// barge-in). At most once per talkspurt.
	Onset
	// End: the turn is over (Reason says why); its audio has all been
	// reported. The caller sends audioStreamEnd.
	End
)

func (k Kind) String() string {
	switch k {
	case Start:
		return "start"
	case Audio:
		return "audio"
	case Onset:
		return "onset"
	case End:
		return "end"
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// Reason says why a turn ended.
type Reason uint8

const (
	Paused Reason = iota + 1 // no voice packets for Config.PauseGap
	Capped                   // the turn reached Config.MaxTurn; the rest is dropped until a pause
	Left                     // Leave (op 13) or a new user on the SSRC
	Closed                   // Close
)

func (r Reason) String() string {
	switch r {
	case Paused:
		return "paused"
	case Capped:
		return "capped"
	case Left:
		return "left"
	case Closed:
		return "closed"
	}
	return fmt.Sprintf("Reason(%d)", uint8(r))
}

// Event is something a speaker did.
type Event struct {
	Kind   Kind
	SSRC   uint32
	UserID string
	PCM    []int16   // Audio only; owned by the receiver of the event
	Reason Reason    // End only
	At     time.Time // arrival of the packet that produced it, or the Tick's time
}

// Config tunes a Receiver; the zero value of a field takes its default
// (design.go says why each default is what it is).
type Config struct {
	// Depth is how long a later packet waits for a missing one before the
	// missing frame is concealed (default 40 ms). It grows by 20 ms, up to
	// MaxDepth (default 120 ms), each time a packet arrives after it was
	// given up on, and shrinks back after 10 s without that.
	Depth, MaxDepth time.Duration
	// PauseGap ends a turn when no voice packet came for this long
	// (default 400 ms). Discord clients stop sending in silence.
	PauseGap time.Duration
	// MaxTurn caps one turn's audio (default 60 s); past it the turn ends
	// (Capped) and the speaker is not heard until they pause.
	MaxTurn time.Duration
	// RateFactor and RateBurst bound how fast a speaker's audio may arrive:
	// a token bucket refilled at RateFactor × real time (default 1.5)
	// holding RateBurst of audio (default 1 s). Excess packets are dropped.
	RateFactor float64
	RateBurst  time.Duration
	// MaxSpeakers bounds the speakers (SSRCs) tracked at once (default
	// 64); packets of further SSRCs are dropped until one leaves or idles.
	MaxSpeakers int
	// IdleTimeout forgets a speaker (decoder and all) after this long
	// without packets (default 2 min).
	IdleTimeout time.Duration

	noFEC bool // tests: conceal every loss, to compare FEC against
}

func (c Config) withDefaults() Config {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.Depth, defaultDepth)
	def(&c.MaxDepth, defaultMaxDepth)
	c.MaxDepth = max(c.MaxDepth, c.Depth)
	def(&c.PauseGap, defaultPauseGap)
	def(&c.MaxTurn, defaultMaxTurn)
	def(&c.RateBurst, defaultRateBurst)
	def(&c.IdleTimeout, defaultIdleTimeout)
	if c.RateFactor <= 0 {
		c.RateFactor = defaultRateFactor
	}
	if c.MaxSpeakers <= 0 {
		c.MaxSpeakers = defaultMaxSpeakers
	}
	return c
}

// Stats counts what a Receiver did, for metrics.
type Stats struct {
	Packets      uint64 // accepted into a jitter buffer
	Frames       uint64 // decoded from packets
	Concealed    uint64 // lost frames filled by packet-loss concealment
	FECRecovered uint64 // lost frames rebuilt from the next packet's in-band FEC data
	Duplicates   uint64
	Late         uint64 // arrived after their frame was concealed, or far behind
	Malformed    uint64 // not Opus, or libopus refused it
	RateLimited  uint64 // dropped: arriving faster than real time allows
	Restarts     uint64 // sequence jumps that restarted a jitter buffer
	CappedTurns  uint64 // turns ended by MaxTurn
	CappedFrames uint64 // packets dropped after a cap, until the pause
	Rejected     uint64 // packets of speakers beyond MaxSpeakers
	Onsets       uint64
	Turns        uint64 // turns started
	Speakers     int    // tracked now
}

// Receiver turns the packets of every speaker in one voice connection into
// 16 kHz turns. It is safe for concurrent use; every method returns
// promptly (one packet's worth of decoding at most, per speaker touched).
type Receiver struct {
	cfg Config

	mu       sync.Mutex
	speakers map[uint32]*speaker
	stats    Stats
}

// New returns a Receiver.
func New(cfg Config) *Receiver {
	return &Receiver{cfg: cfg.withDefaults(), speakers: make(map[uint32]*speaker)}
}

// Packet takes one received packet and appends what it caused to dst.
func (r *Receiver) Packet(dst []Event, p Packet) []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	sp := r.speakers[p.SSRC]
	if sp != nil && sp.user != p.UserID {
		// The SSRC now belongs to someone else: the old speaker is gone.
		dst = sp.finish(dst, p.Arrival, Left, &r.stats)
		r.drop(sp)
		sp = nil
	}
	if sp == nil {
		if len(r.speakers) >= r.cfg.MaxSpeakers {
			r.stats.Rejected++
			return dst
		}
		var err error
		if sp, err = newSpeaker(&r.cfg, p.SSRC, p.UserID, p.Arrival); err != nil {
			r.stats.Rejected++ // libopus could not allocate a decoder
			return dst
		}
		r.speakers[p.SSRC] = sp
		r.stats.Speakers = len(r.speakers)
	}
	return sp.packet(dst, p, &r.stats)
}

// Tick gives up on missing packets that waited long enough, ends the turns
// of speakers who paused, and forgets idle speakers. Call it at least every
// 20 ms (every 10 ms keeps pause and loss decisions within 10 ms of due);
// [Receiver.Deadline] says when it is next needed.
func (r *Receiver) Tick(dst []Event, now time.Time) []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, sp := range r.speakers {
		dst = sp.tick(dst, now, &r.stats)
		if !sp.inTurn && now.Sub(sp.lastPacket) >= r.cfg.IdleTimeout {
			r.drop(sp)
		}
	}
	return dst
}

// Deadline returns the earliest time a Tick has something to do (a loss
// or pause decision), or the zero time when nothing is pending.
func (r *Receiver) Deadline() time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	var t time.Time
	for _, sp := range r.speakers {
		if d := sp.deadline(); !d.IsZero() && (t.IsZero() || d.Before(t)) {
			t = d
		}
	}
	return t
}

// Leave ends the turns of userID's speakers (op 13, client disconnect) and
// forgets them.
func (r *Receiver) Leave(dst []Event, now time.Time, userID string) []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, sp := range r.speakers {
		if sp.user == userID {
			dst = sp.finish(dst, now, Left, &r.stats)
			r.drop(sp)
		}
	}
	return dst
}

// Close ends every turn (the connection is closing) and forgets everyone.
func (r *Receiver) Close(dst []Event, now time.Time) []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, sp := range r.speakers {
		dst = sp.finish(dst, now, Closed, &r.stats)
		r.drop(sp)
	}
	return dst
}

// Stats returns the counters so far.
func (r *Receiver) Stats() Stats {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stats
}

func (r *Receiver) drop(sp *speaker) {
	delete(r.speakers, sp.ssrc)
	r.stats.Speakers = len(r.speakers)
}
