package mls

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain checks that no goroutine outlives the tests (the davey interop test
// runs a Node child process).
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
