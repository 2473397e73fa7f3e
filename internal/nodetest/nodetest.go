// Package nodetest runs the real npm clients in tools/node against this
// repository's emulators. The README's test command installs them with npm ci;
// a plain `go test` without them skips, unless LIVECORD_REQUIRE_NODE=1 (set by
// the test command and CI) turns the absence into a failure.
package nodetest

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
)

// Dir returns the absolute path of tools/node.
func Dir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "tools", "node")
}

// Require skips (or fails, under LIVECORD_REQUIRE_NODE=1) when node or the
// installed packages are missing.
func Require(t testing.TB) {
	t.Helper()
	miss := ""
	if _, err := exec.LookPath("node"); err != nil {
		miss = "node is not on PATH"
	} else if _, err := os.Stat(filepath.Join(Dir(), "node_modules")); err != nil {
		miss = "tools/node/node_modules is missing (run: npm ci --prefix tools/node)"
	}
	if miss == "" {
		return
	}
	if os.Getenv("LIVECORD_REQUIRE_NODE") == "1" {
		t.Fatalf("real-client test needs Node: %s", miss)
	}
	t.Skipf("real-client test skipped: %s", miss)
}

// Command returns `node script args...` run in tools/node, so the script's
// imports resolve against the installed packages. script is relative to
// tools/node. The command dies with ctx.
func Command(ctx context.Context, t testing.TB, script string, args ...string) *exec.Cmd {
	t.Helper()
	Require(t)
	cmd := exec.CommandContext(ctx, "node", append([]string{script}, args...)...)
	cmd.Dir = Dir()
	cmd.Env = os.Environ()
	return cmd
}
