package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
	"time"
)

// The PostgreSQL tests need LIVECORD_TEST_DATABASE_URL (scripts/test.sh
// starts a private server and sets it); without it they skip, unless
// LIVECORD_REQUIRE_POSTGRES=1 says they must run.
func pgAdminURL(t testing.TB) string {
	u := os.Getenv("LIVECORD_TEST_DATABASE_URL")
	if u == "" {
		if os.Getenv("LIVECORD_REQUIRE_POSTGRES") == "1" {
			t.Fatal("LIVECORD_REQUIRE_POSTGRES=1 but LIVECORD_TEST_DATABASE_URL is empty (run scripts/test.sh)")
		}
		t.Skip("no PostgreSQL: set LIVECORD_TEST_DATABASE_URL (scripts/test.sh does)")
	}
	return u
}

// pgSchemaURL makes a schema of its own for one test (tests run in
// parallel on one server) and returns a URL whose search_path is it.
func pgSchemaURL(t testing.TB) string {
	admin := pgAdminURL(t)
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "t_" + hex.EncodeToString(b[:])
	db, err := sql.Open("pgx", admin)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	if _, err := db.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		db, err := sql.Open("pgx", admin)
		if err != nil {
			return
		}
		defer db.Close()
		_, _ = db.ExecContext(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
	})
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// target is one engine's place for a test's state: open it as often as
// the test likes (reopening sees the same data).
type target struct {
	engine Engine
	cfg    Config
}

func newTarget(t testing.TB, engine Engine) target {
	if engine == Postgres {
		return target{engine, Config{DatabaseURL: pgSchemaURL(t)}}
	}
	return target{engine, Config{DataDir: t.TempDir()}}
}

func (tg target) open(t testing.TB, mod ...func(*Config)) *Store {
	t.Helper()
	cfg := tg.cfg
	for _, m := range mod {
		m(&cfg)
	}
	s, err := Open(context.Background(), cfg)
	if err != nil {
		t.Fatalf("open %s: %v", tg.engine, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// bothEngines runs fn as parallel subtests on SQLite and PostgreSQL.
func bothEngines(t *testing.T, fn func(t *testing.T, tg target)) {
	for _, e := range []Engine{SQLite, Postgres} {
		t.Run(string(e), func(t *testing.T) {
			t.Parallel()
			fn(t, newTarget(t, e))
		})
	}
}

var ctx = context.Background()

// day0 is a fixed instant for tests that judge budget days.
var day0 = time.Date(2026, 12, 6, 15, 0, 0, 0, time.UTC)
