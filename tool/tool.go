package tool

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime/debug"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/google/jsonschema-go/jsonschema"

	"github.com/livecord/livecord/live"
)

// The wire shapes of function calling are live's (live/internal/wire owns
// them, so the Live client depends on nothing here); tool names them too.
type (
	// Behavior is a function declaration's behavior on the Live API.
	Behavior = live.Behavior
	// Scheduling tells the model what to do with a NON_BLOCKING call's response.
	Scheduling = live.Scheduling
	// FunctionDeclaration is a tool as the setup declares it.
	FunctionDeclaration = live.FunctionDeclaration
	// FunctionCall is one call of a toolCall.
	FunctionCall = live.FunctionCall
	// FunctionResponse is one response of a toolResponse.
	FunctionResponse = live.FunctionResponse
)

// Behaviors and schedulings.
const (
	Blocking    = live.Blocking
	NonBlocking = live.NonBlocking
	Interrupt   = live.Interrupt
	WhenIdle    = live.WhenIdle
	Silent      = live.Silent
)

// Handler runs a call. args is a JSON object already valid against the
// tool's Parameters. The result is marshalled into the response's "output";
// an error becomes {"error": err.Error()}, so its text is for the model.
type Handler func(ctx context.Context, args json.RawMessage) (result any, err error)

// Tool is one function the model may call.
type Tool struct {
	// Name must start with a letter or underscore and hold only letters,
	// digits, underscores and dashes, at most 63 (the strictest of the
	// Gemini API's documented rules); see SanitizeName.
	Name        string
	Description string
	// Parameters is a JSON Schema for the arguments object; nil means none.
	Parameters json.RawMessage
	// Behavior is declared to the model; "" leaves the model's default.
	Behavior Behavior
	// Scheduling is set on the response of a NonBlocking tool.
	Scheduling Scheduling
	// Timeout bounds one call; 0 takes Options.Timeout.
	Timeout time.Duration
	// Summarize returns the reply's line for a successful call (the 🔧 is
	// added); nil gives "used <name>".
	Summarize func(args json.RawMessage, result any) string
	Handler   Handler
}

// Result is what Call returns.
type Result struct {
	// Response goes to the model, unless Cancelled.
	Response FunctionResponse
	// Summary is one line for the reply, e.g. "🔧 checked the time in UTC".
	Summary string
	// Err is why the call failed (nil on success), for logs; the model
	// sees its text in Response.
	Err error
	// Cancelled: the call was cancelled by id (toolCallCancellation) or
	// by the caller's context; the model expects no response.
	Cancelled bool
	Elapsed   time.Duration
}

// Options configure a Registry.
type Options struct {
	Timeout     time.Duration // per call, when the tool sets none; default 10 s
	MaxArgBytes int           // larger args are refused; default 64 KiB
}

// Registry holds tools and dispatches calls. Safe for concurrent use.
type Registry struct {
	opts Options

	mu       sync.Mutex
	tools    map[string]*entry
	order    []string
	inflight map[string]context.CancelFunc
	closed   bool
	handlers sync.WaitGroup // handler goroutines, including ones abandoned at their deadline
}

type entry struct {
	Tool
	decl   json.RawMessage
	schema *jsonschema.Resolved
}

// NewRegistry returns an empty registry.
func NewRegistry(opts Options) *Registry {
	if opts.Timeout <= 0 {
		opts.Timeout = 10 * time.Second
	}
	if opts.MaxArgBytes <= 0 {
		opts.MaxArgBytes = 64 << 10
	}
	return &Registry{opts: opts, tools: map[string]*entry{}, inflight: map[string]context.CancelFunc{}}
}

// Add registers tools; a bad name, a duplicate, a missing handler or a schema
// that does not compile is an error and adds none of them.
func (r *Registry) Add(tools ...Tool) error {
	entries := make([]*entry, 0, len(tools))
	seen := map[string]bool{}
	for _, t := range tools {
		if err := CheckName(t.Name); err != nil {
			return fmt.Errorf("tool: add: %w", err)
		}
		if t.Handler == nil {
			return fmt.Errorf("tool: add %s: no handler", t.Name)
		}
		if seen[t.Name] {
			return fmt.Errorf("tool: add %s: listed twice", t.Name)
		}
		seen[t.Name] = true
		e := &entry{Tool: t}
		if len(t.Parameters) > 0 {
			s, decl, err := compileSchema(t.Parameters)
			if err != nil {
				return fmt.Errorf("tool: add %s: parameters: %w", t.Name, err)
			}
			e.schema, e.decl = s, decl
		}
		entries = append(entries, e)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range entries {
		if _, dup := r.tools[e.Name]; dup {
			return fmt.Errorf("tool: add %s: a tool of that name is already registered", e.Name)
		}
	}
	for _, e := range entries {
		r.tools[e.Name] = e
		r.order = append(r.order, e.Name)
	}
	return nil
}

// Names lists the registered tools in the order they were added.
func (r *Registry) Names() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.order...)
}

// Declarations returns the function declarations for the setup's tools, in
// the order added. withBehavior false omits "behavior", for models that
// reject it (gemini-3.1-flash-live-preview supports blocking calls only).
func (r *Registry) Declarations(withBehavior bool) []FunctionDeclaration {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]FunctionDeclaration, 0, len(r.order))
	for _, n := range r.order {
		e := r.tools[n]
		d := FunctionDeclaration{Name: e.Name, Description: e.Description, ParametersJSONSchema: e.decl}
		if withBehavior {
			d.Behavior = e.Behavior
		}
		out = append(out, d)
	}
	return out
}

// Call runs one function call and always returns: the handler's result, or
// an error result when the tool is unknown, the arguments are invalid, the
// handler fails, panics or overruns its timeout. If the call is cancelled
// (Cancel with its id, or ctx) Result.Cancelled is set and no response is
// due. A handler that ignores its context is left running in the background
// (Close waits for it); the call itself returns at the deadline.
func (r *Registry) Call(ctx context.Context, call FunctionCall) Result {
	start := time.Now()
	res := r.call(ctx, call)
	res.Elapsed = time.Since(start)
	res.Response.ID, res.Response.Name = call.ID, call.Name
	return res
}

func (r *Registry) call(ctx context.Context, call FunctionCall) Result {
	r.mu.Lock()
	e, ok := r.tools[call.Name]
	closed := r.closed
	r.mu.Unlock()
	if closed {
		return failed(call.Name, "", fmt.Errorf("tool: call %s: registry closed", call.Name), "tools are shut down")
	}
	if !ok {
		return failed(call.Name, "", fmt.Errorf("tool: call %s: no such tool", oneLine(call.Name, 64)),
			fmt.Sprintf("unknown function %q", oneLine(call.Name, 64)))
	}
	args, err := r.checkArgs(e, call.Args)
	if err != nil {
		return failed(call.Name, "", fmt.Errorf("tool: call %s: %w", call.Name, err), err.Error())
	}

	timeout := e.Timeout
	if timeout <= 0 {
		timeout = r.opts.Timeout
	}
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if call.ID != "" {
		r.mu.Lock()
		if _, busy := r.inflight[call.ID]; busy {
			r.mu.Unlock()
			return failed(call.Name, "", fmt.Errorf("tool: call %s: id %q already running", call.Name, call.ID), "duplicate call id")
		}
		r.inflight[call.ID] = cancel
		r.mu.Unlock()
		defer func() {
			r.mu.Lock()
			delete(r.inflight, call.ID)
			r.mu.Unlock()
		}()
	}
	tctx, tcancel := context.WithTimeout(cctx, timeout)
	defer tcancel()

	type outcome struct {
		v   any
		err error
	}
	done := make(chan outcome, 1)
	r.handlers.Add(1)
	go func() {
		defer r.handlers.Done()
		defer func() {
			if p := recover(); p != nil {
				done <- outcome{err: &panicError{value: p, stack: debug.Stack()}}
			}
		}()
		v, err := e.Handler(tctx, args)
		done <- outcome{v, err}
	}()

	var out outcome
	select {
	case out = <-done:
	case <-tctx.Done():
		// Prefer an answer that raced the deadline.
		select {
		case out = <-done:
		default:
			out.err = tctx.Err()
		}
	}
	if out.err != nil && cctx.Err() != nil && !errors.Is(context.Cause(cctx), context.DeadlineExceeded) {
		// Cancelled by id or by the caller: nothing goes back to the model.
		// (A caller's deadline is a timeout: the model still gets an answer.)
		return Result{Cancelled: true, Err: fmt.Errorf("tool: call %s: cancelled: %w", call.Name, context.Cause(cctx)),
			Summary: "🔧 " + call.Name + " cancelled"}
	}
	if out.err != nil {
		var pe *panicError
		switch {
		case (errors.Is(out.err, context.DeadlineExceeded) || errors.Is(tctx.Err(), context.DeadlineExceeded)) && ctx.Err() != nil:
			return failed(call.Name, e.Scheduling, fmt.Errorf("tool: call %s: the caller's deadline passed: %w", call.Name, ctx.Err()),
				call.Name+" ran out of time")
		case errors.Is(out.err, context.DeadlineExceeded) || errors.Is(tctx.Err(), context.DeadlineExceeded):
			return failed(call.Name, e.Scheduling, fmt.Errorf("tool: call %s: timed out after %v", call.Name, timeout),
				fmt.Sprintf("%s timed out after %v", call.Name, timeout))
		case errors.As(out.err, &pe):
			return failed(call.Name, e.Scheduling, fmt.Errorf("tool: call %s: %w", call.Name, pe), "internal error in "+call.Name)
		}
		return failed(call.Name, e.Scheduling, fmt.Errorf("tool: call %s: %w", call.Name, out.err), out.err.Error())
	}
	// The result must survive JSON marshalling into the toolResponse.
	if _, err := json.Marshal(out.v); err != nil {
		return failed(call.Name, e.Scheduling, fmt.Errorf("tool: call %s: result: %w", call.Name, err), "the tool returned an unusable result")
	}
	line := "used " + call.Name
	if e.Summarize != nil {
		if s := e.Summarize(args, out.v); s != "" {
			line = s
		}
	}
	return Result{
		Response: FunctionResponse{Response: map[string]any{"output": out.v}, Scheduling: schedulingFor(e)},
		Summary:  "🔧 " + oneLine(line, 120),
	}
}

func schedulingFor(e *entry) Scheduling {
	if e.Behavior == NonBlocking {
		return e.Scheduling
	}
	return ""
}

// failed builds an error result; msg is for the model and the summary.
func failed(name string, sched Scheduling, err error, msg string) Result {
	msg = oneLine(msg, 500)
	return Result{
		Response: FunctionResponse{Response: map[string]any{"error": msg}, Scheduling: sched},
		Summary:  "🔧 " + oneLine(name, 64) + " failed: " + oneLine(msg, 100),
		Err:      err,
	}
}

// checkArgs parses and validates call arguments: absent or null means {}.
func (r *Registry) checkArgs(e *entry, raw json.RawMessage) (json.RawMessage, error) {
	if len(raw) > r.opts.MaxArgBytes {
		return nil, fmt.Errorf("arguments are %d bytes, more than the %d allowed", len(raw), r.opts.MaxArgBytes)
	}
	trimmed := strings.TrimSpace(string(raw))
	if trimmed == "" || trimmed == "null" {
		raw = json.RawMessage("{}")
	}
	var obj map[string]any
	if err := json.Unmarshal(raw, &obj); err != nil {
		return nil, fmt.Errorf("arguments are not a JSON object: %v", err)
	}
	if obj == nil {
		obj = map[string]any{}
	}
	if e.schema != nil {
		if err := e.schema.Validate(obj); err != nil {
			return nil, fmt.Errorf("invalid arguments: %v", err)
		}
	}
	return raw, nil
}

// CallAll runs the function calls of one toolCall message concurrently and
// returns their results in the same order, when all are done (each bounded by
// its timeout). Send the non-Cancelled responses as one toolResponse.
func (r *Registry) CallAll(ctx context.Context, calls []FunctionCall) []Result {
	out := make([]Result, len(calls))
	var wg sync.WaitGroup
	for i, c := range calls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i] = r.Call(ctx, c)
		}()
	}
	wg.Wait()
	return out
}

// Responses returns the responses due to the model: those not cancelled.
func Responses(results []Result) []FunctionResponse {
	var rs []FunctionResponse
	for _, res := range results {
		if !res.Cancelled {
			rs = append(rs, res.Response)
		}
	}
	return rs
}

// Cancel cancels running calls by id (toolCallCancellation.ids) and reports
// how many were running.
func (r *Registry) Cancel(ids ...string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, id := range ids {
		if c, ok := r.inflight[id]; ok {
			c()
			n++
		}
	}
	return n
}

// Close refuses new calls, cancels running ones and waits (bounded by ctx)
// for every handler goroutine, including ones abandoned at their deadline.
func (r *Registry) Close(ctx context.Context) error {
	r.mu.Lock()
	r.closed = true
	for _, c := range r.inflight {
		c()
	}
	r.mu.Unlock()
	done := make(chan struct{})
	go func() { r.handlers.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("tool: close: handlers still running: %w", ctx.Err())
	}
}

type panicError struct {
	value any
	stack []byte
}

func (p *panicError) Error() string { return fmt.Sprintf("panic: %v\n%s", p.value, p.stack) }

// oneLine flattens s to one line of at most n runes.
func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}
