package bot

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// store keeps the bot's small persistent state (per-guild voice choice,
// Live resumption handles, the hash of the registered commands) in one JSON
// file under the data directory, rewritten atomically on every change.
type store struct {
	path string
	mu   sync.Mutex
	data storeData
}

type storeData struct {
	// Voices maps a conversation key ("guild:ID" or "dm:ID") to a voice name.
	Voices map[string]string `json:"voices,omitempty"`
	// Handles maps a conversation key to its latest Live resumption handle.
	Handles map[string]string `json:"handles,omitempty"`
	// Commands maps a registration scope ("global" or "guild:ID") to the
	// hash of the definitions last registered there.
	Commands map[string]string `json:"commands,omitempty"`
	// Personas maps a guild's conversation key to its system instruction
	// (/persona).
	Personas map[string]string `json:"personas,omitempty"`
}

const (
	storeFile = "livecord-state.json"
	// storeTempPrefix names the temporary files of a save in progress; any
	// found at start were left by a crash and are removed.
	storeTempPrefix = ".livecord-state-"
)

// openStore loads dir/livecord-state.json (a missing file is an empty store);
// an empty dir keeps the state in memory only. Temporary files left by a
// crashed save are removed. A file that does not decode is moved aside
// (livecord-state.json.corrupt-<UTC time>, kept for the operator) and the
// bot starts with defaults rather than failing every start.
func openStore(dir string, log *slog.Logger) (*store, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &store{}
	if dir == "" {
		return s, nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("store: create data dir: %w", err)
	}
	s.path = filepath.Join(dir, storeFile)
	removeStaleTemps(dir, log)
	b, err := os.ReadFile(s.path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return s, nil
	case err != nil:
		return nil, fmt.Errorf("store: read: %w", err)
	}
	if err := json.Unmarshal(b, &s.data); err != nil {
		aside := s.path + ".corrupt-" + time.Now().UTC().Format("20060102T150405.000000000Z")
		if rerr := os.Rename(s.path, aside); rerr != nil {
			return nil, fmt.Errorf("store: %s does not decode (%v) and cannot be moved aside: %w", s.path, err, rerr)
		}
		if derr := syncDir(dir); derr != nil {
			return nil, fmt.Errorf("store: move aside %s: %w", s.path, derr)
		}
		log.Error("state file is corrupt: moved it aside and starting with default settings",
			"file", s.path, "kept_as", aside, "err", err)
		s.data = storeData{}
	}
	return s, nil
}

// removeStaleTemps deletes the temporary files of saves that never reached
// their rename. Only this process writes the data directory (one bot per
// data dir), so at start none can belong to a save in progress.
func removeStaleTemps(dir string, log *slog.Logger) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		log.Warn("could not list the data directory for stale temporary files", "dir", dir, "err", err)
		return
	}
	for _, e := range ents {
		if !e.Type().IsRegular() || !strings.HasPrefix(e.Name(), storeTempPrefix) {
			continue
		}
		p := filepath.Join(dir, e.Name())
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			log.Warn("could not remove a stale temporary state file", "file", p, "err", err)
			continue
		}
		log.Info("removed a temporary state file left by an interrupted save", "file", p)
	}
}

func (s *store) get(m func(*storeData) map[string]string, key string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return m(&s.data)[key]
}

// set stores key=value ("" deletes) in the map m selects and saves the file.
// When the save fails, memory is left as it was, so memory never claims what
// the disk does not hold (and a retry really saves).
func (s *store) set(m func(*storeData) *map[string]string, key, value string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	mp := m(&s.data)
	if *mp == nil {
		*mp = map[string]string{}
	}
	old, had := (*mp)[key]
	if old == value {
		return nil
	}
	if value == "" {
		delete(*mp, key)
	} else {
		(*mp)[key] = value
	}
	if err := s.saveLocked(); err != nil {
		if had {
			(*mp)[key] = old
		} else {
			delete(*mp, key)
		}
		return err
	}
	return nil
}

func (s *store) saveLocked() error {
	if s.path == "" {
		return nil
	}
	b, err := json.MarshalIndent(&s.data, "", "  ")
	if err != nil {
		return fmt.Errorf("store: encode: %w", err)
	}
	dir := filepath.Dir(s.path)
	tmp, err := os.CreateTemp(dir, storeTempPrefix+"*")
	if err != nil {
		return fmt.Errorf("store: save: %w", err)
	}
	if _, err = tmp.Write(append(b, '\n')); err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), s.path)
	}
	if err != nil {
		_ = os.Remove(tmp.Name())
		return fmt.Errorf("store: save: %w", err)
	}
	// The rename is durable only once the directory entry is on disk.
	if err := syncDir(dir); err != nil {
		return fmt.Errorf("store: save: %w", err)
	}
	return nil
}

// syncDirHook lets tests observe (and fail) the directory fsync.
var syncDirHook func(dir string) error

func syncDir(dir string) error {
	if syncDirHook != nil {
		if err := syncDirHook(dir); err != nil {
			return err
		}
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync dir: %w", err)
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sync dir: %w", err)
	}
	return nil
}

func voices(d *storeData) map[string]string     { return d.Voices }
func handles(d *storeData) map[string]string    { return d.Handles }
func commands(d *storeData) map[string]string   { return d.Commands }
func voicesP(d *storeData) *map[string]string   { return &d.Voices }
func handlesP(d *storeData) *map[string]string  { return &d.Handles }
func commandsP(d *storeData) *map[string]string { return &d.Commands }
