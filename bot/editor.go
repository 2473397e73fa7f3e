package bot

import (
	"sync"
	"time"
)

// editor applies the latest wanted content to a reply, at most once per
// interval, from its own goroutine, so slow REST calls never hold up the
// audio.
type editor struct {
	b        *Bot
	ia       *interaction
	interval time.Duration

	mu      sync.Mutex
	want    string
	applied string
	kick    chan struct{}
	quit    chan struct{}
	done    chan struct{}
	once    sync.Once
}

func newEditor(b *Bot, ia *interaction, interval time.Duration) *editor {
	e := &editor{b: b, ia: ia, interval: interval, kick: make(chan struct{}, 1),
		quit: make(chan struct{}), done: make(chan struct{})}
	go e.loop()
	return e
}

func (e *editor) set(content string) {
	e.mu.Lock()
	e.want = content
	e.mu.Unlock()
	select {
	case e.kick <- struct{}{}:
	default:
	}
}

// stop ends the loop and waits for an edit in flight.
func (e *editor) stop() {
	e.once.Do(func() { close(e.quit) })
	<-e.done
}

func (e *editor) loop() {
	defer close(e.done)
	var last time.Time
	for {
		select {
		case <-e.kick:
		case <-e.quit:
			return
		}
		if wait := e.interval - time.Since(last); wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-t.C:
			case <-e.quit:
				t.Stop()
				return
			}
		}
		e.mu.Lock()
		want := e.want
		same := want == e.applied
		e.mu.Unlock()
		if same {
			continue
		}
		last = time.Now()
		if err := e.b.edit(e.ia, want); err != nil {
			e.b.log.Debug("streaming edit failed", "err", err)
		}
		e.mu.Lock()
		e.applied = want
		e.mu.Unlock()
	}
}
