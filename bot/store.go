package bot

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
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
}

const storeFile = "livecord-state.json"

// openStore loads dir/livecord-state.json (a missing file is an empty store);
// an empty dir keeps the state in memory only.
func openStore(dir string) (*store, error) {
	s := &store{}
	if dir == "" {
		return s, nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("store: create data dir: %w", err)
	}
	s.path = filepath.Join(dir, storeFile)
	b, err := os.ReadFile(s.path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return s, nil
	case err != nil:
		return nil, fmt.Errorf("store: read: %w", err)
	}
	if err := json.Unmarshal(b, &s.data); err != nil {
		return nil, fmt.Errorf("store: decode %s: %w", s.path, err)
	}
	return s, nil
}

func (s *store) get(m func(*storeData) map[string]string, key string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return m(&s.data)[key]
}

// set stores key=value ("" deletes) in the map m selects and saves the file.
func (s *store) set(m func(*storeData) *map[string]string, key, value string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	mp := m(&s.data)
	if *mp == nil {
		*mp = map[string]string{}
	}
	if (*mp)[key] == value {
		return nil
	}
	if value == "" {
		delete(*mp, key)
	} else {
		(*mp)[key] = value
	}
	return s.saveLocked()
}

func (s *store) saveLocked() error {
	if s.path == "" {
		return nil
	}
	b, err := json.MarshalIndent(&s.data, "", "  ")
	if err != nil {
		return fmt.Errorf("store: encode: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(s.path), ".livecord-state-*")
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
	return nil
}

func voices(d *storeData) map[string]string     { return d.Voices }
func handles(d *storeData) map[string]string    { return d.Handles }
func commands(d *storeData) map[string]string   { return d.Commands }
func voicesP(d *storeData) *map[string]string   { return &d.Voices }
func handlesP(d *storeData) *map[string]string  { return &d.Handles }
func commandsP(d *storeData) *map[string]string { return &d.Commands }
