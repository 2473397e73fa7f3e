package main

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestDockerBuildCommand runs the Dockerfile's own `go build` line (docker
// itself cannot run here), so the image's build flags stay buildable.
func TestDockerBuildCommand(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the whole binary")
	}
	f, err := os.Open("../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var line string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if l := sc.Text(); strings.HasPrefix(l, "RUN ") && strings.Contains(l, "go build") {
			line = strings.TrimPrefix(l, "RUN ")
		}
	}
	if line == "" {
		t.Fatal("Dockerfile has no RUN … go build line")
	}
	out := filepath.Join(t.TempDir(), "livecord")
	line = regexp.MustCompile(`-o \S+`).ReplaceAllString(line, "-o "+out)
	cmd := exec.Command("sh", "-c", line)
	cmd.Dir = "../.."
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", line, err, b)
	}
	b, err := exec.Command(out, "help").CombinedOutput()
	if err != nil {
		t.Fatalf("built binary: %v\n%s", err, b)
	}
	if !strings.Contains(string(b), "usage: bot") {
		t.Fatalf("built binary printed %q", b)
	}
}
