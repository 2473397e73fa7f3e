package player_test

import (
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/livecord/livecord/voice/player"
)

// TestIdlePlayerMemory: a player that spoke a long reply and went idle holds
// no reply: not its PCM or packets, not a queue or an encoder sized by it.
// Each player takes a reply of a minute written at once (as a fast
// producer would), interrupted after its first packet, then a 2 s reply
// played to its silence tail. A heap profile taken at every allocation
// attributes the live heap to the player (any allocation made under a
// voice/player function) while it is fresh and once it is idle: idle it must
// hold ≤ 32 KiB, and no more than a fresh player does plus 8 KiB (what is
// bounded whatever the reply: the lateness window of the last 3000 frames
// sent, ≤ 6 KB; a reply's leftovers would be 100s of KB). The whole process's heap and
// goroutine stacks per player are logged beside it.
func TestIdlePlayerMemory(t *testing.T) {
	const players = 32
	ctx := testCtx(t, 60*time.Second)
	defer func(rate int) { runtime.MemProfileRate = rate }(runtime.MemProfileRate)
	runtime.MemProfileRate = 1
	pcm := speech()
	long := make([]int16, 0, 60*24000)
	for len(long) < cap(long) {
		long = append(long, pcm[:min(len(pcm), cap(long)-len(long))]...)
	}
	m0 := processMemory()
	ps := make([]*player.Player, players)
	sinks := make([]*recordingSink, players)
	for i := range ps {
		sinks[i] = &recordingSink{}
		var err error
		if ps[i], err = player.New(ctx, sinks[i], player.Config{}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ps[i].Close() })
	}
	fresh := playerHeap(t) / players

	var wg sync.WaitGroup
	for i, p := range ps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := p.Write(long); err != nil {
				t.Error(err)
				return
			}
			for sinks[i].sent() == 0 {
				select {
				case <-time.After(time.Millisecond):
				case <-ctx.Done():
					t.Error("no packet")
					return
				}
			}
			p.Interrupt()
			if err := p.Wait(ctx); err != nil {
				t.Error(err)
				return
			}
			for off := 0; off < 2*24000; off += 2400 { // 2 s in 100 ms chunks
				if err := p.Write(long[off : off+2400]); err != nil {
					t.Error(err)
					return
				}
			}
			if err := p.EndTurn(); err != nil {
				t.Error(err)
			}
			if err := p.Wait(ctx); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	idle := playerHeap(t) / players
	process := (processMemory() - m0) / players
	for _, p := range ps {
		if st := p.Stats(); st.Frames < 100 {
			t.Fatalf("a player sent %d frames, want the whole 2 s reply", st.Frames)
		}
	}
	t.Logf("heap held per player: %d bytes fresh, %d bytes idle after a 60 s reply (interrupted) and a 2 s one (played); whole process per player (heap + stacks): %d bytes",
		fresh, idle, process)
	if idle > 32<<10 {
		t.Errorf("an idle player holds %d bytes of heap, want ≤ 32 KiB", idle)
	}
	if idle-fresh > 8<<10 {
		t.Errorf("an idle player holds %d bytes more than a fresh one: the last reply is still reachable", idle-fresh)
	}
	runtime.KeepAlive(long)
}

// playerHeap is the live heap allocated under voice/player's own functions,
// from the heap profile (MemProfileRate 1: every allocation is recorded).
func playerHeap(t *testing.T) int64 {
	for range 3 { // the profile is as of the last GC; sync.Pool keeps frames for two
		runtime.GC()
	}
	var recs []runtime.MemProfileRecord
	n, _ := runtime.MemProfile(nil, true)
	for {
		recs = make([]runtime.MemProfileRecord, n+50)
		var ok bool
		if n, ok = runtime.MemProfile(recs, true); ok {
			recs = recs[:n]
			break
		}
	}
	var sum int64
	for _, r := range recs {
		frames := runtime.CallersFrames(r.Stack())
		for {
			f, more := frames.Next()
			if fn := f.Function; strings.Contains(fn, "/voice/player.") && !strings.Contains(fn, "_test.") {
				sum += r.InUseBytes()
				break
			}
			if !more {
				break
			}
		}
	}
	if sum == 0 {
		t.Fatal("no heap attributed to the player: profile empty?")
	}
	return sum
}

// processMemory is the process's live heap and goroutine stacks.
func processMemory() int64 {
	var m runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc + m.StackInuse)
}
