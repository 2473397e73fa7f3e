package main

import (
	"io"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestConfigurationDocumented checks the documentation and packaging against
// what the code reads: every variable `run` asks for is in .env.example and
// in the README's configuration table, every .env.example key is read by
// run's configuration (loadBotConfig and loadLiveConfig), and the Dockerfile, compose
// file and systemd unit set only variables that exist (a misspelt one would
// be silently ignored).
func TestConfigurationDocumented(t *testing.T) {
	read := func(path string) string {
		t.Helper()
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	example, readme := read("../../.env.example"), read("../../README.md")

	// The keys run's configuration asks for.
	var runKeys []string
	if _, _, err := loadBotConfig(nil, func(k string) string {
		runKeys = append(runKeys, k)
		return ""
	}, io.Discard); err != nil {
		t.Fatalf("defaults do not load: %v", err)
	}
	// The keys loadLiveConfig reacts to, found by setting each
	// candidate in turn.
	var exampleKeys []string
	for _, m := range regexp.MustCompile(`(?m)^([A-Z][A-Z0-9_]*)=`).FindAllStringSubmatch(example, -1) {
		exampleKeys = append(exampleKeys, m[1])
	}
	liveCandidates := append(slices.Clone(exampleKeys), "GOOGLE_API_KEY")
	for _, k := range liveCandidates {
		if strings.HasPrefix(k, "GEMINI_") || strings.HasPrefix(k, "GOOGLE_") {
			t.Setenv(k, "")
		}
	}
	base, err := loadLiveConfig(os.Getenv)
	if err != nil {
		t.Fatal(err)
	}
	reacts := func(k string) bool {
		defer os.Unsetenv(k)
		for _, v := range []string{"x", "false", "7s"} {
			os.Setenv(k, v)
			if c, err := loadLiveConfig(os.Getenv); err != nil || !reflect.DeepEqual(c, base) {
				return true
			}
		}
		return false
	}
	known := map[string]bool{}
	for _, k := range runKeys {
		known[k] = true
	}
	for _, k := range liveCandidates {
		if !known[k] && reacts(k) {
			known[k] = true
		}
	}
	if !known["GEMINI_API_KEY"] || !known["GOOGLE_API_KEY"] || !known["DISCORD_TOKEN"] {
		t.Fatalf("key discovery is broken: %v", known)
	}

	for k := range known {
		// Aliases may be named in a comment next to the main key.
		if !strings.Contains(example, k) {
			t.Errorf(".env.example does not mention %s, which the code reads", k)
		}
		if !strings.Contains(readme, "`"+k+"`") {
			t.Errorf("README does not document %s, which the code reads", k)
		}
	}
	for _, k := range exampleKeys {
		if !known[k] {
			t.Errorf(".env.example has %s, which nothing reads", k)
		}
	}

	for file, re := range map[string]string{
		"../../deploy/compose.yaml":     `(?m)^\s+([A-Z][A-Z0-9_]*):`,
		"../../deploy/livecord.service": `(?m)^Environment=([A-Z][A-Z0-9_]*)=`,
		"../../Dockerfile":              `(?m)^ENV ([A-Z][A-Z0-9_]*)=`,
	} {
		n := 0
		for _, m := range regexp.MustCompile(re).FindAllStringSubmatch(read(file), -1) {
			n++
			if !known[m[1]] {
				t.Errorf("%s sets %s, which the bot does not read", file, m[1])
			}
		}
		if n == 0 {
			t.Errorf("%s sets no variables: the pattern %s is out of date", file, re)
		}
	}
}

// TestDeploySubcommands checks that the subcommands the packaging starts
// (the image's CMD and HEALTHCHECK, the unit's ExecStart) exist.
func TestDeploySubcommands(t *testing.T) {
	for file, re := range map[string]string{
		"../../Dockerfile":              `(?m)^(?:CMD|HEALTHCHECK .*CMD) \[(?:"/usr/local/bin/livecord", )?"([a-z]+)"`,
		"../../deploy/livecord.service": `(?m)^ExecStart=/usr/local/bin/livecord ([a-z]+)`,
	} {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		ms := regexp.MustCompile(re).FindAllStringSubmatch(string(b), -1)
		if len(ms) == 0 {
			t.Errorf("%s: no subcommand found by %s", file, re)
		}
		for _, m := range ms {
			if !slices.ContainsFunc(commands, func(c command) bool { return c.name == m[1] }) {
				t.Errorf("%s starts `livecord %s`, which is not a subcommand", file, m[1])
			}
		}
	}
}

// TestDeployKeepsState: each packaging points LIVECORD_DATA_DIR at storage
// that outlives the process (per-guild voices, resumption handles), and lets
// a SIGTERM'd bot finish leaving voice before it is killed.
func TestDeployKeepsState(t *testing.T) {
	for _, c := range []struct {
		file string
		want []string // patterns that must all match
	}{
		{"../../Dockerfile", []string{`(?m)^ENV LIVECORD_DATA_DIR=/data$`, `(?m)^VOLUME \["/data"\]$`, `(?m)^STOPSIGNAL SIGTERM$`}},
		{"../../deploy/compose.yaml", []string{`(?m)^\s+LIVECORD_DATA_DIR: /data$`, `(?m)^\s+- livecord-data:/data$`,
			`(?m)^volumes:\n\s+livecord-data:`, `(?m)^\s+stop_grace_period: 15s$`, `(?m)^\s+- "127\.0\.0\.1:9464:9464"$`}},
		{"../../deploy/livecord.service", []string{`(?m)^Environment=LIVECORD_DATA_DIR=/var/lib/livecord$`,
			`(?m)^StateDirectory=livecord$`, `(?m)^KillSignal=SIGTERM$`, `(?m)^TimeoutStopSec=15$`}},
	} {
		b, err := os.ReadFile(c.file)
		if err != nil {
			t.Fatal(err)
		}
		for _, re := range c.want {
			if !regexp.MustCompile(re).Match(b) {
				t.Errorf("%s does not match %s", c.file, re)
			}
		}
	}
}
