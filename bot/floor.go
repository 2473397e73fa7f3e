package bot

import (
	"time"

	"github.com/livecord/livecord/voice/inbound"
)

// The floor: who is heard when several people speak.
//
// Live hears one audio stream, so the bot decides whose speech goes into
// it. The floor goes to the first speaker until they pause (inbound's End:
// no packets for its pause gap); their audio goes to Live as it arrives.
// Anyone who starts while the floor is taken is held: their audio is kept
// (up to maxHold per held turn; the rest of a longer one is dropped and
// counted) and, when the floor frees, the longest-waiting speaker gets it:
// "Bob is speaking." goes to Live first, then Bob's held audio (faster than
// real time), then his live audio. Turns are never mixed, so every
// transcript line names the one person whose words it holds.

// defaultMaxHold bounds one held turn: long enough for a question asked
// over someone else's, short enough that an answer to it is still timely.
const defaultMaxHold = 8 * time.Second

type itemKind uint8

const (
	itemStart itemKind = iota + 1 // user now has the floor
	itemAudio                     // 20 ms of the floor holder's 16 kHz PCM
	itemEnd                       // the floor holder paused
)

// item is what the floor hands to the sender, in order.
type item struct {
	kind itemKind
	user string
	pcm  []int16
	at   time.Time // arrival of the packet behind it (audio), or of the event
}

// heldTurn is a waiting speaker's turn so far.
type heldTurn struct {
	chunks  [][]int16
	at      []time.Time
	samples int
	ended   bool
	dropped int // chunks past maxHold
}

// floor is only used on the voice listener's goroutine (calls are
// serialised by voice.Channel.Listen), so it has no lock.
type floor struct {
	holder  string
	held    map[string]*heldTurn
	waiting []string // held users, in the order they started
	maxHold int      // samples
	dropped uint64   // held chunks dropped past maxHold, all turns
}

func newFloor(maxHold time.Duration) *floor {
	if maxHold <= 0 {
		maxHold = defaultMaxHold
	}
	return &floor{held: map[string]*heldTurn{}, maxHold: int(maxHold.Seconds() * inbound.SampleRate)}
}

// event takes one inbound event and emits what goes to Live now.
func (f *floor) event(ev inbound.Event, emit func(item)) {
	u := ev.UserID
	switch ev.Kind {
	case inbound.Start:
		switch {
		case f.holder == "":
			f.holder = u
			emit(item{kind: itemStart, user: u, at: ev.At})
		case f.holder != u && f.held[u] == nil:
			f.held[u] = &heldTurn{}
			f.waiting = append(f.waiting, u)
		}
	case inbound.Audio:
		if u == f.holder {
			emit(item{kind: itemAudio, user: u, pcm: ev.PCM, at: ev.At})
			return
		}
		h := f.held[u]
		if h == nil || h.ended {
			return // no Start seen (ignored, or a turn cut by a cap)
		}
		if h.samples >= f.maxHold {
			h.dropped++
			f.dropped++
			return
		}
		h.chunks = append(h.chunks, ev.PCM)
		h.at = append(h.at, ev.At)
		h.samples += len(ev.PCM)
	case inbound.End:
		if u == f.holder {
			f.holder = ""
			emit(item{kind: itemEnd, user: u, at: ev.At})
			f.promote(emit)
			return
		}
		if h := f.held[u]; h != nil {
			h.ended = true
		}
	}
}

// promote gives the free floor to the longest-waiting speaker, replaying
// what they said meanwhile; a held turn that already ended is sent whole
// and the floor passes on.
func (f *floor) promote(emit func(item)) {
	for len(f.waiting) > 0 && f.holder == "" {
		u := f.waiting[0]
		f.waiting = f.waiting[1:]
		h := f.held[u]
		delete(f.held, u)
		at := time.Now()
		if len(h.at) > 0 {
			at = h.at[0]
		}
		emit(item{kind: itemStart, user: u, at: at})
		for i, c := range h.chunks {
			emit(item{kind: itemAudio, user: u, pcm: c, at: h.at[i]})
		}
		if h.ended {
			emit(item{kind: itemEnd, user: u, at: at})
			continue
		}
		f.holder = u
	}
}
