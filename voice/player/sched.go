package player

import (
	"container/heap"
	"runtime"
	"sync"
	"time"
)

// encodeAhead is how many 20 ms slots before its send time a frame may be
// encoded (100 ms). It covers the scheduler's own jitter (a worker busy with
// other streams' frames due at the same time) and a process descheduled for
// less than that, after which senders catch up with frames already encoded.
// A bigger window does not cost CPU in steady state, but each turn starts
// with a burst of that many frames and an interruption discards them.
const encodeAhead = 5

// encoders is the one scheduler all Players share: a few worker goroutines
// (at most GOMAXPROCS) encoding, earliest deadline first, the frames due
// within encodeAhead slots across every stream. Encoding just in time keeps
// the CPU a stream costs flat at 50 frames a second however fast its reply
// arrives, instead of bursts of 2× real time that starve the senders.
// Workers start when frames are waiting and exit when none are, so the
// scheduler holds no goroutine while every player is idle.
var encoders = &scheduler{kick: make(chan struct{}, 1)}

type scheduler struct {
	mu      sync.Mutex // a leaf: taken under Player.mu, never the other way
	h       playerHeap
	workers int
	kick    chan struct{} // a new earliest deadline for a sleeping worker
}

// update sets p's place in the schedule: due is the deadline of its next
// frame to encode, ok false removes it. Called with p.mu held, so the
// schedule always reflects the player's latest state.
func (s *scheduler) update(p *Player, due time.Time, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case !ok:
		if p.schedIdx >= 0 {
			heap.Remove(&s.h, p.schedIdx)
			if len(s.h) == 0 { // a sleeping worker exits now, not at its timer
				s.wakeOne()
			}
		}
		return
	case p.schedIdx >= 0:
		p.schedDue = due
		heap.Fix(&s.h, p.schedIdx)
	default:
		p.schedDue = due
		heap.Push(&s.h, p)
	}
	if s.workers < runtime.GOMAXPROCS(0) {
		s.workers++
		go s.work()
	} else if s.h[0] == p {
		s.wakeOne()
	}
}

func (s *scheduler) wakeOne() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// work encodes one frame at a time, the earliest deadline first, once it
// is within encodeAhead slots of its send time; it exits when no frame is
// waiting.
func (s *scheduler) work() {
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		s.mu.Lock()
		if len(s.h) == 0 {
			s.workers--
			s.mu.Unlock()
			return
		}
		wait := time.Until(s.h[0].schedDue.Add(-encodeAhead * frameDuration))
		if wait > 0 {
			s.mu.Unlock()
			timer.Reset(wait)
			select {
			case <-timer.C:
			case <-s.kick:
				timer.Stop()
			}
			continue
		}
		p := heap.Pop(&s.h).(*Player)
		s.mu.Unlock()
		if err := p.encodeNext(byScheduler); err != nil {
			p.log.Warn("player: encode", "err", err)
		}
		// libopus is not preemptible: let senders whose slot came run
		// between frames.
		runtime.Gosched()
	}
}

// playerHeap orders players by the deadline of their next frame to encode.
type playerHeap []*Player

func (h playerHeap) Len() int           { return len(h) }
func (h playerHeap) Less(i, j int) bool { return h[i].schedDue.Before(h[j].schedDue) }
func (h playerHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].schedIdx, h[j].schedIdx = i, j
}
func (h *playerHeap) Push(x any) {
	p := x.(*Player)
	p.schedIdx = len(*h)
	*h = append(*h, p)
}
func (h *playerHeap) Pop() any {
	old := *h
	p := old[len(old)-1]
	old[len(old)-1] = nil
	p.schedIdx = -1
	*h = old[:len(old)-1]
	return p
}
