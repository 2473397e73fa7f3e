package dave

import (
	"testing"

	"go.uber.org/goleak"
)

// The interop tests run Node as a child process; its pipes must be closed and
// waited for.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
