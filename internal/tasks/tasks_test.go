package tasks

import (
	"sync/atomic"
	"testing"
	"time"
)

func TestCloseWaitsForRunningTasks(t *testing.T) {
	var g Group
	release := make(chan struct{})
	var finished atomic.Bool
	if !g.Go(func() { <-release; finished.Store(true) }) {
		t.Fatal("Go refused before Close")
	}
	closed := make(chan struct{})
	go func() { g.Close(); close(closed) }()
	select {
	case <-closed:
		t.Fatal("Close returned while a task was running")
	case <-time.After(20 * time.Millisecond):
	}
	close(release)
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("Close never returned")
	}
	if !finished.Load() {
		t.Fatal("Close returned before the task finished")
	}
}

func TestNothingStartsAfterClose(t *testing.T) {
	var g Group
	g.Close()
	if !g.Closing() {
		t.Fatal("not closing after Close")
	}
	if g.Go(func() { t.Error("ran after Close") }) || g.Enter() {
		t.Fatal("admitted a task after Close")
	}
	g.Close() // again: nothing to wait for
}

// TestGoRacesClose: tasks started from other tasks while Close runs are
// either waited for or refused, never lost to (or racing) the Wait. Run with
// -race.
func TestGoRacesClose(t *testing.T) {
	for range 200 {
		var g Group
		var started, done atomic.Int32
		var spawn func(depth int)
		spawn = func(depth int) {
			started.Add(1)
			defer done.Add(1)
			if depth < 3 {
				g.Go(func() { spawn(depth + 1) })
				g.Go(func() { spawn(depth + 1) })
			}
		}
		g.Go(func() { spawn(0) })
		g.Close()
		if s, d := started.Load(), done.Load(); s != d {
			t.Fatalf("Close returned with %d of %d tasks unfinished", s-d, s)
		}
	}
}
