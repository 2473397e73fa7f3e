package discordtest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/livecord/livecord/discordtest/openapi"
)

// specState is what checking against Discord's OpenAPI description
// (Options.Spec) recorded.
type specState struct {
	expected   []openapi.Violation // ExpectSpecViolation; Message unused
	violations []openapi.Violation
	checked    map[string]int // exchanges checked, by operationId
	gateway    map[string]int // gateway connections, by their v= query
	paths      map[string]int // REST requests, by API prefix (/api/v10, ...)
	serving    int            // requests being served and checked
}

// spec is an allowed difference between the emulator's traffic and the
// description, with the reason it is allowed.
type specException struct {
	operation, part string
	pointer         *regexp.Regexp
	reason          string
}

// specExceptions lists every allowed difference. Each needs a reason:
// the emulator is wrong otherwise.
var specExceptions = []specException{{
	part: "response", pointer: regexp.MustCompile(`^/errors(/|$)`),
	reason: "the description types every nested error's code as an integer (Error.code), but Discord's " +
		"form-body errors carry string codes (\"BASE_TYPE_MAX_LENGTH\", as its documentation's " +
		"example shows and discord.js and discordgo parse): no real 50035 errors tree validates, so " +
		"only the top-level message and code are held to the description",
}, {
	part: "request", pointer: regexp.MustCompile(`^(/\d+)?/default_member_permissions$`),
	reason: "Discord documents a command's default_member_permissions as a permission bit set in a " +
		"string (\"?string\"), which is what discordgo sends and what the description returns, but the " +
		"description's request schemas type it integer|null; a string is what Discord accepts",
}}

func (e specException) covers(v openapi.Violation) bool {
	return (e.operation == "" || e.operation == v.Operation) && (e.part == "" || e.part == v.Part) &&
		(e.pointer == nil || e.pointer.MatchString(v.Pointer))
}

// serveChecked serves a REST request through serveREST and checks the
// exchange against the description.
func (s *Server) serveChecked(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 64<<20))
	if err != nil {
		writeError(w, &apiError{status: 400, Message: "400: Bad Request", Code: 0})
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	s.mu.Lock()
	s.spec.serving++
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.spec.serving--
		s.notifyLocked()
		s.mu.Unlock()
	}()
	rec := &recorder{ResponseWriter: w}
	s.serveREST(rec, r)
	if rec.status == 0 {
		if r.Context().Err() != nil {
			return // the client gave up before an answer
		}
		rec.status = http.StatusOK
	}
	op, vs := s.opts.Spec.Check(openapi.Exchange{Method: r.Method, URL: r.URL, ReqHeader: r.Header, ReqBody: body,
		Status: rec.status, RespHeader: w.Header(), RespBody: rec.body.Bytes()})
	s.mu.Lock()
	defer s.mu.Unlock()
	sp := &s.spec
	if sp.checked == nil {
		sp.checked, sp.paths = map[string]int{}, map[string]int{}
	}
	if op == "" {
		op = "(none)"
	}
	sp.checked[op]++
	sp.paths[apiPrefix.FindString(r.URL.Path)]++
	for _, v := range vs {
		if s.opts.AllowV9 && v.Part == "path" && strings.HasPrefix(r.URL.Path, "/api/v9/") && strings.HasPrefix(v.Message, "API version") {
			continue
		}
		if !excepted(v) && !sp.expectedLocked(v) {
			sp.violations = append(sp.violations, v)
		}
	}
}

func (sp *specState) expectedLocked(v openapi.Violation) bool {
	for _, e := range sp.expected {
		if e.Operation == v.Operation && e.Part == v.Part && e.Pointer == v.Pointer {
			return true
		}
	}
	return false
}

// ExpectSpecViolation declares that the test breaks Discord's OpenAPI
// description on purpose (to see the emulator refuse what Discord
// refuses): differences in operation's part ("request", "query", ...) at
// pointer are not reported.
func (s *Server) ExpectSpecViolation(operation, part, pointer string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.spec.expected = append(s.spec.expected, openapi.Violation{Operation: operation, Part: part, Pointer: pointer})
}

func excepted(v openapi.Violation) bool {
	for _, e := range specExceptions {
		if e.covers(v) {
			return true
		}
	}
	return false
}

// checkGatewayVersion records a gateway connection's API version; the
// description is v10, and so is every gateway URL a v10 client opens.
func (s *Server) checkGatewayVersion(r *http.Request) {
	if s.opts.Spec == nil {
		return
	}
	v := r.URL.Query().Get("v")
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.spec.gateway == nil {
		s.spec.gateway = map[string]int{}
	}
	s.spec.gateway[v]++
	if v != "10" && !(s.opts.AllowV9 && v == "9") {
		s.spec.violations = append(s.spec.violations, openapi.Violation{Method: r.Method, Path: r.URL.RequestURI(),
			Part: "gateway", Pointer: "v", Message: fmt.Sprintf("gateway API version v=%q, want 10", v)})
	}
}

// SpecReport is what the emulator checked against Discord's OpenAPI
// description since it started (all zero without Options.Spec).
type SpecReport struct {
	// Checked counts checked REST exchanges (request and response) by
	// the description's operationId ("(none)" for an unknown route).
	Checked map[string]int
	// Prefixes counts REST requests by their path prefix ("/api/v10/").
	Prefixes map[string]int
	// Gateway counts gateway connections by their v= query.
	Gateway    map[string]int
	Violations []openapi.Violation
}

// Exchanges is the number of REST exchanges checked.
func (r SpecReport) Exchanges() int {
	n := 0
	for _, c := range r.Checked {
		n += c
	}
	return n
}

// String lists the counts, one operation a line, sorted.
func (r SpecReport) String() string {
	ops := make([]string, 0, len(r.Checked))
	for op, n := range r.Checked {
		ops = append(ops, fmt.Sprintf("%s=%d", op, n))
	}
	sort.Strings(ops)
	return fmt.Sprintf("%d exchanges, %d violations: %s", r.Exchanges(), len(r.Violations), strings.Join(ops, " "))
}

// WaitChecked waits until every REST request the emulator has received is
// answered and checked, so that Spec counts it (a test that saw a request's
// effect, say a callback, may otherwise look before its check is counted).
func (s *Server) WaitChecked(ctx context.Context) error {
	return s.waitFor(ctx, func() bool { return s.spec.serving == 0 })
}

// Spec reports what was checked against the description and what differed.
func (s *Server) Spec() SpecReport {
	s.mu.Lock()
	defer s.mu.Unlock()
	cp := func(m map[string]int) map[string]int {
		out := make(map[string]int, len(m))
		for k, v := range m {
			out[k] = v
		}
		return out
	}
	return SpecReport{Checked: cp(s.spec.checked), Prefixes: cp(s.spec.paths), Gateway: cp(s.spec.gateway),
		Violations: append([]openapi.Violation(nil), s.spec.violations...)}
}

// reporter is the part of testing.TB that reportSpec uses (this file
// must not import testing: production code links the emulator).
type reporter interface {
	Helper()
	Errorf(format string, args ...any)
}

// specFor loads the description for NewServer, failing the test if it
// cannot.
func specFor(t interface {
	reporter
	Fatalf(format string, args ...any)
}) *openapi.Validator {
	t.Helper()
	v, err := openapi.Load()
	if err != nil {
		t.Fatalf("discordtest: %v", err)
	}
	return v
}

// reportSpec fails the test for every violation (after Close, so no
// handler is still running).
func (s *Server) reportSpec(t reporter) {
	t.Helper()
	// Close does not wait for handlers; let those still checking finish
	// (each is a loopback answer already written), within a bound.
	bound := time.NewTimer(5 * time.Second)
	defer bound.Stop()
wait:
	for {
		s.mu.Lock()
		n, ch := s.spec.serving, s.changed
		s.mu.Unlock()
		if n == 0 {
			break
		}
		select {
		case <-ch:
		case <-bound.C:
			t.Errorf("discordtest: %d REST requests still being checked 5 s after Close", n)
			break wait
		}
	}
	for _, v := range s.Spec().Violations {
		t.Errorf("discordtest: Discord's OpenAPI description: %s", v)
	}
}

// recorder keeps a copy of a response for checking.
type recorder struct {
	http.ResponseWriter
	status int
	body   bytes.Buffer
}

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	r.body.Write(b)
	return r.ResponseWriter.Write(b)
}
