package store

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"
)

// The per-turn write benchmark: one usage row + one history row + the
// handle update (RecordTurn, one transaction) in a store already holding
// N guilds (settings, handle, one history and one usage row each), against
// today's JSON file holding N voices and N handles rewriting itself for
// the handle update (the only per-turn write it has). Run with:
//
//	go test ./store -run '^$' -bench StoreTurnWrite -benchtime 3s
//
// (with LIVECORD_TEST_DATABASE_URL set for the PostgreSQL rows). Besides
// ns/op each reports p99-ns, the 99th percentile of one write.

var benchSizes = []int{10, 1000, 100000}

func BenchmarkStoreTurnWrite(pb *testing.B) {
	// Fixtures belong to pb: they live across the rounds of each sub-benchmark.
	for _, n := range benchSizes {
		pb.Run(fmt.Sprintf("json/guilds=%d", n), func(b *testing.B) {
			ref := benchFixture(pb, b, func() *jsonRef { return newJSONRef(pb, n) })
			measure(b, n, func(i, g int) error { return ref.setHandle("guild:"+strconv.Itoa(g), "handle-"+strconv.Itoa(i)) })
		})
		for _, e := range []Engine{SQLite, Postgres} {
			pb.Run(fmt.Sprintf("%s/guilds=%d", e, n), func(b *testing.B) {
				if e == Postgres && os.Getenv("LIVECORD_TEST_DATABASE_URL") == "" {
					b.Skip("no PostgreSQL: set LIVECORD_TEST_DATABASE_URL (scripts/postgres-test.sh)")
				}
				s := benchFixture(pb, b, func() *Store {
					s := newTarget(pb, e).open(pb)
					if err := s.bulkSeed(n); err != nil {
						b.Fatal(err)
					}
					return s
				})
				measure(b, n, func(i, g int) error {
					key := "guild:" + strconv.Itoa(g)
					return s.RecordTurn(ctx, Turn{Key: key, GuildID: strconv.Itoa(g), UserID: "u" + strconv.Itoa(i%97), UserName: "someone",
						Prompt: "what is the weather like on mars today?", Reply: "cold, dusty and thin-aired: about minus sixty degrees.",
						Model: "gemini-3.8-live", Modality: "text", Tokens: Tokens{PromptText: 400, ResponseAudio: 600, ResponseText: 20},
						Handle: "handle-" + strconv.Itoa(i)})
				})
			})
		}
	}
}

// benchFixtures keeps each sub-benchmark's seeded store across the rounds
// the testing package runs it for (each round would otherwise seed again).
var benchFixtures = map[string]any{}

func benchFixture[T any](parent, b *testing.B, make func() T) T {
	key := fmt.Sprintf("%p %s", parent, b.Name()) // a new parent (-count) seeds anew
	if f, ok := benchFixtures[key]; ok {
		return f.(T)
	}
	f := make()
	benchFixtures[key] = f
	return f
}

// measure times each write on a random one of n guilds and reports p99.
func measure(b *testing.B, n int, write func(i, guild int) error) {
	rng := rand.New(rand.NewPCG(1, uint64(n)))
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		g := 1 + rng.IntN(n)
		t0 := time.Now()
		if err := write(i, g); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(t0))
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[(len(lat)*99)/100].Nanoseconds()), "p99-ns")
}

// bulkSeed fills the store with n guilds in one statement per table.
func (s *Store) bulkSeed(n int) error {
	gen := func(insert, sel string) string {
		if s.engine == Postgres {
			return insert + " SELECT " + sel + " FROM generate_series(1, ?) AS g(i)"
		}
		return "WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM g WHERE i < ?) " + insert + " SELECT " + sel + " FROM g"
	}
	key := "'guild:' || CAST(i AS TEXT)"
	for _, q := range []string{
		gen("INSERT INTO settings (conv_key, voice, updated_at)", key+", 'Kore', 0"),
		gen("INSERT INTO handles (conv_key, handle, updated_at)", key+", 'seed-handle-' || CAST(i AS TEXT), 0"),
		gen("INSERT INTO history (conv_key, guild_id, user_id, user_name, prompt, reply, at)",
			key+", CAST(i AS TEXT), 'u1', 'someone', 'an earlier question', 'an earlier answer', 0"),
		gen(`INSERT INTO usage_turns (at, guild_id, user_id, user_name, model, modality, prompt_text, prompt_audio,
	prompt_other, response_text, response_audio, thoughts, total, cost_micros)`,
			"0, CAST(i AS TEXT), 'u1', 'someone', 'gemini-3.8-live', 'text', 400, 0, 0, 20, 600, 0, 1020, 7590"),
	} {
		if _, err := s.db.ExecContext(ctx, s.q(q), n); err != nil {
			return fmt.Errorf("seed: %w", err)
		}
	}
	if s.engine == Postgres {
		_, err := s.db.ExecContext(ctx, "ANALYZE")
		return err
	}
	_, err := s.db.ExecContext(ctx, "ANALYZE")
	return err
}

// jsonRef is today's bot/store.go save, reproduced for the reference
// rows: the whole file re-encoded, written to a temp file, fsynced,
// renamed over the old one, and the directory fsynced (issue 19).
type jsonRef struct {
	dir  string
	data jsonState
}

func newJSONRef(b *testing.B, n int) *jsonRef {
	r := &jsonRef{dir: b.TempDir(), data: jsonState{Voices: map[string]string{}, Handles: map[string]string{}, Commands: map[string]string{"global": "hash"}}}
	for g := 1; g <= n; g++ {
		k := "guild:" + strconv.Itoa(g)
		r.data.Voices[k] = "Kore"
		r.data.Handles[k] = "seed-handle-" + strconv.Itoa(g)
	}
	if err := r.save(); err != nil {
		b.Fatal(err)
	}
	return r
}

func (r *jsonRef) setHandle(key, h string) error {
	r.data.Handles[key] = h
	return r.save()
}

func (r *jsonRef) save() error {
	b, err := json.MarshalIndent(&r.data, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(r.dir, ".livecord-state-*")
	if err != nil {
		return err
	}
	if _, err = tmp.Write(append(b, '\n')); err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), filepath.Join(r.dir, StateFile))
	}
	if err != nil {
		_ = os.Remove(tmp.Name())
		return err
	}
	return syncDir(r.dir)
}
