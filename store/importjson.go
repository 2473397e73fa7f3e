package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// StateFile is the JSON state file of earlier versions, imported once.
const StateFile = "livecord-state.json"

// maxStateFile bounds what the import reads: the file held three small
// maps, a few MB even at 100,000 guilds.
const maxStateFile = 256 << 20

// jsonState is livecord-state.json as bot/store.go wrote it.
type jsonState struct {
	// Voices maps a conversation key ("guild:ID" or "dm:ID") to a voice.
	Voices map[string]string `json:"voices,omitempty"`
	// Handles maps a conversation key to its Live resumption handle.
	Handles map[string]string `json:"handles,omitempty"`
	// Commands maps a registration scope to the registered definitions' hash.
	Commands map[string]string `json:"commands,omitempty"`
}

// parseState decodes a state file, refusing what the bot never wrote:
// anything but one JSON object, non-string values, empty or oversized keys.
func parseState(b []byte) (jsonState, error) {
	var st jsonState
	if len(b) > maxStateFile {
		return st, fmt.Errorf("%d bytes is more than a state file holds", len(b))
	}
	if t := bytes.TrimSpace(b); len(t) == 0 || t[0] != '{' {
		return st, errors.New("not a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&st); err != nil {
		return jsonState{}, err
	}
	if _, err := dec.Token(); err == nil {
		return jsonState{}, errors.New("data after the JSON object")
	}
	for name, m := range map[string]map[string]string{"voices": st.Voices, "handles": st.Handles, "commands": st.Commands} {
		for k, v := range m {
			if k == "" || len(k) > 256 || len(v) > 64<<10 {
				return jsonState{}, fmt.Errorf("%s: key %.40q or its value is empty or too long", name, k)
			}
		}
	}
	return st, nil
}

// importJSON copies dir/livecord-state.json into the database once, then
// renames the file to livecord-state.json.imported-<time> (the backup).
// Rows already in the database win. The import is recorded under the
// file's hash in meta, so a crash between the commit and the rename does
// not import the same file twice (and resurrect a handle cleared since);
// several shards' files each import once into one PostgreSQL.
func (s *Store) importJSON(ctx context.Context, dir string) error {
	path := filepath.Join(dir, StateFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("store: read %s: %w", path, err)
	}
	stamp := time.Now().UTC().Format("20060102T150405.000000000Z")
	st, err := parseState(b)
	if err != nil {
		aside := path + ".corrupt-" + stamp
		if rerr := os.Rename(path, aside); rerr != nil {
			return fmt.Errorf("store: %s does not decode (%v) and cannot be moved aside: %w", path, err, rerr)
		}
		s.log.Error("old state file is corrupt: moved it aside, nothing imported", "file", path, "kept_as", aside, "err", err)
		return syncDir(dir)
	}
	sum := sha256.Sum256(b)
	marker := "json_import:" + hex.EncodeToString(sum[:])
	imported := false
	err = s.tx(ctx, func(tx *sql.Tx) error {
		var v string
		switch err := tx.QueryRowContext(ctx, s.q("SELECT value FROM meta WHERE key = ?"), marker).Scan(&v); {
		case err == nil:
			return nil // imported before; only the rename is left
		case !errors.Is(err, sql.ErrNoRows):
			return err
		}
		now := ms(time.Now())
		for k, voice := range st.Voices {
			if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO settings (conv_key, voice, updated_at) VALUES (?, ?, ?)
	ON CONFLICT (conv_key) DO NOTHING`), k, voice, now); err != nil {
				return err
			}
		}
		for k, h := range st.Handles {
			if _, err := tx.ExecContext(ctx, s.q("INSERT INTO handles (conv_key, handle, updated_at) VALUES (?, ?, ?) ON CONFLICT (conv_key) DO NOTHING"), k, h, now); err != nil {
				return err
			}
		}
		for k, h := range st.Commands {
			if _, err := tx.ExecContext(ctx, s.q("INSERT INTO commands (scope, hash, updated_at) VALUES (?, ?, ?) ON CONFLICT (scope) DO NOTHING"), k, h, now); err != nil {
				return err
			}
		}
		note := fmt.Sprintf("%s voices=%d handles=%d commands=%d", stamp, len(st.Voices), len(st.Handles), len(st.Commands))
		if _, err := tx.ExecContext(ctx, s.q("INSERT INTO meta (key, value) VALUES (?, ?)"), marker, note); err != nil {
			return err
		}
		imported = true
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: import %s: %w", path, err)
	}
	backup := path + ".imported-" + stamp
	if err := os.Rename(path, backup); err != nil {
		return fmt.Errorf("store: keep %s as a backup: %w", path, err)
	}
	if err := syncDir(dir); err != nil {
		return fmt.Errorf("store: keep %s as a backup: %w", path, err)
	}
	if imported {
		s.log.Info("imported the old state file", "file", path, "backup", backup,
			"voices", len(st.Voices), "handles", len(st.Handles), "commands", len(st.Commands))
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("store: sync %s: %w", dir, err)
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("store: sync %s: %w", dir, err)
	}
	return nil
}
