// Package tasks tracks goroutines that a server or connection must wait for
// when it closes: a sync.WaitGroup that refuses new work once closing, so
// that no Add can race the final Wait (which the WaitGroup forbids and the
// race detector reports).
package tasks

import "sync"

// Group is a set of running tasks. The zero value is ready to use.
type Group struct {
	mu     sync.Mutex
	closed bool
	wg     sync.WaitGroup
}

// Enter counts the caller as a running task, unless Close has begun; it
// reports whether it did. A caller that entered calls Leave when done.
func (g *Group) Enter() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return false
	}
	g.wg.Add(1)
	return true
}

// Leave ends a task counted by Enter.
func (g *Group) Leave() { g.wg.Done() }

// Go runs f on a new goroutine as a task, unless Close has begun; it reports
// whether f was started.
func (g *Group) Go(f func()) bool {
	if !g.Enter() {
		return false
	}
	go func() {
		defer g.Leave()
		f()
	}()
	return true
}

// Closing reports whether Close has begun.
func (g *Group) Closing() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.closed
}

// Close stops admitting tasks and waits for the running ones. Calling it
// again waits again.
func (g *Group) Close() {
	g.mu.Lock()
	g.closed = true
	g.mu.Unlock()
	g.wg.Wait()
}
