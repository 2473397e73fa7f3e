package live_test

import (
	"context"
	"encoding/json"
	"io"
	"reflect"
	"testing"
	"time"

	"github.com/livecord/livecord/live"
	"github.com/livecord/livecord/live/livetest"
)

// Config.History seeds a new session: historyConfig in the setup, the
// turns as initial clientContent, and the first Send is answered in their
// context. A resumed session sends none.
func TestHistorySeedsNewSession(t *testing.T) {
	srv := livetest.NewServer(t, livetest.Options{Speed: 50})
	srv.Respond(historyResponder)
	cfg := config(srv, nil)
	cfg.History = []live.HistoryTurn{{Role: "user", Text: "My name is Ada."}, {Role: "model", Text: "Hello Ada."}}
	s := dial(t, cfg)
	var setup struct {
		HistoryConfig *struct {
			InitialHistoryInClientContent bool `json:"initialHistoryInClientContent"`
		} `json:"historyConfig"`
	}
	if err := json.Unmarshal(srv.LastSetup(), &setup); err != nil || setup.HistoryConfig == nil || !setup.HistoryConfig.InitialHistoryInClientContent {
		t.Fatalf("setup %s: want historyConfig.initialHistoryInClientContent", srv.LastSetup())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	tr, err := s.Send(ctx, "What is my name?")
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := tr.Next(ctx); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
	}
	if got := tr.Transcript(); got != "Earlier you said: My name is Ada.." {
		t.Errorf("reply %q: the seeded turn is not in the context", got)
	}
	want := []livetest.SeedTurn{{Role: "user", Text: "My name is Ada."}, {Role: "model", Text: "Hello Ada."}}
	if got := srv.Seeded(); len(got) != 1 || !reflect.DeepEqual(got[0], want) {
		t.Errorf("seeded %q, want %q", got, want)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// Resuming by handle: the history is not sent again.
	cfg.Handle = s.Handle()
	r := dial(t, cfg)
	defer r.Close()
	if n := len(srv.Seeded()); n != 1 {
		t.Errorf("%d seedings after a resume, want still 1", n)
	}
	setup.HistoryConfig = nil
	if err := json.Unmarshal(srv.LastSetup(), &setup); err != nil || setup.HistoryConfig != nil {
		t.Errorf("resume setup %s has historyConfig", srv.LastSetup())
	}
}
