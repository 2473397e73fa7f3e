// Package store keeps livecord's state in a database: per-conversation
// settings, Live resumption handles, the registered-commands hash,
// conversation history and token usage, with daily budgets over the usage.
//
// SQLite (pure Go, no cgo) in the data directory is the default; a
// postgres:// URL selects PostgreSQL so that shards on several machines
// share one state. Both engines run the same numbered migrations, and every
// write is one small transaction.
package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver
	_ "modernc.org/sqlite"             // registers the "sqlite" database/sql driver
)

// DBFile is the SQLite database's name inside the data directory.
const DBFile = "livecord.db"

// Engine names the database behind a Store.
type Engine string

const (
	SQLite   Engine = "sqlite"
	Postgres Engine = "postgres"
)

// Config says where the state lives and how budgets are judged.
type Config struct {
	// DataDir holds the SQLite database (livecord.db) and is where an old
	// livecord-state.json is imported from. Empty with no DatabaseURL: an
	// in-memory SQLite database (tests, throwaway runs).
	DataDir string
	// DatabaseURL (postgres://… or postgresql://…) selects PostgreSQL.
	DatabaseURL string
	// Prices converts tokens to estimated cost; nil means DefaultPrices.
	Prices Prices
	// Location sets where a budget day and a usage month begin; nil is UTC.
	Location *time.Location
	// GuildDaily and UserDaily are the default daily budgets (zero: none);
	// a conversation's Settings may override them.
	GuildDaily, UserDaily Budget
	// HistoryRetention is how long history is kept (PruneExpired,
	// RunRetention); 0 keeps it forever.
	HistoryRetention time.Duration
	// HistoryTokens bounds the history that seeds a new Live session
	// (RecentHistory); 0 seeds none.
	HistoryTokens int
	// OpTimeout bounds each call whose context has no earlier deadline
	// (default 15 s): a database that stops answering fails the call
	// instead of hanging the turn.
	OpTimeout time.Duration
	// BusyTimeout bounds how long a SQLite write waits for another writer
	// (default 5 s).
	BusyTimeout time.Duration
	// Logger receives the import and move-aside notes; nil discards.
	Logger *slog.Logger
}

// Store is safe for concurrent use; Close it when done.
type Store struct {
	db     *sql.DB
	engine Engine
	cfg    Config
	log    *slog.Logger
	prices Prices
	loc    *time.Location
}

// Open connects to the configured database, applies pending migrations and
// imports an existing livecord-state.json from the data directory once.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	s := &Store{cfg: cfg, log: cfg.Logger, prices: cfg.Prices, loc: cfg.Location}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.prices == nil {
		s.prices = DefaultPrices()
	}
	if s.loc == nil {
		s.loc = time.UTC
	}
	var err error
	switch {
	case strings.HasPrefix(cfg.DatabaseURL, "postgres://"), strings.HasPrefix(cfg.DatabaseURL, "postgresql://"):
		s.engine = Postgres
		s.db, err = sql.Open("pgx", cfg.DatabaseURL)
		if err != nil {
			return nil, fmt.Errorf("store: open postgres: %w", err)
		}
		s.db.SetMaxOpenConns(8)
		s.db.SetMaxIdleConns(8)
		s.db.SetConnMaxIdleTime(5 * time.Minute)
	case cfg.DatabaseURL != "":
		return nil, errors.New("store: DATABASE_URL must start with postgres:// or postgresql:// (leave it empty for SQLite in the data directory)")
	default:
		s.engine = SQLite
		if s.db, err = openSQLite(cfg); err != nil {
			return nil, err
		}
	}
	// Connecting, migrating and importing are bounded together (a
	// migration of a large database may take a while, a dead server not).
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 5*time.Minute)
		defer cancel()
	}
	if err := s.ping(ctx); err != nil {
		s.db.Close()
		return nil, err
	}
	if err := s.migrate(ctx); err != nil {
		s.db.Close()
		return nil, err
	}
	if cfg.DataDir != "" {
		if err := s.importJSON(ctx, cfg.DataDir); err != nil {
			s.db.Close()
			return nil, err
		}
	}
	return s, nil
}

func openSQLite(cfg Config) (*sql.DB, error) {
	busy := cfg.BusyTimeout
	if busy <= 0 {
		busy = 5 * time.Second
	}
	// WAL: readers never wait for the writer. synchronous(FULL): a commit
	// is on disk when it returns (power loss too, not only a crash).
	// _txlock=immediate: a write transaction takes the write lock at BEGIN,
	// so two writers queue on busy_timeout instead of failing on upgrade.
	// busy_timeout comes first: switching to WAL takes a lock too.
	params := "_pragma=busy_timeout(" + strconv.FormatInt(busy.Milliseconds(), 10) + ")" +
		"&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=foreign_keys(1)&_txlock=immediate"
	var dsn string
	if cfg.DataDir == "" {
		var b [8]byte
		_, _ = rand.Read(b[:])
		// A private shared-cache memory database, alive while a connection is.
		dsn = "file:livecord-mem-" + hex.EncodeToString(b[:]) + "?mode=memory&cache=shared&" + params
	} else {
		if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
			return nil, fmt.Errorf("store: create data dir: %w", err)
		}
		dsn = "file:" + filepath.Join(cfg.DataDir, DBFile) + "?" + params
	}
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("store: open sqlite: %w", err)
	}
	if cfg.DataDir == "" {
		db.SetMaxOpenConns(1) // shared-cache memory databases lock per table
	} else {
		db.SetMaxOpenConns(4)
	}
	db.SetConnMaxIdleTime(0)
	return db, nil
}

func (s *Store) ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := s.db.PingContext(ctx); err != nil {
		return fmt.Errorf("store: connect to %s: %w", s.engine, err)
	}
	return nil
}

// bound applies OpTimeout to a context without an earlier deadline.
func (s *Store) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	d := s.cfg.OpTimeout
	if d <= 0 {
		d = 15 * time.Second
	}
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) <= d {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, d)
}

// Ping checks that the database answers (for /healthz).
func (s *Store) Ping(ctx context.Context) error { return s.ping(ctx) }

// Engine says which database the store uses.
func (s *Store) Engine() Engine { return s.engine }

// Close releases the database.
func (s *Store) Close() error {
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("store: close: %w", err)
	}
	return nil
}

// q rewrites the ? placeholders of a query for PostgreSQL ($1, $2, …).
// No query here has a ? inside a string literal.
func (s *Store) q(query string) string {
	if s.engine != Postgres {
		return query
	}
	var b strings.Builder
	b.Grow(len(query) + 16)
	n := 0
	for i := 0; i < len(query); i++ {
		if query[i] == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(query[i])
	}
	return b.String()
}

// tx runs fn in one transaction, committed when fn returns nil.
func (s *Store) tx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

//go:embed migrations/*.sql
var migrationFS embed.FS

type migration struct {
	version int
	name    string
	stmts   []string
}

// migrations reads the embedded files NNNN_name.sql in order, with the
// engine's spelling of the few things the two dialects disagree on.
func migrations(engine Engine) ([]migration, error) {
	ents, err := fs.ReadDir(migrationFS, "migrations")
	if err != nil {
		return nil, err
	}
	id := "INTEGER PRIMARY KEY AUTOINCREMENT"
	if engine == Postgres {
		id = "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY"
	}
	var out []migration
	for _, e := range ents {
		num, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || !strings.HasSuffix(e.Name(), ".sql") {
			return nil, fmt.Errorf("migration %s: name is not NNNN_name.sql", e.Name())
		}
		b, err := migrationFS.ReadFile("migrations/" + e.Name())
		if err != nil {
			return nil, err
		}
		var stmts []string
		for _, st := range strings.Split(strings.ReplaceAll(string(b), "{{ID}}", id), ";\n") {
			var lines []string
			for _, l := range strings.Split(st, "\n") {
				if t := strings.TrimSpace(l); t != "" && !strings.HasPrefix(t, "--") {
					lines = append(lines, l)
				}
			}
			if len(lines) > 0 {
				stmts = append(stmts, strings.Join(lines, "\n"))
			}
		}
		out = append(out, migration{version: v, name: e.Name(), stmts: stmts})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].version < out[j].version })
	for i := 1; i < len(out); i++ {
		if out[i].version == out[i-1].version {
			return nil, fmt.Errorf("migrations %s and %s share a number", out[i-1].name, out[i].name)
		}
	}
	return out, nil
}

// migrationLock is the PostgreSQL advisory lock key under which shards
// starting together apply migrations one at a time.
const migrationLock = 0x6c697665 // "live"

func (s *Store) migrate(ctx context.Context) error {
	list, err := migrations(s.engine)
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	err = s.tx(ctx, func(tx *sql.Tx) error {
		if s.engine == Postgres {
			if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock("+strconv.Itoa(migrationLock)+")"); err != nil {
				return fmt.Errorf("lock: %w", err)
			}
		}
		if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
	version BIGINT PRIMARY KEY,
	name TEXT NOT NULL,
	applied_at BIGINT NOT NULL)`); err != nil {
			return fmt.Errorf("create schema_migrations: %w", err)
		}
		applied := map[int]bool{}
		rows, err := tx.QueryContext(ctx, "SELECT version FROM schema_migrations")
		if err != nil {
			return err
		}
		for rows.Next() {
			var v int
			if err := rows.Scan(&v); err != nil {
				rows.Close()
				return err
			}
			applied[v] = true
		}
		if err := rows.Close(); err != nil {
			return err
		}
		latest := 0
		for _, m := range list {
			latest = max(latest, m.version)
		}
		for v := range applied {
			if v > latest {
				return fmt.Errorf("the database has migration %d, newer than this binary knows (%d): run the newer binary", v, latest)
			}
		}
		for _, m := range list {
			if applied[m.version] {
				continue
			}
			for _, st := range m.stmts {
				if _, err := tx.ExecContext(ctx, st); err != nil {
					return fmt.Errorf("%s: %w", m.name, err)
				}
			}
			if _, err := tx.ExecContext(ctx, s.q("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)"),
				m.version, m.name, time.Now().UnixMilli()); err != nil {
				return fmt.Errorf("%s: record: %w", m.name, err)
			}
			s.log.Info("applied a schema migration", "engine", s.engine, "migration", m.name)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: migrate: %w", err)
	}
	return nil
}

// SchemaVersion is the newest migration applied.
func (s *Store) SchemaVersion(ctx context.Context) (int, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	var v sql.NullInt64
	if err := s.db.QueryRowContext(ctx, "SELECT MAX(version) FROM schema_migrations").Scan(&v); err != nil {
		return 0, fmt.Errorf("store: schema version: %w", err)
	}
	return int(v.Int64), nil
}

func ms(t time.Time) int64 { return t.UnixMilli() }

func fromMS(v int64) time.Time { return time.UnixMilli(v).UTC() }
