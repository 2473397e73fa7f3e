package tool

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"go.uber.org/goleak"
)

// The test binary doubles as a stdio MCP server: re-executed with
// LIVECORD_TOOL_TEST_MCP=stdio it serves testServer on stdin/stdout.
func TestMain(m *testing.M) {
	switch os.Getenv("LIVECORD_TOOL_TEST_MCP") {
	case "stdio":
		srv := newTestServer(&serverProbe{})
		// Only the out-of-process server may die mid-call.
		mcp.AddTool(srv, &mcp.Tool{Name: "crash", Description: "Kills the server."},
			func(context.Context, *mcp.CallToolRequest, struct{}) (*mcp.CallToolResult, any, error) {
				fmt.Fprintln(os.Stderr, "crashing on purpose")
				os.Exit(2)
				return nil, nil, nil
			})
		if err := srv.Run(context.Background(), &mcp.StdioTransport{}); err != nil {
			fmt.Fprintln(os.Stderr, "test mcp server:", err)
			os.Exit(1)
		}
		os.Exit(0)
	case "crash":
		fmt.Fprintln(os.Stderr, "cannot open /nonexistent/notes.db: no such file")
		os.Exit(3)
	}
	goleak.VerifyTestMain(m)
}

// serverProbe lets an in-process (HTTP) test server report what happened.
type serverProbe struct {
	adds        atomic.Int32
	slowStarted chan string // the call's marker, when the slow tool starts
	slowEnded   chan string // …and when its context ends
}

type echoIn struct {
	Text string `json:"text" jsonschema:"the text to echo"`
}
type addIn struct {
	A int `json:"a"`
	B int `json:"b"`
}
type addOut struct {
	Sum int `json:"sum"`
}
type slowIn struct {
	Marker string `json:"marker"`
}

func newTestServer(p *serverProbe) *mcp.Server {
	s := mcp.NewServer(&mcp.Implementation{Name: "notes", Version: "1"}, nil)
	mcp.AddTool(s, &mcp.Tool{Name: "echo", Description: "Echo text."},
		func(_ context.Context, _ *mcp.CallToolRequest, in echoIn) (*mcp.CallToolResult, any, error) {
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "echo: " + in.Text}}}, nil, nil
		})
	mcp.AddTool(s, &mcp.Tool{Name: "add", Description: "Add two integers."},
		func(_ context.Context, _ *mcp.CallToolRequest, in addIn) (*mcp.CallToolResult, addOut, error) {
			p.adds.Add(1)
			return nil, addOut{Sum: in.A + in.B}, nil
		})
	mcp.AddTool(s, &mcp.Tool{Name: "fail", Description: "Always fails."},
		func(context.Context, *mcp.CallToolRequest, struct{}) (*mcp.CallToolResult, any, error) {
			return nil, nil, errors.New("disk on fire")
		})
	mcp.AddTool(s, &mcp.Tool{Name: "slow", Description: "Waits until cancelled."},
		func(ctx context.Context, _ *mcp.CallToolRequest, in slowIn) (*mcp.CallToolResult, any, error) {
			if p.slowStarted != nil {
				p.slowStarted <- in.Marker
			}
			<-ctx.Done()
			if p.slowEnded != nil {
				p.slowEnded <- in.Marker
			}
			return nil, nil, ctx.Err()
		})
	mcp.AddTool(s, &mcp.Tool{Name: "read.env", Description: "Report the server's environment."},
		func(context.Context, *mcp.CallToolRequest, struct{}) (*mcp.CallToolResult, any, error) {
			var keys []string
			for _, kv := range os.Environ() {
				keys = append(keys, kv[:strings.IndexByte(kv, '=')])
			}
			slices.Sort(keys)
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{
				Text: strings.Join(keys, ",") + " NOTES_TOKEN=" + os.Getenv("NOTES_TOKEN")}}}, nil, nil
		})
	mcp.AddTool(s, &mcp.Tool{Name: "secret", Description: "Must never be offered."},
		func(context.Context, *mcp.CallToolRequest, struct{}) (*mcp.CallToolResult, any, error) {
			return nil, nil, errors.New("secret tool called")
		})
	return s
}

func TestParseMCPConfig(t *testing.T) {
	env := map[string]string{"NOTES_TOKEN": "n0tes", "KEY": "s3cret$x"}
	getenv := func(k string) string { return env[k] }
	cfg, err := ParseMCPConfig([]byte(`{"mcpServers":{
		"notes":{"command":"notes-server","args":["--db","${HOME_DIR}/x"],"env":{"NOTES_TOKEN":"${NOTES_TOKEN}","LITERAL":"a$b${"},"allow":["echo"],"disabled":true},
		"web":{"url":"https://mcp.example.com/mcp","headers":{"Authorization":"Bearer ${KEY}"},"allow":["*"],"timeout":"20s"}}}`), getenv)
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Servers["web"].Headers["Authorization"]; got != "Bearer s3cret$x" {
		t.Errorf("header %q", got)
	}
	if got := cfg.Servers["notes"].Env; got["NOTES_TOKEN"] != "n0tes" || got["LITERAL"] != "a$b${" {
		t.Errorf("env %v", got)
	}
	bad := map[string]string{
		"unknown field":    `{"mcpServers":{"a":{"command":"x","alow":["*"]}}}`,
		"no allow":         `{"mcpServers":{"a":{"command":"x"}}}`,
		"empty allow":      `{"mcpServers":{"a":{"command":"x","allow":[]}}}`,
		"both":             `{"mcpServers":{"a":{"command":"x","url":"http://h/","allow":["*"]}}}`,
		"neither":          `{"mcpServers":{"a":{"allow":["*"]}}}`,
		"bad url":          `{"mcpServers":{"a":{"url":"ftp://h/","allow":["*"]}}}`,
		"headers on stdio": `{"mcpServers":{"a":{"command":"x","headers":{"a":"b"},"allow":["*"]}}}`,
		"args on http":     `{"mcpServers":{"a":{"url":"http://h/","args":["x"],"allow":["*"]}}}`,
		"bad name":         `{"mcpServers":{"a b":{"command":"x","allow":["*"]}}}`,
		"bad timeout":      `{"mcpServers":{"a":{"command":"x","allow":["*"],"timeout":"soon"}}}`,
		"missing env":      `{"mcpServers":{"a":{"command":"x","env":{"T":"${NOPE}"},"allow":["*"]}}}`,
		"trailing":         `{"mcpServers":{}} {}`,
		"not json":         `mcpServers = {}`,
	}
	for name, data := range bad {
		_, err := ParseMCPConfig([]byte(data), getenv)
		if err == nil {
			t.Errorf("%s: accepted", name)
			continue
		}
		if !strings.HasPrefix(err.Error(), "tool: mcp config") {
			t.Errorf("%s: %v", name, err)
		}
		if strings.Contains(err.Error(), "s3cret") || strings.Contains(err.Error(), "n0tes") {
			t.Errorf("%s: secret in error %v", name, err)
		}
	}
	if _, err := ParseMCPConfig([]byte(bad["missing env"]), getenv); !strings.Contains(err.Error(), "NOPE") {
		t.Errorf("missing env error does not name the variable: %v", err)
	}
	if _, err := LoadMCPConfig(t.TempDir()+"/none.json", getenv); err == nil || !strings.Contains(err.Error(), "none.json") {
		t.Errorf("missing file: %v", err)
	}
}

// TestMCPServers runs one MCP server over stdio (this test binary,
// re-executed) and one over streamable HTTP (in process, behind a bearer
// token), plus two that cannot be reached, and drives calls through a
// Registry the way a Live session would.
func TestMCPServers(t *testing.T) {
	probe := &serverProbe{slowStarted: make(chan string, 4), slowEnded: make(chan string, 4)}
	srv := newTestServer(probe)
	handler := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, nil)
	var unauthorized atomic.Int32
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer s3cret$x" {
			unauthorized.Add(1)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		handler.ServeHTTP(w, r)
	}))
	defer hs.Close()
	gone := httptest.NewServer(http.NotFoundHandler())
	goneURL := gone.URL
	gone.Close()

	env := map[string]string{"KEY": "s3cret$x", "NOTES_TOKEN": "n0tes", "GEMINI_API_KEY": "never-forwarded"}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	conf := map[string]any{"mcpServers": map[string]any{
		"notes": map[string]any{"command": self, "args": []string{"-test.run=^$"},
			"env":   map[string]string{"LIVECORD_TOOL_TEST_MCP": "stdio", "NOTES_TOKEN": "${NOTES_TOKEN}"},
			"allow": []string{"echo", "fail", "slow", "read.env", "crash", "nonexistent"}},
		"web": map[string]any{"url": hs.URL, "headers": map[string]string{"Authorization": "Bearer ${KEY}"},
			"allow": []string{"*"}},
		"crashy": map[string]any{"command": self, "env": map[string]string{"LIVECORD_TOOL_TEST_MCP": "crash"}, "allow": []string{"*"}},
		"gone":   map[string]any{"url": goneURL + "/mcp?key=${KEY}", "allow": []string{"*"}},
		"wrongkey": map[string]any{"url": hs.URL, "headers": map[string]string{"Authorization": "Bearer nope"},
			"allow": []string{"*"}},
		"off": map[string]any{"command": "/nonexistent", "allow": []string{"*"}, "disabled": true},
	}}
	data, _ := json.Marshal(conf)
	cfg, err := ParseMCPConfig(data, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	m := ConnectMCP(ctx, cfg, MCPOptions{ConnectTimeout: 60 * time.Second, CallTimeout: 60 * time.Second})
	defer func() {
		if err := m.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	}()

	status := map[string]MCPStatus{}
	for _, s := range m.Status() {
		status[s.Server] = s
	}
	if len(status) != 5 {
		t.Fatalf("status for %d servers, want 5 (disabled skipped): %+v", len(status), status)
	}
	if s := status["notes"]; s.Err != nil || strings.Join(s.Tools, ",") != "notes__crash,notes__echo,notes__fail,notes__read_env,notes__slow" ||
		strings.Join(s.NotFound, ",") != "nonexistent" {
		t.Errorf("notes: %+v", s)
	}
	if s := status["web"]; s.Err != nil || len(s.Tools) != 6 || !slices.Contains(s.Tools, "web__secret") {
		t.Errorf("web: %+v", s)
	}
	for name, want := range map[string]string{"crashy": "cannot open /nonexistent/notes.db", "gone": "connect", "wrongkey": "connect"} {
		s := status[name]
		if s.Err == nil || !strings.Contains(s.Err.Error(), want) || !strings.Contains(s.Err.Error(), `mcp server "`+name+`"`) {
			t.Errorf("%s: %v, want an error mentioning %q", name, s.Err, want)
		}
		if s.Err != nil && (strings.Contains(s.Err.Error(), "nope") || strings.Contains(s.Err.Error(), "s3cret")) {
			t.Errorf("%s: secret in error: %v", name, s.Err)
		}
	}
	if unauthorized.Load() == 0 {
		t.Error("the wrong key was never presented")
	}
	if len(m.Failures()) != 3 {
		t.Errorf("failures: %v", m.Failures())
	}

	r := NewRegistry(Options{})
	defer func() {
		if err := r.Close(context.Background()); err != nil {
			t.Error(err)
		}
	}()
	tools := m.Tools()
	const slowTimeout = 300 * time.Millisecond
	for i := range tools {
		if strings.HasSuffix(tools[i].Name, "__slow") {
			tools[i].Timeout = slowTimeout
		}
	}
	mustAdd(t, r, tools...)
	for _, d := range r.Declarations(true) {
		if d.Name == "web__add" {
			var s map[string]any
			if err := json.Unmarshal(d.ParametersJSONSchema, &s); err != nil || s["type"] != "object" {
				t.Errorf("add schema %s", d.ParametersJSONSchema)
			}
		}
	}
	call := func(id, name, args string) Result {
		return r.Call(ctx, FunctionCall{ID: id, Name: name, Args: json.RawMessage(args)})
	}

	for _, server := range []string{"notes", "web"} {
		res := call("e-"+server, server+"__echo", `{"text":"hi"}`)
		if got := wire(t, res.Response); got != `{"id":"e-`+server+`","name":"`+server+`__echo","response":{"output":"echo: hi"}}` {
			t.Errorf("%s echo: %s (%v)", server, got, res.Err)
		}
		if res.Summary != "🔧 used echo ("+server+")" {
			t.Errorf("summary %q", res.Summary)
		}
		res = call("f-"+server, server+"__fail", "")
		if res.Err == nil || !strings.Contains(res.Response.Response["error"].(string), "disk on fire") {
			t.Errorf("%s fail: %+v", server, res.Response)
		}
	}
	// Structured output passes through.
	if res := call("a1", "web__add", `{"a":2,"b":40}`); wire(t, res.Response.Response) != `{"output":{"sum":42}}` {
		t.Errorf("add: %s %v", wire(t, res.Response), res.Err)
	}
	// Invalid arguments are refused here, before the server is asked.
	before := probe.adds.Load()
	res := call("a2", "web__add", `{"a":"two","b":40}`)
	if res.Err == nil || !strings.HasPrefix(res.Response.Response["error"].(string), "invalid arguments") || probe.adds.Load() != before {
		t.Errorf("bad args: %+v (server calls %d→%d)", res.Response, before, probe.adds.Load())
	}
	// Not allowed: not offered.
	if res := call("s", "notes__secret", ""); !strings.Contains(res.Response.Response["error"].(string), "unknown function") {
		t.Errorf("secret: %+v", res.Response)
	}
	// The stdio server's environment holds only the safe basics and its own settings.
	res = call("env", "notes__read_env", "")
	out, _ := res.Response.Response["output"].(string)
	// (The token reached the server: the reply shows it redacted, as every
	// secret of the config is in anything coming back.)
	if !strings.Contains(out, "NOTES_TOKEN=[redacted]") || strings.Contains(out, "GEMINI_API_KEY") || strings.Contains(out, "never-forwarded") {
		t.Errorf("env: %q %v", out, res.Err)
	}

	// A slow tool hits its timeout; over HTTP we see the server's handler cancelled too.
	for _, server := range []string{"notes", "web"} {
		start := time.Now()
		res := call("slow-"+server, server+"__slow", `{"marker":"timeout"}`)
		if time.Since(start) < slowTimeout || res.Response.Response["error"] != server+"__slow timed out after 300ms" {
			t.Errorf("%s slow: %+v after %v", server, res.Response, time.Since(start))
		}
	}
	waitFor(t, probe.slowEnded, "timeout")

	// toolCallCancellation: cancel by id while the server works.
	done := make(chan Result, 1)
	go func() {
		done <- r.Call(ctx, FunctionCall{ID: "function-call-1", Name: "web__slow", Args: json.RawMessage(`{"marker":"cancel"}`)})
	}()
	// The timed-out call's start was already reported; wait for this one's.
	for waitFor(t, probe.slowStarted, "") != "cancel" {
	}
	if n := r.Cancel("function-call-1"); n != 1 {
		t.Fatalf("Cancel = %d", n)
	}
	if res := <-done; !res.Cancelled {
		t.Errorf("cancelled call: %+v", res)
	}
	waitFor(t, probe.slowEnded, "cancel")

	// The stdio server dies mid-call: that call and the next get an error
	// result, not a hang; the other server is unaffected.
	for _, c := range [][2]string{{"notes__crash", ""}, {"notes__echo", `{"text":"x"}`}} {
		name := c[0]
		res := call("dead", name, c[1])
		msg, _ := res.Response.Response["error"].(string)
		if res.Err == nil || !strings.Contains(msg, "notes server") {
			t.Errorf("%s after the server died: %+v", name, res.Response)
		}
	}
	if res := call("alive", "web__echo", `{"text":"still here"}`); res.Err != nil {
		t.Errorf("web after notes died: %v", res.Err)
	}
}

// waitFor receives from ch (until want, if set); the bound is generous
// because it only matters when the event never comes.
func waitFor(t *testing.T, ch chan string, want string) string {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		select {
		case got := <-ch:
			if want == "" || got == want {
				return got
			}
		case <-deadline:
			t.Fatalf("no %q event", want)
		}
	}
}

func TestConnectMCPNil(t *testing.T) {
	m := ConnectMCP(context.Background(), nil, MCPOptions{})
	if len(m.Tools()) != 0 || len(m.Status()) != 0 || m.Close() != nil {
		t.Fatal("nil config")
	}
}
