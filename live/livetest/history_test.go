package livetest_test

import (
	"reflect"
	"sync"
	"testing"

	"github.com/livecord/livecord/live/livetest"
)

const historySetup = `{"setup":{"model":"models/gemini-3.8-live","generationConfig":{"responseModalities":["AUDIO"]},"sessionResumption":{},"historyConfig":{"initialHistoryInClientContent":true}}}`

// Initial history announced in historyConfig is taken from clientContent
// without turnComplete before the first turn: the turns join the model's
// context (the first turn's Request.History) and Seeded reports them.
func TestSeededHistory(t *testing.T) {
	srv := livetest.NewServer(t, livetest.Options{Speed: 50})
	var mu sync.Mutex
	var hist []livetest.Exchange
	srv.Respond(func(r livetest.Request) livetest.Reply {
		mu.Lock()
		hist = r.History
		mu.Unlock()
		return livetest.Reply{}
	})
	ws := rawDial(t, srv, "/ws/google.ai.generativelanguage.v1beta."+method+"?key="+srv.Key, nil)
	write(t, ws, historySetup)
	if _, _, err := read(t, ws); err != nil {
		t.Fatal(err)
	}
	write(t, ws, `{"clientContent":{"turns":[{"role":"user","parts":[{"text":"What is 2+2?"}]},{"role":"model","parts":[{"text":"Four."}]},{"role":"user","parts":[{"text":"And 3+3?"}]},{"role":"model","parts":[{"text":"Six."}]}]}}`)
	write(t, ws, `{"clientContent":{"turns":[{"role":"user","parts":[{"text":"Add them."}]}],"turnComplete":true}}`)
	turn(t, ws)
	want := []livetest.SeedTurn{{"user", "What is 2+2?"}, {"model", "Four."}, {"user", "And 3+3?"}, {"model", "Six."}}
	if got := srv.Seeded(); len(got) != 1 || !reflect.DeepEqual(got[0], want) {
		t.Fatalf("seeded %q, want %q", got, want)
	}
	mu.Lock()
	defer mu.Unlock()
	wantHist := []livetest.Exchange{{Prompt: "What is 2+2?", Transcript: "Four."}, {Prompt: "And 3+3?", Transcript: "Six."}}
	if !reflect.DeepEqual(hist, wantHist) {
		t.Fatalf("the turn's context %+v, want %+v", hist, wantHist)
	}
	if p := srv.Prompts(); len(p) != 1 || p[0] != "Add them." {
		t.Fatalf("prompts %q: the history must not be taken as a prompt", p)
	}
}

// History breaking the rules closes the connection with 1007: model turns
// without historyConfig, after the first turn, roles other than user and
// model, and realtime input before the history is complete.
func TestSeededHistoryRules(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup string
		msgs  []string
	}{
		{"model turn without historyConfig", setup,
			[]string{`{"clientContent":{"turns":[{"role":"user","parts":[{"text":"hi"}]},{"role":"model","parts":[{"text":"hello"}]}]}}`}},
		{"history after the first turn", historySetup, []string{
			`{"clientContent":{"turns":[{"role":"user","parts":[{"text":"first"}]}],"turnComplete":true}}`,
			`{"clientContent":{"turns":[{"role":"model","parts":[{"text":"late history"}]}]}}`}},
		{"unknown role", historySetup,
			[]string{`{"clientContent":{"turns":[{"role":"system","parts":[{"text":"hi"}]}]}}`}},
		{"no role", historySetup,
			[]string{`{"clientContent":{"turns":[{"parts":[{"text":"hi"}]}]}}`}},
		{"realtime input before the history ends", historySetup, []string{
			`{"clientContent":{"turns":[{"role":"user","parts":[{"text":"hi"}]}]}}`,
			`{"realtimeInput":{"text":"hello?"}}`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := livetest.NewServer(t, livetest.Options{Speed: 50})
			ws := rawDial(t, srv, "/ws/google.ai.generativelanguage.v1beta."+method+"?key="+srv.Key, nil)
			write(t, ws, tc.setup)
			if _, _, err := read(t, ws); err != nil {
				t.Fatal(err)
			}
			for _, m := range tc.msgs {
				write(t, ws, m)
			}
			for {
				_, _, err := read(t, ws)
				if err != nil {
					if ce := closeOf(t, err); ce.Code != 1007 {
						t.Fatalf("close %v, want 1007", ce)
					}
					return
				}
			}
		})
	}
}
