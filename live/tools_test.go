package live_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"image"
	"image/color"
	"image/png"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/livecord/livecord/live"
	"github.com/livecord/livecord/live/livetest"
)

var clockDecl = live.FunctionDeclaration{Name: "current_time", Description: "The date and time.",
	ParametersJSONSchema: json.RawMessage(`{"type":"object","properties":{"zone":{"type":"string"}}}`)}

// TestToolRoundTrip: the declaration reaches the setup, the call arrives as
// an event, the response (id echoed) reaches the model and its answer is the
// reply; grounding sources are collected on the turn.
func TestToolRoundTrip(t *testing.T) {
	srv := livetest.NewServer(t, livetest.Options{})
	var req livetest.Request
	srv.Respond(func(r livetest.Request) livetest.Reply {
		req = r
		return livetest.Reply{
			ToolCalls: []livetest.ToolCall{{ID: "function-call-42", Name: "current_time", Args: json.RawMessage(`{"zone":"Europe/Paris"}`)}},
			Grounding: &livetest.Grounding{Queries: []string{"time in paris"}, Sources: []livetest.Source{
				{URI: "https://example.com/a", Title: "A"}, {URI: "https://example.com/b", Title: "B"}, {URI: "https://example.com/a", Title: "A"}}},
		}
	})
	cfg := config(srv, nil)
	cfg.Tools, cfg.GoogleSearch = []live.FunctionDeclaration{clockDecl}, true
	s := dial(t, cfg)
	var setup struct {
		Tools []map[string]json.RawMessage `json:"tools"`
	}
	if err := json.Unmarshal(srv.LastSetup(), &setup); err != nil || len(setup.Tools) != 2 ||
		!strings.Contains(string(setup.Tools[0]["functionDeclarations"]), `"current_time"`) || string(setup.Tools[1]["googleSearch"]) != "{}" {
		t.Fatalf("setup tools %s (%v)", srv.LastSetup(), err)
	}
	turn := send(t, s, "What time is it in Paris?")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var transcript string
	var queries []string
	for {
		ev, err := turn.Next(ctx)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		switch ev.Kind {
		case live.EventToolCall:
			var args bytes.Buffer
			if len(ev.Calls) == 1 {
				json.Compact(&args, ev.Calls[0].Args)
			}
			if len(ev.Calls) != 1 || ev.Calls[0].ID != "function-call-42" || ev.Calls[0].Name != "current_time" || args.String() != `{"zone":"Europe/Paris"}` {
				t.Fatalf("calls %+v", ev.Calls)
			}
			err := s.Respond(ctx, live.FunctionResponse{ID: ev.Calls[0].ID, Name: "current_time",
				Response: map[string]any{"output": "09:41"}, Scheduling: live.WhenIdle})
			if err != nil {
				t.Fatal(err)
			}
		case live.EventGrounding:
			queries = append(queries, ev.Queries...)
		case live.EventOutputTranscript:
			transcript += ev.Text
		}
	}
	if !strings.Contains(transcript, `current_time said {"output":"09:41"}`) {
		t.Errorf("transcript %q: the tool's answer did not reach the model", transcript)
	}
	if got := turn.Sources(); len(got) != 2 || got[0].URI != "https://example.com/a" || got[1].Title != "B" {
		t.Errorf("sources %+v", got)
	}
	if len(queries) != 1 || queries[0] != "time in paris" {
		t.Errorf("queries %q", queries)
	}
	if !req.GoogleSearch || len(req.Tools) != 1 {
		t.Errorf("request %+v", req)
	}
	if res := srv.ToolResults(); len(res) != 1 || res[0].Scheduling != "WHEN_IDLE" || res[0].ID != "function-call-42" {
		t.Errorf("tool results %+v", res)
	}
}

// TestGroundingNeedsSearch: without googleSearch in the setup there is no
// grounding (the emulator, like the service, searches only when offered).
func TestGroundingNeedsSearch(t *testing.T) {
	srv := livetest.NewServer(t, livetest.Options{})
	srv.Script(livetest.Reply{Transcript: "Hi.", Grounding: &livetest.Grounding{Sources: []livetest.Source{{URI: "https://example.com"}}}})
	s := dial(t, config(srv, nil))
	turn := send(t, s, "hi")
	if r := drain(t, turn); r.err != nil || r.has(live.EventGrounding) || len(turn.Sources()) != 0 {
		t.Fatalf("%+v sources %v", r, turn.Sources())
	}
}

// TestToolCancellation: a withdrawn call arrives as EventToolCancel and the
// reply goes on without its response.
func TestToolCancellation(t *testing.T) {
	srv := livetest.NewServer(t, livetest.Options{})
	srv.Script(livetest.Reply{Transcript: "Never mind.", ToolCalls: []livetest.ToolCall{{ID: "c1", Name: "current_time", Cancel: true}}})
	cfg := config(srv, nil)
	cfg.Tools = []live.FunctionDeclaration{clockDecl}
	s := dial(t, cfg)
	r := drain(t, send(t, s, "time?"))
	if r.err != nil || !r.has(live.EventToolCall) || !r.has(live.EventToolCancel) || r.transcript != "Never mind." {
		t.Fatalf("%+v", r)
	}
}

// TestToolResponseUnknownID: answering a call that was never made closes
// the session with the service's 1007.
func TestToolResponseUnknownID(t *testing.T) {
	srv := livetest.NewServer(t, livetest.Options{})
	srv.Script(livetest.Reply{ToolCalls: []livetest.ToolCall{{ID: "c1", Name: "current_time"}}})
	cfg := config(srv, nil)
	cfg.Tools = []live.FunctionDeclaration{clockDecl}
	s := dial(t, cfg)
	turn := send(t, s, "time?")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for {
		ev, err := turn.Next(ctx)
		if ev.Kind == live.EventToolCall {
			if err := s.Respond(ctx, live.FunctionResponse{ID: "nope", Name: "current_time", Response: map[string]any{"output": 1}}); err != nil {
				t.Fatal(err)
			}
			continue
		}
		var le *live.Error
		if errors.As(err, &le) {
			if le.Class != live.ClassInvalidConfig || le.Code != 1007 {
				t.Fatalf("error %v", le)
			}
			return
		}
		if err != nil {
			t.Fatalf("turn ended with %v, want a 1007", err)
		}
	}
}

// TestBadToolDeclaration: a function name the service refuses is a 1007
// at setup.
func TestBadToolDeclaration(t *testing.T) {
	srv := livetest.NewServer(t, livetest.Options{})
	cfg := config(srv, nil)
	cfg.Tools = []live.FunctionDeclaration{{Name: "9 bad name"}}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := live.Dial(ctx, cfg)
	var le *live.Error
	if !errors.As(err, &le) || le.Code != 1007 || !strings.Contains(le.Reason, "Invalid function name") {
		t.Fatalf("Dial: %v", err)
	}
}

// TestImagePart: an image goes in the same user turn as the text.
func TestImagePart(t *testing.T) {
	srv := livetest.NewServer(t, livetest.Options{})
	var got livetest.Request
	srv.Respond(func(r livetest.Request) livetest.Reply { got = r; return livetest.Reply{Transcript: "A red square."} })
	s := dial(t, config(srv, nil))
	img := image.NewRGBA(image.Rect(0, 0, 4, 3))
	for i := range img.Pix {
		img.Pix[i] = 0xff
	}
	img.Set(0, 0, color.RGBA{255, 0, 0, 255})
	var buf bytes.Buffer
	png.Encode(&buf, img)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	turn, err := s.Send(ctx, "What is this?", live.Image{MIMEType: "image/png", Data: buf.Bytes()})
	if err != nil {
		t.Fatal(err)
	}
	if r := drain(t, turn); r.err != nil || r.transcript != "A red square." {
		t.Fatalf("%+v", r)
	}
	if got.Prompt != "What is this?" || len(got.Images) != 1 || got.Images[0].MIMEType != "image/png" || !bytes.Equal(got.Images[0].Data, buf.Bytes()) {
		t.Fatalf("request %+v", got)
	}
	// Bytes that are not what they claim: the service refuses the turn.
	turn, err = s.Send(ctx, "And this?", live.Image{MIMEType: "image/jpeg", Data: buf.Bytes()})
	if err != nil {
		t.Fatal(err)
	}
	var le *live.Error
	if r := drain(t, turn); !errors.As(r.err, &le) || le.Code != 1007 {
		t.Fatalf("mismatched image: %+v", r)
	}
	if _, err := s.Send(ctx, "x", live.Image{MIMEType: "text/plain", Data: []byte("x")}); err == nil {
		t.Fatal("a non-image part was sent")
	}
}

// TestToolCallHoldsStallClock: a tool that takes longer than the stall
// timeout does not fail the turn as stalled: the server is waiting for us.
func TestToolCallHoldsStallClock(t *testing.T) {
	srv := livetest.NewServer(t, livetest.Options{})
	srv.Script(livetest.Reply{ToolCalls: []livetest.ToolCall{{ID: "c1", Name: "current_time"}}})
	cfg := config(srv, nil)
	cfg.Tools = []live.FunctionDeclaration{clockDecl}
	cfg.StallTimeout = 200 * time.Millisecond
	s := dial(t, cfg)
	turn := send(t, s, "time?")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ev, err := turn.Next(ctx)
	for err == nil && ev.Kind != live.EventToolCall {
		ev, err = turn.Next(ctx)
	}
	if err != nil {
		t.Fatal(err)
	}
	// The "tool" runs for three stall timeouts while the turn is read.
	done := make(chan struct{})
	go func() {
		defer close(done)
		time.Sleep(3 * cfg.StallTimeout)
		s.Respond(ctx, live.FunctionResponse{ID: "c1", Name: "current_time", Response: map[string]any{"output": "noon"}})
	}()
	r := drain(t, turn)
	<-done
	if r.err != nil || !strings.Contains(r.transcript, "noon") {
		t.Fatalf("%+v", r)
	}
}

// TestNewTurnWithdrawsPendingCalls: a newer turn interrupts one waiting on
// a tool call; the emulator withdraws the call (toolCallCancellation), as
// the service does, and the first turn ends interrupted.
func TestNewTurnWithdrawsPendingCalls(t *testing.T) {
	srv := livetest.NewServer(t, livetest.Options{})
	srv.Script(livetest.Reply{ToolCalls: []livetest.ToolCall{{ID: "c1", Name: "current_time"}}}, livetest.Reply{Transcript: "Second."})
	cfg := config(srv, nil)
	cfg.Tools = []live.FunctionDeclaration{clockDecl}
	s := dial(t, cfg)
	first := send(t, s, "time?")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if ev, err := first.Next(ctx); err != nil || ev.Kind != live.EventToolCall {
		t.Fatalf("%v %v", ev.Kind, err)
	}
	second := send(t, s, "never mind")
	r := drain(t, first)
	if r.err != nil || !r.has(live.EventToolCancel) || !r.has(live.EventInterrupted) {
		t.Fatalf("first turn %+v", r)
	}
	if r := drain(t, second); r.err != nil || r.transcript != "Second." {
		t.Fatalf("second turn %+v", r)
	}
}
