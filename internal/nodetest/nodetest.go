// Package nodetest runs the real npm clients in tools/node against this
// repository's emulators. The README's test command installs them with npm ci;
// a plain `go test` without them skips, unless LIVECORD_REQUIRE_NODE=1 (set by
// the test command and CI) turns the absence into a failure.
package nodetest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"
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

// Process is a Node script that talks in lines (JSON objects, one a line)
// over its stdin and stdout, as every real-client script in tools/node does.
type Process struct {
	cmd    *exec.Cmd
	in     io.WriteCloser
	lines  chan []byte
	done   chan struct{} // closed when the script's stdout has ended
	stderr lockedBuffer
}

// Start runs script like Command, with env added to its environment, and
// reads its stdout lines on a goroutine that the test owns: cleanup closes
// the script's stdin (each script exits then), waits for it (killing it after
// 10 s, or when ctx ends), and logs its stderr if the test failed.
func Start(ctx context.Context, t testing.TB, script string, env []string, args ...string) *Process {
	t.Helper()
	ctx, cancel := context.WithCancel(ctx)
	cmd := Command(ctx, t, script, args...)
	cmd.Env = append(cmd.Env, env...)
	// A deep buffer: a peer streaming voice events must never block on a
	// test that is busy elsewhere (Node would stall with its stdout full).
	p := &Process{cmd: cmd, lines: make(chan []byte, 8192), done: make(chan struct{})}
	cmd.Stderr = &p.stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("node %s: %v", script, err)
	}
	p.in = in
	go func() {
		defer close(p.done)
		defer close(p.lines)
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 1<<20), 1<<24)
		for sc.Scan() {
			select {
			case p.lines <- bytes.Clone(sc.Bytes()):
			case <-ctx.Done():
				return
			}
		}
	}()
	t.Cleanup(func() {
		defer cancel()
		_ = in.Close()
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			t.Errorf("node %s did not exit after its stdin closed", script)
			cancel() // kills Node, which closes its stdout
			<-p.done
		}
		if err := cmd.Wait(); err != nil && ctx.Err() == nil && !t.Failed() {
			t.Errorf("node %s: %v\n%s", script, err, p.Stderr())
		}
		if t.Failed() {
			t.Logf("node %s stderr:\n%s", script, p.Stderr())
		}
	})
	return p
}

// Send writes v to the script as one JSON line.
func (p *Process) Send(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = p.in.Write(append(b, '\n'))
	return err
}

// WriteLine writes one raw line to the script.
func (p *Process) WriteLine(s string) error {
	_, err := io.WriteString(p.in, s+"\n")
	return err
}

// Lines delivers the script's stdout, a line at a time; it is closed when
// the script's stdout ends.
func (p *Process) Lines() <-chan []byte { return p.lines }

// Next returns the script's next stdout line.
func (p *Process) Next(ctx context.Context) ([]byte, error) {
	select {
	case l, ok := <-p.lines:
		if !ok {
			return nil, errors.New("nodetest: the script exited")
		}
		return l, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Stderr returns what the script has written to stderr so far.
func (p *Process) Stderr() string { return p.stderr.String() }

type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
