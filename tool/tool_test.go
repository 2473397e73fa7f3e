package tool

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

func echoTool() Tool {
	return Tool{
		Name:        "echo",
		Description: "Echo the text back.",
		Parameters: json.RawMessage(`{"$schema":"https://json-schema.org/draft/2020-12/schema","type":"object",
			"properties":{"text":{"type":"string","maxLength":20},"times":{"type":"integer","minimum":1,"maximum":3}},
			"required":["text"],"additionalProperties":false}`),
		Summarize: func(args json.RawMessage, _ any) string { return "echoed " + argString(args, "text") },
		Handler: func(_ context.Context, args json.RawMessage) (any, error) {
			var a struct {
				Text  string
				Times int
			}
			if err := json.Unmarshal(args, &a); err != nil {
				return nil, err
			}
			return strings.Repeat(a.Text, max(1, a.Times)), nil
		},
	}
}

func mustAdd(t *testing.T, r *Registry, tools ...Tool) {
	t.Helper()
	if err := r.Add(tools...); err != nil {
		t.Fatal(err)
	}
}

func wire(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestAddRefuses(t *testing.T) {
	h := func(context.Context, json.RawMessage) (any, error) { return nil, nil }
	cases := map[string]Tool{
		"empty name":      {Name: "", Handler: h},
		"digit first":     {Name: "1tool", Handler: h},
		"dot":             {Name: "a.b", Handler: h},
		"space":           {Name: "a b", Handler: h},
		"too long":        {Name: strings.Repeat("a", 64), Handler: h},
		"no handler":      {Name: "ok"},
		"non-object":      {Name: "ok", Handler: h, Parameters: json.RawMessage(`{"type":"string"}`)},
		"not json schema": {Name: "ok", Handler: h, Parameters: json.RawMessage(`[1,2]`)},
		"bad keyword":     {Name: "ok", Handler: h, Parameters: json.RawMessage(`{"type":"object","minLength":"x"}`)},
	}
	for name, tl := range cases {
		r := NewRegistry(Options{})
		if err := r.Add(tl); err == nil {
			t.Errorf("%s: accepted", name)
		} else if !strings.HasPrefix(err.Error(), "tool: add") {
			t.Errorf("%s: error %q lacks context", name, err)
		}
	}
	r := NewRegistry(Options{})
	mustAdd(t, r, echoTool())
	if err := r.Add(Tool{Name: "other", Handler: h}, echoTool()); err == nil {
		t.Fatal("duplicate accepted")
	}
	if got := r.Names(); len(got) != 1 {
		t.Fatalf("a failed Add registered some tools: %v", got)
	}
	if err := r.Add(Tool{Name: "x", Handler: h}, Tool{Name: "x", Handler: h}); err == nil {
		t.Fatal("same name twice in one Add accepted")
	}
}

func TestDeclarationsWireShape(t *testing.T) {
	r := NewRegistry(Options{})
	h := func(context.Context, json.RawMessage) (any, error) { return "ok", nil }
	mustAdd(t, r, echoTool(),
		Tool{Name: "ping", Description: "Ping.", Behavior: NonBlocking, Scheduling: WhenIdle, Handler: h})
	got := wire(t, r.Declarations(true))
	want := `[{"name":"echo","description":"Echo the text back.","parametersJsonSchema":{"additionalProperties":false,` +
		`"properties":{"text":{"type":"string","maxLength":20},"times":{"type":"integer","minimum":1,"maximum":3}},"required":["text"],"type":"object"}},` +
		`{"name":"ping","description":"Ping.","behavior":"NON_BLOCKING"}]`
	if got != want {
		t.Fatalf("declarations\n got %s\nwant %s", got, want)
	}
	if strings.Contains(wire(t, r.Declarations(false)), "behavior") {
		t.Fatal("behavior declared for a model that rejects it")
	}
}

func TestCallSuccessAndErrors(t *testing.T) {
	r := NewRegistry(Options{})
	boom := errors.New("the backend said no")
	mustAdd(t, r, echoTool(),
		Tool{Name: "fail", Handler: func(context.Context, json.RawMessage) (any, error) { return nil, boom }},
		Tool{Name: "panics", Handler: func(context.Context, json.RawMessage) (any, error) { panic("oops") }},
		Tool{Name: "unmarshalable", Handler: func(context.Context, json.RawMessage) (any, error) { return func() {}, nil }},
		Tool{Name: "noargs", Handler: func(_ context.Context, a json.RawMessage) (any, error) { return string(a), nil }},
		Tool{Name: "later", Behavior: NonBlocking, Scheduling: Silent,
			Handler: func(context.Context, json.RawMessage) (any, error) { return 1, nil }},
	)
	ctx := context.Background()
	cases := []struct {
		call    FunctionCall
		resp    string // the toolResponse element
		summary string
		isErr   bool
	}{
		{FunctionCall{ID: "c1", Name: "echo", Args: json.RawMessage(`{"text":"hi","times":2}`)},
			`{"id":"c1","name":"echo","response":{"output":"hihi"}}`, "🔧 echoed hi", false},
		{FunctionCall{ID: "c2", Name: "nope"},
			`{"id":"c2","name":"nope","response":{"error":"unknown function \"nope\""}}`, `🔧 nope failed: unknown function "nope"`, true},
		{FunctionCall{ID: "c3", Name: "echo", Args: json.RawMessage(`{"times":2}`)}, "", "", true},
		{FunctionCall{ID: "c4", Name: "echo", Args: json.RawMessage(`{"text":5}`)}, "", "", true},
		{FunctionCall{ID: "c5", Name: "echo", Args: json.RawMessage(`{"text":"a","extra":1}`)}, "", "", true},
		{FunctionCall{ID: "c6", Name: "echo", Args: json.RawMessage(`{"text":"a","times":9}`)}, "", "", true},
		{FunctionCall{ID: "c7", Name: "echo", Args: json.RawMessage(`[1]`)}, "", "", true},
		{FunctionCall{ID: "c8", Name: "echo", Args: json.RawMessage(`{"text":"0123456789012345678901"}`)}, "", "", true},
		{FunctionCall{ID: "c9", Name: "fail"},
			`{"id":"c9","name":"fail","response":{"error":"the backend said no"}}`, "🔧 fail failed: the backend said no", true},
		{FunctionCall{ID: "c10", Name: "panics"},
			`{"id":"c10","name":"panics","response":{"error":"internal error in panics"}}`, "🔧 panics failed: internal error in panics", true},
		{FunctionCall{ID: "c11", Name: "unmarshalable"},
			`{"id":"c11","name":"unmarshalable","response":{"error":"the tool returned an unusable result"}}`, "", true},
		{FunctionCall{ID: "c12", Name: "noargs", Args: json.RawMessage(`null`)},
			`{"id":"c12","name":"noargs","response":{"output":"{}"}}`, "🔧 used noargs", false},
		{FunctionCall{ID: "c13", Name: "noargs"},
			`{"id":"c13","name":"noargs","response":{"output":"{}"}}`, "🔧 used noargs", false},
		{FunctionCall{ID: "c14", Name: "later"},
			`{"id":"c14","name":"later","response":{"output":1},"scheduling":"SILENT"}`, "🔧 used later", false},
	}
	for _, c := range cases {
		res := r.Call(ctx, c.call)
		if res.Cancelled {
			t.Fatalf("%s: cancelled", c.call.ID)
		}
		if (res.Err != nil) != c.isErr {
			t.Errorf("%s: Err = %v, want error %v", c.call.ID, res.Err, c.isErr)
		}
		got := wire(t, res.Response)
		if c.resp != "" && got != c.resp {
			t.Errorf("%s: response\n got %s\nwant %s", c.call.ID, got, c.resp)
		}
		if c.isErr && !strings.Contains(got, `"response":{"error":"`) {
			t.Errorf("%s: error result %s has no error", c.call.ID, got)
		}
		if c.summary != "" && res.Summary != c.summary {
			t.Errorf("%s: summary %q, want %q", c.call.ID, res.Summary, c.summary)
		}
		if strings.ContainsAny(res.Summary, "\n\r") || !strings.HasPrefix(res.Summary, "🔧 ") {
			t.Errorf("%s: summary %q", c.call.ID, res.Summary)
		}
	}
	// Validation errors tell the model what was wrong, and the handler never ran.
	res := r.Call(ctx, FunctionCall{ID: "v", Name: "echo", Args: json.RawMessage(`{"times":2}`)})
	if msg := res.Response.Response["error"].(string); !strings.HasPrefix(msg, "invalid arguments: ") || !strings.Contains(msg, "text") {
		t.Errorf("missing required: %q", msg)
	}
	if res := r.Call(ctx, FunctionCall{Name: "panics"}); !strings.Contains(res.Err.Error(), "panic: oops") {
		t.Errorf("panic not kept for the log: %v", res.Err)
	}
}

func TestCallArgSizeCap(t *testing.T) {
	r := NewRegistry(Options{MaxArgBytes: 100})
	mustAdd(t, r, echoTool())
	res := r.Call(context.Background(), FunctionCall{Name: "echo", Args: json.RawMessage(`{"text":"` + strings.Repeat("a", 200) + `"}`)})
	if res.Err == nil || !strings.Contains(res.Response.Response["error"].(string), "more than the 100 allowed") {
		t.Fatalf("oversized args: %v %v", res.Err, res.Response)
	}
}

// TestSlowToolTimesOut: a handler that ignores its context cannot hold the
// turn: Call answers at the deadline, and Close waits for the handler.
func TestSlowToolTimesOut(t *testing.T) {
	const timeout = 100 * time.Millisecond
	release := make(chan struct{})
	finished := make(chan struct{})
	r := NewRegistry(Options{Timeout: time.Hour})
	mustAdd(t, r, Tool{Name: "stuck", Timeout: timeout, Handler: func(context.Context, json.RawMessage) (any, error) {
		defer close(finished)
		<-release // ignores ctx
		return "late", nil
	}})
	start := time.Now()
	res := r.Call(context.Background(), FunctionCall{ID: "s1", Name: "stuck"})
	elapsed := time.Since(start)
	select {
	case <-finished:
		t.Fatal("Call waited for the handler")
	default:
	}
	if elapsed < timeout {
		t.Fatalf("returned after %v, before the %v deadline", elapsed, timeout)
	}
	if got := wire(t, res.Response); got != `{"id":"s1","name":"stuck","response":{"error":"stuck timed out after 100ms"}}` {
		t.Fatalf("response %s", got)
	}
	if res.Summary != "🔧 stuck failed: stuck timed out after 100ms" {
		t.Fatalf("summary %q", res.Summary)
	}
	// Close is bounded by its context while the handler is stuck…
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := r.Close(ctx); err == nil {
		t.Fatal("Close returned while a handler runs")
	}
	// …and returns once it ends.
	close(release)
	if err := r.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	<-finished
	if res := r.Call(context.Background(), FunctionCall{Name: "stuck"}); res.Err == nil {
		t.Fatal("call after Close ran")
	}
}

func TestCancelByID(t *testing.T) {
	started := make(chan struct{})
	r := NewRegistry(Options{})
	mustAdd(t, r, Tool{Name: "wait", Handler: func(ctx context.Context, _ json.RawMessage) (any, error) {
		close(started)
		<-ctx.Done()
		return nil, ctx.Err()
	}})
	done := make(chan Result, 1)
	go func() { done <- r.Call(context.Background(), FunctionCall{ID: "function-call-7", Name: "wait"}) }()
	<-started
	// A second call with the same id while the first runs is refused.
	if res := r.Call(context.Background(), FunctionCall{ID: "function-call-7", Name: "wait"}); res.Err == nil ||
		!strings.Contains(res.Err.Error(), "already running") {
		t.Fatalf("duplicate id: %v", res.Err)
	}
	if n := r.Cancel("unknown", "function-call-7"); n != 1 {
		t.Fatalf("Cancel = %d", n)
	}
	res := <-done
	if !res.Cancelled || res.Response.ID != "function-call-7" || res.Summary != "🔧 wait cancelled" {
		t.Fatalf("got %+v", res)
	}
	if n := r.Cancel("function-call-7"); n != 0 {
		t.Fatalf("finished call still cancellable: %d", n)
	}
	if err := r.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestCallerContextCancels(t *testing.T) {
	started := make(chan struct{})
	r := NewRegistry(Options{})
	mustAdd(t, r, Tool{Name: "wait", Handler: func(ctx context.Context, _ json.RawMessage) (any, error) {
		close(started)
		<-ctx.Done()
		return nil, fmt.Errorf("stopped: %w", ctx.Err())
	}})
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-started; cancel() }()
	if res := r.Call(ctx, FunctionCall{Name: "wait"}); !res.Cancelled {
		t.Fatalf("got %+v", res)
	}
	if err := r.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// A deadline on the caller's context is a timeout, not a cancellation: the
// model still needs its answer.
func TestCallerDeadlineIsATimeout(t *testing.T) {
	r := NewRegistry(Options{Timeout: time.Hour})
	mustAdd(t, r, Tool{Name: "wait", Handler: func(ctx context.Context, _ json.RawMessage) (any, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	}})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	res := r.Call(ctx, FunctionCall{ID: "d", Name: "wait"})
	if res.Cancelled || res.Err == nil || res.Response.Response["error"] != "wait ran out of time" {
		t.Fatalf("got %+v", res)
	}
	if err := r.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestConcurrentCalls(t *testing.T) {
	r := NewRegistry(Options{})
	mustAdd(t, r, echoTool())
	var wg sync.WaitGroup
	for i := range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := fmt.Sprint("c", i)
			res := r.Call(context.Background(), FunctionCall{ID: id, Name: "echo", Args: json.RawMessage(`{"text":"` + id + `"}`)})
			if res.Err != nil || res.Response.Response["output"] != id || res.Response.ID != id {
				t.Errorf("%s: %+v", id, res)
			}
			r.Cancel(id)
		}()
	}
	wg.Wait()
	if err := r.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestNames(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"get_weather", "get_weather"},
		{"files__read.file", "files__read_file"},
		{"9lives", "_9lives"},
		{"-x", "_-x"},
		{"", "_"},
		{"héllo wörld", "h__llo_w__rld"},
	} {
		got := SanitizeName(c.in)
		if got != c.want {
			t.Errorf("SanitizeName(%q) = %q, want %q", c.in, got, c.want)
		}
		if err := CheckName(got); err != nil {
			t.Errorf("SanitizeName(%q) = %q is invalid: %v", c.in, got, err)
		}
	}
	a, b := SanitizeName(strings.Repeat("x", 80)+"a"), SanitizeName(strings.Repeat("x", 80)+"b")
	if a == b || len(a) != MaxNameLen || CheckName(a) != nil {
		t.Errorf("long names: %q %q", a, b)
	}
}

// TestCallAll: one toolCall with several calls runs them at once (a slow
// one does not delay the others' start), keeps their order, and a call
// cancelled meanwhile is left out of the responses.
func TestCallAll(t *testing.T) {
	r := NewRegistry(Options{})
	started := make(chan string, 3)
	mustAdd(t, r, echoTool(), Tool{Name: "wait", Handler: func(ctx context.Context, a json.RawMessage) (any, error) {
		started <- argString(a, "id")
		<-ctx.Done()
		return nil, ctx.Err()
	}})
	done := make(chan []Result, 1)
	go func() {
		done <- r.CallAll(context.Background(), []FunctionCall{
			{ID: "w1", Name: "wait", Args: json.RawMessage(`{"id":"w1"}`)},
			{ID: "e1", Name: "echo", Args: json.RawMessage(`{"text":"a"}`)},
			{ID: "w2", Name: "wait", Args: json.RawMessage(`{"id":"w2"}`)},
		})
	}()
	// Both waits run at the same time; cancel both.
	for range 2 {
		<-started
	}
	if n := r.Cancel("w1", "w2"); n != 2 {
		t.Fatalf("Cancel = %d", n)
	}
	res := <-done
	if len(res) != 3 || res[0].Response.ID != "w1" || res[1].Response.ID != "e1" || res[2].Response.ID != "w2" {
		t.Fatalf("order: %+v", res)
	}
	if !res[0].Cancelled || res[1].Cancelled || !res[2].Cancelled {
		t.Fatalf("cancelled flags: %v %v %v", res[0].Cancelled, res[1].Cancelled, res[2].Cancelled)
	}
	if got := wire(t, Responses(res)); got != `[{"id":"e1","name":"echo","response":{"output":"a"}}]` {
		t.Fatalf("responses %s", got)
	}
	if err := r.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
}
