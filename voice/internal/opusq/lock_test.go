package opusq_test

import (
	"runtime"
	"testing"
)

// runtimeLock pins the benchmark goroutine to its OS thread until the
// benchmark ends, so opusq.ThreadCPU measures only its own work.
func runtimeLock(tb testing.TB) {
	runtime.LockOSThread()
	tb.Cleanup(runtime.UnlockOSThread)
}
