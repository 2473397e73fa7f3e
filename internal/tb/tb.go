// Package tb is the part of testing.TB the emulators' NewServer needs, so
// that the emulators (which `bot sandbox` runs inside the production binary)
// do not link package testing. *testing.T and *testing.B satisfy T.
package tb

// T is what NewServer uses of a test: cleanup and failing it.
type T interface {
	Helper()
	Cleanup(func())
	Fatalf(format string, args ...any)
	Errorf(format string, args ...any)
}
