package bot

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func readStateFile(t *testing.T, dir string) storeData {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, storeFile))
	if err != nil {
		t.Fatalf("read state file: %v", err)
	}
	var d storeData
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("decode state file: %v", err)
	}
	return d
}

// A /voice whose save fails must not change memory, and the retry must
// really save (it used to find the value already in memory and claim
// success with nothing on disk).
func TestStoreFailedSaveLeavesMemory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	st, err := openStore(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.set(voicesP, "guild:1", "Kore"); err != nil {
		t.Fatal(err)
	}
	// Take the directory away: the next save cannot create its temp file
	// (root ignores permission bits, so a read-only dir would not do).
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := st.set(voicesP, "guild:1", "Puck"); err == nil {
		t.Fatal("save into a missing directory succeeded")
	}
	if err := st.set(voicesP, "guild:2", "Charon"); err == nil {
		t.Fatal("save of a new key into a missing directory succeeded")
	}
	if err := st.set(voicesP, "guild:1", ""); err == nil {
		t.Fatal("delete with a failing save succeeded")
	}
	if got := st.get(voices, "guild:1"); got != "Kore" {
		t.Errorf("after failed saves guild:1 voice = %q, want the saved Kore", got)
	}
	if got := st.get(voices, "guild:2"); got != "" {
		t.Errorf("after a failed save guild:2 voice = %q, want none", got)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := st.set(voicesP, "guild:1", "Puck"); err != nil {
		t.Fatalf("retry: %v", err)
	}
	if got := readStateFile(t, dir).Voices["guild:1"]; got != "Puck" {
		t.Errorf("after the retry the file holds %q, want Puck", got)
	}
}

// A failing directory fsync is a failed save too, and the fsync happens
// after the rename (the entry it makes durable must exist).
func TestStoreSyncsDirAfterRename(t *testing.T) {
	dir := t.TempDir()
	st, err := openStore(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	var synced []string
	fail := false
	syncDirHook = func(d string) error {
		b, _ := os.ReadFile(filepath.Join(d, storeFile))
		synced = append(synced, string(b))
		if fail {
			return errors.New("injected fsync failure")
		}
		return nil
	}
	t.Cleanup(func() { syncDirHook = nil })
	if err := st.set(handlesP, "guild:1", "h1"); err != nil {
		t.Fatal(err)
	}
	if len(synced) != 1 || !strings.Contains(synced[0], `"h1"`) {
		t.Fatalf("directory syncs = %q, want one after the file holding h1 was renamed in", synced)
	}
	fail = true
	if err := st.set(handlesP, "guild:1", "h2"); err == nil {
		t.Fatal("save with a failing directory fsync succeeded")
	}
	if got := st.get(handles, "guild:1"); got != "h1" {
		t.Errorf("handle after a failed save = %q, want h1", got)
	}
}

func TestStoreRemovesStaleTempFiles(t *testing.T) {
	dir := t.TempDir()
	stale := []string{".livecord-state-123", ".livecord-state-abc"}
	for _, n := range stale {
		if err := os.WriteFile(filepath.Join(dir, n), []byte(`{"voices":`), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	other := filepath.Join(dir, "unrelated.txt")
	if err := os.WriteFile(other, []byte("keep"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := openStore(dir, nil); err != nil {
		t.Fatal(err)
	}
	for _, n := range stale {
		if _, err := os.Stat(filepath.Join(dir, n)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s still there after start (stat: %v)", n, err)
		}
	}
	if _, err := os.Stat(other); err != nil {
		t.Errorf("an unrelated file was touched: %v", err)
	}
}

// A corrupt state file used to stop every start (a crash loop under
// systemd). It is kept under a new name, logged, and the bot starts with
// defaults; the next save writes a fresh file.
func TestStoreCorruptStateMovedAside(t *testing.T) {
	dir := t.TempDir()
	garbage := []byte("{\"voices\": {\"guild:1\": \"Kore\"\x00\x00 truncated")
	if err := os.WriteFile(filepath.Join(dir, storeFile), garbage, 0o600); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	st, err := openStore(dir, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatalf("start with a corrupt state file: %v", err)
	}
	if got := st.get(voices, "guild:1"); got != "" {
		t.Errorf("voice from a corrupt file = %q, want the default", got)
	}
	aside, _ := filepath.Glob(filepath.Join(dir, storeFile+".corrupt-*"))
	if len(aside) != 1 {
		t.Fatalf("files moved aside: %q, want one", aside)
	}
	if b, err := os.ReadFile(aside[0]); err != nil || !bytes.Equal(b, garbage) {
		t.Errorf("moved-aside file holds %q (err %v), want the original bytes", b, err)
	}
	if !strings.Contains(logs.String(), "level=ERROR") || !strings.Contains(logs.String(), filepath.Base(aside[0])) {
		t.Errorf("log does not name the kept file at error level: %s", logs.String())
	}
	if err := st.set(voicesP, "guild:1", "Puck"); err != nil {
		t.Fatal(err)
	}
	if got := readStateFile(t, dir).Voices["guild:1"]; got != "Puck" {
		t.Errorf("fresh file holds %q, want Puck", got)
	}
	// A second start reads the fresh file and moves nothing more aside.
	st2, err := openStore(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := st2.get(voices, "guild:1"); got != "Puck" {
		t.Errorf("after restart voice = %q, want Puck", got)
	}
	if again, _ := filepath.Glob(filepath.Join(dir, storeFile+".corrupt-*")); len(again) != 1 {
		t.Errorf("files moved aside after a clean restart: %q", again)
	}
}
