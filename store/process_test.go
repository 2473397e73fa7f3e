package store

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// The tests below re-execute the test binary as a child process that runs
// TestStoreHelperProcess in one of these modes.
const helperEnv = "LIVECORD_STORE_HELPER"

func helperCmd(t *testing.T, mode string, cfg Config, extra ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestStoreHelperProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), helperEnv+"="+mode,
		"LIVECORD_STORE_HELPER_DIR="+cfg.DataDir, "LIVECORD_STORE_HELPER_URL="+cfg.DatabaseURL)
	cmd.Env = append(cmd.Env, extra...)
	cmd.Stderr = os.Stderr
	return cmd
}

func TestStoreHelperProcess(t *testing.T) {
	mode := os.Getenv(helperEnv)
	if mode == "" {
		t.Skip("runs only as a child of the kill -9 and two-process tests")
	}
	cfg := Config{DataDir: os.Getenv("LIVECORD_STORE_HELPER_DIR"), DatabaseURL: os.Getenv("LIVECORD_STORE_HELPER_URL"),
		UserDaily: Budget{Tokens: 1000}}
	s, err := Open(ctx, cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper: open:", err)
		os.Exit(2)
	}
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, "helper:", mode, err)
		os.Exit(3)
	}
	switch mode {
	case "write": // write turns until killed; print each index once committed
		w := bufio.NewWriter(os.Stdout)
		for i := 0; ; i++ {
			tr := turn("guild:1", "1", "u1", day0, 10)
			tr.Prompt, tr.Handle = "turn-"+strconv.Itoa(i), "h-"+strconv.Itoa(i)
			if err := s.RecordTurn(ctx, tr); err != nil {
				fail(err)
			}
			if i%5 == 0 {
				if _, err := s.UpdateSettings(ctx, "guild:1", func(st *Settings) { st.SystemInstruction = "v-" + strconv.Itoa(i) }); err != nil {
					fail(err)
				}
			}
			fmt.Fprintln(w, i)
			if err := w.Flush(); err != nil {
				os.Exit(0) // the parent stopped reading
			}
		}
	case "record": // five turns of 100 tokens for u1 in guild 1; optionally a voice
		if v := os.Getenv("LIVECORD_STORE_HELPER_VOICE"); v != "" {
			if _, err := s.UpdateSettings(ctx, "guild:1", func(st *Settings) { st.Voice = v }); err != nil {
				fail(err)
			}
		}
		for range 5 {
			if err := s.RecordTurn(ctx, turn("guild:1", "1", "u1", day0, 100)); err != nil {
				fail(err)
			}
		}
	case "check": // print the budget decision and the guild's voice
		dec, err := s.Check(ctx, "1", "u1", day0)
		if err != nil {
			fail(err)
		}
		st, err := s.Settings(ctx, "guild:1")
		if err != nil {
			fail(err)
		}
		_ = json.NewEncoder(os.Stdout).Encode(map[string]any{"decision": dec, "voice": st.Voice})
	default:
		fail(fmt.Errorf("unknown mode"))
	}
	s.Close()
	os.Exit(0)
}

// kill -9 during writes loses nothing committed: every turn the child
// reported as written is there after the kill, with its handle, and the
// database is intact.
func TestStoreKill9LosesNothingCommitted(t *testing.T) {
	bothEngines(t, func(t *testing.T, tg target) {
		tg.open(t) // migrate first: the child's writes start at once
		cmd := helperCmd(t, "write", tg.cfg)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		sc := bufio.NewScanner(out)
		acked := -1
		const before = 150 // the kill lands after this many acknowledged turns
		for sc.Scan() {
			n, err := strconv.Atoi(sc.Text())
			if err != nil || n != acked+1 {
				t.Fatalf("child printed %q after %d", sc.Text(), acked)
			}
			acked = n
			if acked == before {
				if err := cmd.Process.Kill(); err != nil { // SIGKILL
					t.Fatal(err)
				}
			}
		}
		// Lines in the pipe were acknowledged before the kill took effect.
		err = cmd.Wait()
		if acked < before {
			t.Fatalf("child stopped after %d turns: %v", acked, err)
		}
		if st, ok := cmd.ProcessState.Sys().(interface{ Signaled() bool }); !ok || !st.Signaled() {
			t.Fatalf("child was not killed by the signal: %v", err)
		}

		s := tg.open(t)
		if s.engine == SQLite {
			var res string
			if err := s.db.QueryRowContext(ctx, "PRAGMA integrity_check").Scan(&res); err != nil || res != "ok" {
				t.Fatalf("integrity_check = %q, %v", res, err)
			}
		}
		hist, err := s.RecentHistory(ctx, "guild:1", 1<<40)
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]bool{}
		for _, h := range hist {
			seen[h.Prompt] = true
		}
		// RecentHistory reads at most historyScan turns: check the newest
		// ones there, and the count in full.
		var rows, usage int
		if err := s.db.QueryRowContext(ctx, "SELECT COUNT(*) FROM history").Scan(&rows); err != nil {
			t.Fatal(err)
		}
		if err := s.db.QueryRowContext(ctx, "SELECT COUNT(*) FROM usage_turns").Scan(&usage); err != nil {
			t.Fatal(err)
		}
		// The child may have committed one turn it had no time to report.
		if rows < acked+1 || rows > acked+2 || usage != rows {
			t.Fatalf("after %d acknowledged turns: %d history rows, %d usage rows", acked+1, rows, usage)
		}
		for i := max(0, acked+1-len(hist)); i <= acked; i++ {
			if !seen["turn-"+strconv.Itoa(i)] {
				t.Errorf("acknowledged turn %d is missing", i)
			}
		}
		h, _ := s.Handle(ctx, "guild:1")
		if h != "h-"+strconv.Itoa(acked) && h != "h-"+strconv.Itoa(acked+1) {
			t.Errorf("handle %q after %d acknowledged turns", h, acked+1)
		}
		st, _ := s.Settings(ctx, "guild:1")
		if last := acked - acked%5; st.SystemInstruction != "v-"+strconv.Itoa(last) && st.SystemInstruction != "v-"+strconv.Itoa(last+5) {
			t.Errorf("settings %q after %d acknowledged turns", st.SystemInstruction, acked+1)
		}
		t.Logf("%s: killed after %d acknowledged turns; %d rows on disk", tg.engine, acked+1, rows)
	})
}

// Two shard processes on one PostgreSQL share a user's budget and a
// guild's settings: two children write at once (one also sets the guild's
// voice), a third process then judges the budget on their combined usage
// and reads the voice.
func TestStoreTwoProcessesSharePostgres(t *testing.T) {
	tg := newTarget(t, Postgres)
	tg.open(t)
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i := range 2 {
		extra := []string{}
		if i == 0 {
			extra = append(extra, "LIVECORD_STORE_HELPER_VOICE=Puck")
		}
		cmd := helperCmd(t, "record", tg.cfg, extra...)
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = cmd.Run() }()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("writer %d: %v", i, err)
		}
	}
	out, err := helperCmd(t, "check", tg.cfg).Output()
	if err != nil {
		t.Fatalf("checker: %v", err)
	}
	var got struct {
		Decision Decision
		Voice    string
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("checker printed %q: %v", out, err)
	}
	d := got.Decision
	// Each writer alone stayed under the 1000-token budget (500); together
	// they reached it, and the third process sees that.
	if d.Allowed || d.Scope != "user" || d.Measure != "tokens" || d.Used != 1000 {
		t.Errorf("third process's decision: %+v (want denied at 1000 of 1000 user tokens)", d)
	}
	if !d.ResetAt.Equal(time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("reset at %v", d.ResetAt)
	}
	if got.Voice != "Puck" {
		t.Errorf("third process reads voice %q, want Puck (written by the first)", got.Voice)
	}
	if !strings.Contains(tg.cfg.DatabaseURL, "search_path") {
		t.Fatal("the processes did not share a private schema")
	}
}
