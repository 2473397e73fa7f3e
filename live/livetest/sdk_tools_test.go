package livetest_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"image"
	"image/png"
	"strings"
	"testing"
	"time"

	"github.com/livecord/livecord/internal/nodetest"
	"github.com/livecord/livecord/live/livetest"
)

type sdkToolsSummary struct {
	SetupComplete bool
	Calls         []struct {
		ID, Name string
		Args     map[string]any
	}
	Cancelled    []string
	Sources      []struct{ URI, Title string }
	Queries      []string
	Transcript   string
	TurnComplete bool
	Close        *struct {
		Code   int
		Reason string
	}
	Error *string
}

func runSDKTools(t *testing.T, opts map[string]any) sdkToolsSummary {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	arg, _ := json.Marshal(opts)
	out, err := nodetest.Command(ctx, t, "genai-live-tools.mjs", string(arg)).Output()
	if err != nil {
		t.Fatalf("node: %v\n%s", err, out)
	}
	var s sdkToolsSummary
	if err := json.Unmarshal(out, &s); err != nil {
		t.Fatalf("summary %q: %v", out, err)
	}
	return s
}

// The official SDK declares a function (NON_BLOCKING, parametersJsonSchema)
// and Google Search, sends an image part beside the text, receives the
// emulator's toolCall, answers it by id with scheduling, and reads the
// grounding sources: every wire form the emulator takes and sends is the SDK's.
func TestOfficialSDKToolsAndImage(t *testing.T) {
	nodetest.Require(t)
	srv := livetest.NewServer(t, livetest.Options{})
	var req livetest.Request
	srv.Respond(func(r livetest.Request) livetest.Reply {
		req = r
		return livetest.Reply{
			ToolCalls: []livetest.ToolCall{{Name: "current_time", Args: json.RawMessage(`{"zone":"Europe/Paris"}`)}},
			Grounding: &livetest.Grounding{Queries: []string{"paris time"}, Sources: []livetest.Source{{URI: "https://example.com/paris", Title: "Paris"}}},
		}
	})
	var img bytes.Buffer
	png.Encode(&img, image.NewGray(image.Rect(0, 0, 8, 8)))
	s := runSDKTools(t, map[string]any{"baseUrl": srv.URL(), "apiKey": srv.Key, "prompt": "What time is it here?",
		"imageBase64": base64.StdEncoding.EncodeToString(img.Bytes()), "imageMime": "image/png", "toolOutput": "09:41"})
	if s.Error != nil || !s.SetupComplete || !s.TurnComplete {
		t.Fatalf("summary %+v", s)
	}
	if len(s.Calls) != 1 || s.Calls[0].Name != "current_time" || s.Calls[0].Args["zone"] != "Europe/Paris" || !strings.HasPrefix(s.Calls[0].ID, "function-call-") {
		t.Errorf("calls %+v", s.Calls)
	}
	if !strings.Contains(s.Transcript, `current_time said {"output":"09:41"}`) {
		t.Errorf("transcript %q", s.Transcript)
	}
	if len(s.Sources) != 1 || s.Sources[0].URI != "https://example.com/paris" || len(s.Queries) != 1 {
		t.Errorf("grounding %+v %q", s.Sources, s.Queries)
	}
	if res := srv.ToolResults(); len(res) != 1 || res[0].Scheduling != "WHEN_IDLE" || res[0].ID != s.Calls[0].ID {
		t.Errorf("tool results %+v", res)
	}
	if req.Prompt != "What time is it here?" || len(req.Images) != 1 || !bytes.Equal(req.Images[0].Data, img.Bytes()) ||
		!req.GoogleSearch || len(req.Tools) != 1 || req.Tools[0] != "current_time" {
		t.Errorf("request %+v", req)
	}
	var setup struct{ Tools []map[string]any }
	json.Unmarshal(srv.LastSetup(), &setup)
	if len(setup.Tools) != 2 {
		t.Errorf("setup tools %s", srv.LastSetup())
	}
}

// A cancelled call reaches the SDK as toolCallCancellation, and an answer
// to an id never issued is the service's 1007.
func TestOfficialSDKToolCancelAndBadID(t *testing.T) {
	nodetest.Require(t)
	srv := livetest.NewServer(t, livetest.Options{})
	srv.Script(livetest.Reply{Transcript: "Never mind.", ToolCalls: []livetest.ToolCall{{ID: "function-call-7", Name: "current_time", Cancel: true}}})
	s := runSDKTools(t, map[string]any{"baseUrl": srv.URL(), "apiKey": srv.Key, "prompt": "time?"})
	if s.Error != nil || !s.TurnComplete || len(s.Cancelled) != 1 || s.Cancelled[0] != "function-call-7" || s.Transcript != "Never mind." {
		t.Fatalf("summary %+v", s)
	}
	srv.Script(livetest.Reply{ToolCalls: []livetest.ToolCall{{Name: "current_time"}}})
	s = runSDKTools(t, map[string]any{"baseUrl": srv.URL(), "apiKey": srv.Key, "prompt": "time?", "badId": true})
	if s.Close == nil || s.Close.Code != 1007 || s.TurnComplete {
		t.Fatalf("summary %+v", s)
	}
}
