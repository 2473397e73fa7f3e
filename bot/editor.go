package bot

import (
	"sync"
	"time"
)

// throttle applies the latest wanted content at most once per interval,
// from its own goroutine, so slow REST calls never hold up the audio. Both
// the streaming /ask reply (editor) and a talk's transcript message
// (chanEditor) are one.
type throttle struct {
	interval time.Duration
	send     func(content string) (applied bool)
	// flush: stop applies what is still wanted before the loop ends.
	flush bool

	mu      sync.Mutex
	want    string
	applied string
	kick    chan struct{}
	quit    chan struct{}
	done    chan struct{}
	once    sync.Once
}

func newThrottle(interval time.Duration, flush bool, send func(string) bool) *throttle {
	e := &throttle{interval: interval, send: send, flush: flush, kick: make(chan struct{}, 1),
		quit: make(chan struct{}), done: make(chan struct{})}
	go e.loop()
	return e
}

func (e *throttle) set(content string) {
	e.mu.Lock()
	e.want = content
	e.mu.Unlock()
	select {
	case e.kick <- struct{}{}:
	default:
	}
}

// stop ends the loop (applying what is still wanted, with flush) and waits
// for an edit in flight.
func (e *throttle) stop() {
	e.once.Do(func() { close(e.quit) })
	<-e.done
}

func (e *throttle) loop() {
	defer close(e.done)
	var last time.Time
	for {
		quitting := false
		select {
		case <-e.kick:
		case <-e.quit:
			quitting = true
		}
		if wait := e.interval - time.Since(last); wait > 0 && !quitting {
			t := time.NewTimer(wait)
			select {
			case <-t.C:
			case <-e.quit:
				t.Stop()
				quitting = true
			}
		}
		if quitting && !e.flush {
			return
		}
		e.mu.Lock()
		want := e.want
		same := want == e.applied
		e.mu.Unlock()
		if !same {
			last = time.Now()
			if e.send(want) {
				e.mu.Lock()
				e.applied = want
				e.mu.Unlock()
			}
		}
		if quitting {
			return
		}
	}
}

// editor streams an interaction's reply: each applied content is an edit
// of the original response; stop drops what was not yet applied (the
// final message follows).
type editor = throttle

func newEditor(b *Bot, ia *interaction, interval time.Duration) *editor {
	return newThrottle(interval, false, func(content string) bool {
		if err := b.edit(ia, content); err != nil {
			b.log.Debug("streaming edit failed", "err", err)
		}
		return true // a failed streaming edit is not retried: the final message follows
	})
}
