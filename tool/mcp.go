package tool

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// MCPConfig is the file LIVECORD_MCP_CONFIG names: the widespread
// "mcpServers" layout, plus a required allow-list per server.
//
//	{"mcpServers": {
//	  "files":  {"command": "mcp-files", "args": ["/srv/notes"], "env": {"TOKEN": "${NOTES_TOKEN}"},
//	             "allow": ["read_file", "search"]},
//	  "search": {"url": "https://mcp.example.com/mcp", "headers": {"Authorization": "Bearer ${SEARCH_KEY}"},
//	             "allow": ["*"], "timeout": "20s"}}}
//
// "${NAME}" in args, env, url and headers is replaced by the bot's
// environment variable NAME (so secrets stay out of the file); nothing else
// of the bot's environment reaches a stdio server but PATH, HOME, LANG,
// LC_ALL, TMPDIR and USER.
type MCPConfig struct {
	Servers map[string]MCPServer `json:"mcpServers"`
}

// MCPServer is one server: Command (stdio) or URL (streamable HTTP).
type MCPServer struct {
	Command string            `json:"command,omitempty"`
	Args    []string          `json:"args,omitempty"`
	Env     map[string]string `json:"env,omitempty"`
	Dir     string            `json:"dir,omitempty"`
	URL     string            `json:"url,omitempty"`
	Headers map[string]string `json:"headers,omitempty"`
	// Allow lists the server's tool names offered to the model; ["*"] is all.
	Allow []string `json:"allow"`
	// Timeout bounds one call, as a Go duration ("20s"); default MCPOptions.CallTimeout.
	Timeout string `json:"timeout,omitempty"`
	// Disabled keeps the entry without starting it.
	Disabled bool `json:"disabled,omitempty"`

	// secrets are values redacted from every error: header values and
	// whatever "${NAME}" expanded to.
	secrets []string
}

// LoadMCPConfig reads and checks a config file; getenv resolves "${NAME}"
// (os.Getenv when nil).
func LoadMCPConfig(path string, getenv func(string) string) (*MCPConfig, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("tool: mcp config: %w", err)
	}
	cfg, err := ParseMCPConfig(data, getenv)
	if err != nil {
		return nil, fmt.Errorf("%w (in %s)", err, path)
	}
	return cfg, nil
}

// ParseMCPConfig parses and checks config JSON; unknown fields are errors
// (a misspelt "allow" must not silently allow nothing or everything).
func ParseMCPConfig(data []byte, getenv func(string) string) (*MCPConfig, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var cfg MCPConfig
	if err := dec.Decode(&cfg); err != nil {
		return nil, fmt.Errorf("tool: mcp config: %w", err)
	}
	if dec.More() {
		return nil, errors.New("tool: mcp config: trailing data after the JSON object")
	}
	for name, s := range cfg.Servers {
		if err := s.check(name); err != nil {
			return nil, fmt.Errorf("tool: mcp config: server %q: %w", name, err)
		}
		var missing []string
		expand := func(v string) string {
			return expandRefs(v, func(k string) string {
				val := getenv(k)
				if val == "" {
					missing = append(missing, k)
				}
				s.secrets = append(s.secrets, val)
				return val
			})
		}
		for i, a := range s.Args {
			s.Args[i] = expand(a)
		}
		for _, m := range []map[string]string{s.Env, s.Headers} {
			for k, v := range m {
				m[k] = expand(v)
			}
		}
		s.URL = expand(s.URL)
		for _, v := range s.Headers {
			s.secrets = append(s.secrets, v)
		}
		if len(missing) > 0 && !s.Disabled {
			slices.Sort(missing)
			return nil, fmt.Errorf("tool: mcp config: server %q: environment variable(s) not set: %s",
				name, strings.Join(slices.Compact(missing), ", "))
		}
		cfg.Servers[name] = s
	}
	return &cfg, nil
}

func (s MCPServer) check(name string) error {
	if !validServerName(name) {
		return errors.New("name must be a letter then up to 31 letters, digits, _ or -")
	}
	switch {
	case s.Command == "" && s.URL == "":
		return errors.New(`needs "command" (stdio) or "url" (streamable HTTP)`)
	case s.Command != "" && s.URL != "":
		return errors.New(`has both "command" and "url"`)
	case s.URL != "" && (len(s.Args) > 0 || len(s.Env) > 0 || s.Dir != ""):
		return errors.New(`"args", "env" and "dir" are for "command" servers`)
	case s.Command != "" && len(s.Headers) > 0:
		return errors.New(`"headers" are for "url" servers`)
	}
	if s.URL != "" && !strings.Contains(s.URL, "${") {
		u, err := url.Parse(s.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return errors.New(`"url" must be an http or https URL`)
		}
	}
	if len(s.Allow) == 0 {
		return errors.New(`"allow" is required: list the tool names to offer, or ["*"] for all`)
	}
	if s.Timeout != "" {
		if d, err := time.ParseDuration(s.Timeout); err != nil || d <= 0 {
			return fmt.Errorf(`"timeout" %q is not a positive duration like "20s"`, s.Timeout)
		}
	}
	return nil
}

// MCPOptions configure ConnectMCP.
type MCPOptions struct {
	ConnectTimeout time.Duration // per server: start, initialize, list tools; default 20 s
	CallTimeout    time.Duration // per call unless the server sets "timeout"; default 30 s
	ClientName     string        // default "livecord"
	ClientVersion  string        // default "dev"
	HTTPClient     *http.Client  // for URL servers; default a client without a total timeout
	// CloseTimeout bounds how long Close waits for a stdio server to exit
	// after its stdin closes before it is signalled; default 2 s.
	CloseTimeout time.Duration
}

// MCPStatus is one server's state after ConnectMCP.
type MCPStatus struct {
	Server string
	// Tools are the function names offered (prefixed and sanitised).
	Tools []string
	// NotFound lists allow-list entries the server does not have.
	NotFound []string
	// Err is why the server is not available (nil if connected).
	Err error
}

// MCP is the set of connected servers. Close it on shutdown.
type MCP struct {
	mu       sync.Mutex
	sessions []*mcp.ClientSession
	tools    []Tool
	status   []MCPStatus
}

// ConnectMCP starts or dials every enabled server at once and lists their
// tools. A server that fails is reported in Status and left out; the others
// still serve. It returns after every attempt finished or timed out.
func ConnectMCP(ctx context.Context, cfg *MCPConfig, opts MCPOptions) *MCP {
	if opts.ConnectTimeout <= 0 {
		opts.ConnectTimeout = 20 * time.Second
	}
	if opts.CallTimeout <= 0 {
		opts.CallTimeout = 30 * time.Second
	}
	if opts.CloseTimeout <= 0 {
		opts.CloseTimeout = 2 * time.Second
	}
	if opts.ClientName == "" {
		opts.ClientName = "livecord"
	}
	if opts.ClientVersion == "" {
		opts.ClientVersion = "dev"
	}
	m := &MCP{}
	if cfg == nil {
		return m
	}
	names := make([]string, 0, len(cfg.Servers))
	for n, s := range cfg.Servers {
		if !s.Disabled {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	type conn struct {
		session *mcp.ClientSession
		tools   []Tool
		status  MCPStatus
	}
	results := make([]conn, len(names))
	var wg sync.WaitGroup
	for i, name := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, tools, st := connectOne(ctx, name, cfg.Servers[name], opts)
			results[i] = conn{s, tools, st}
		}()
	}
	wg.Wait()
	used := map[string]bool{}
	for _, r := range results {
		if r.session != nil {
			m.sessions = append(m.sessions, r.session)
		}
		for _, t := range r.tools {
			// Sanitising can make two names equal: keep the first.
			if used[t.Name] {
				r.status.NotFound = append(r.status.NotFound, t.Name+" (name clash)")
				continue
			}
			used[t.Name] = true
			m.tools = append(m.tools, t)
		}
		m.status = append(m.status, r.status)
	}
	return m
}

func connectOne(ctx context.Context, name string, s MCPServer, opts MCPOptions) (*mcp.ClientSession, []Tool, MCPStatus) {
	st := MCPStatus{Server: name}
	fail := func(what string, err error) (*mcp.ClientSession, []Tool, MCPStatus) {
		st.Err = fmt.Errorf("tool: mcp server %q: %s: %w", name, what, redacted{err, s.secrets})
		return nil, nil, st
	}
	var transport mcp.Transport
	var stderr *tailBuffer
	if s.Command != "" {
		cmd := exec.Command(s.Command, s.Args...)
		cmd.Env = childEnv(s.Env)
		cmd.Dir = s.Dir
		stderr = &tailBuffer{max: 2048}
		cmd.Stderr = stderr
		transport = &mcp.CommandTransport{Command: cmd, TerminateDuration: opts.CloseTimeout}
	} else {
		hc := opts.HTTPClient
		if hc == nil {
			hc = &http.Client{}
		}
		if len(s.Headers) > 0 {
			base := hc.Transport
			if base == nil {
				base = http.DefaultTransport
			}
			c := *hc
			c.Transport = headerTransport{base: base, headers: s.Headers}
			hc = &c
		}
		transport = &mcp.StreamableClientTransport{Endpoint: s.URL, HTTPClient: hc, MaxRetries: -1}
	}
	cctx, cancel := context.WithTimeout(ctx, opts.ConnectTimeout)
	defer cancel()
	client := mcp.NewClient(&mcp.Implementation{Name: opts.ClientName, Version: opts.ClientVersion}, nil)
	session, err := client.Connect(cctx, transport, nil)
	if err != nil {
		if stderr != nil && stderr.String() != "" {
			err = fmt.Errorf("%w (stderr: %s)", err, oneLine(stderr.String(), 200))
		}
		return fail("connect", err)
	}
	var listed []*mcp.Tool
	for t, err := range session.Tools(cctx, nil) {
		if err != nil {
			_ = session.Close()
			return fail("list tools", err)
		}
		listed = append(listed, t)
	}
	timeout := opts.CallTimeout
	if s.Timeout != "" {
		timeout, _ = time.ParseDuration(s.Timeout) // checked when parsed
	}
	all := slices.Contains(s.Allow, "*")
	have := map[string]bool{}
	var tools []Tool
	for _, t := range listed {
		have[t.Name] = true
		if !all && !slices.Contains(s.Allow, t.Name) {
			continue
		}
		tl, err := mcpTool(session, name, t, timeout, s.secrets)
		if err != nil {
			st.NotFound = append(st.NotFound, t.Name+" ("+err.Error()+")")
			continue
		}
		tools = append(tools, tl)
		st.Tools = append(st.Tools, tl.Name)
	}
	for _, a := range s.Allow {
		if a != "*" && !have[a] {
			st.NotFound = append(st.NotFound, a)
		}
	}
	return session, tools, st
}

// mcpTool wraps one MCP tool: named "<server>__<tool>" (sanitised), schema
// passed through, calls forwarded.
func mcpTool(session *mcp.ClientSession, server string, t *mcp.Tool, timeout time.Duration, secrets []string) (Tool, error) {
	var params json.RawMessage
	if t.InputSchema != nil {
		b, err := json.Marshal(t.InputSchema)
		if err != nil {
			return Tool{}, fmt.Errorf("schema: %w", err)
		}
		params = b
		if _, _, err := compileSchema(params); err != nil {
			return Tool{}, fmt.Errorf("schema: %w", err)
		}
	}
	desc := t.Description
	if desc == "" {
		desc = t.Title
	}
	orig := t.Name
	return Tool{
		Name:        SanitizeName(server + "__" + orig),
		Description: oneLine(desc, 1024),
		Parameters:  params,
		Behavior:    Blocking,
		Timeout:     timeout,
		Summarize: func(json.RawMessage, any) string {
			return "used " + orig + " (" + server + ")"
		},
		Handler: func(ctx context.Context, args json.RawMessage) (any, error) {
			res, err := session.CallTool(ctx, &mcp.CallToolParams{Name: orig, Arguments: args})
			if err != nil {
				if ctx.Err() != nil {
					return nil, ctx.Err()
				}
				return nil, fmt.Errorf("%s server: %v", server, redacted{err, secrets})
			}
			text := redact(contentText(res.Content), secrets)
			if res.IsError {
				if text == "" {
					text = "the tool reported an error"
				}
				return nil, errors.New(text)
			}
			if res.StructuredContent != nil {
				return res.StructuredContent, nil
			}
			return text, nil
		},
	}, nil
}

// contentText joins an MCP result's text parts; other parts are named.
func contentText(cs []mcp.Content) string {
	var parts []string
	for _, c := range cs {
		switch c := c.(type) {
		case *mcp.TextContent:
			parts = append(parts, c.Text)
		case *mcp.ImageContent:
			parts = append(parts, "[image "+c.MIMEType+" not shown]")
		case *mcp.AudioContent:
			parts = append(parts, "[audio "+c.MIMEType+" not played]")
		case *mcp.ResourceLink:
			parts = append(parts, "[resource "+c.URI+"]")
		case *mcp.EmbeddedResource:
			if c.Resource != nil && c.Resource.Text != "" {
				parts = append(parts, c.Resource.Text)
			}
		}
	}
	return strings.Join(parts, "\n")
}

// Tools returns the connected servers' allowed tools.
func (m *MCP) Tools() []Tool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.tools)
}

// Status reports each enabled server, sorted by name.
func (m *MCP) Status() []MCPStatus {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.status)
}

// Failures are the servers that could not be used, as errors.
func (m *MCP) Failures() []error {
	var errs []error
	for _, s := range m.Status() {
		if s.Err != nil {
			errs = append(errs, s.Err)
		}
	}
	return errs
}

// Close ends every session (stdio servers are stopped) and waits for them.
func (m *MCP) Close() error {
	m.mu.Lock()
	sessions := m.sessions
	m.sessions = nil
	m.mu.Unlock()
	var errs []error
	for _, s := range sessions {
		if err := s.Close(); err != nil && !isBenignClose(err) {
			errs = append(errs, fmt.Errorf("tool: mcp close: %w", err))
		}
	}
	return errors.Join(errs...)
}

// isBenignClose: a stdio server killed at shutdown or a pipe already closed
// is the expected end, not a failure.
func isBenignClose(err error) bool {
	var ee *exec.ExitError
	return errors.As(err, &ee) || errors.Is(err, os.ErrClosed)
}

func childEnv(extra map[string]string) []string {
	var env []string
	for _, k := range []string{"PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "USER"} {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	keys := make([]string, 0, len(extra))
	for k := range extra {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		env = append(env, k+"="+extra[k])
	}
	return env
}

type headerTransport struct {
	base    http.RoundTripper
	headers map[string]string
}

func (h headerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	for k, v := range h.headers {
		req.Header.Set(k, v)
	}
	return h.base.RoundTrip(req)
}

// tailBuffer keeps the last max bytes written (a server's stderr).
type tailBuffer struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > t.max {
		t.buf = append([]byte(nil), t.buf[len(t.buf)-t.max:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.TrimSpace(string(t.buf))
}

// validServerName: a letter, then up to 31 letters, digits, _ or -.
func validServerName(s string) bool {
	if len(s) == 0 || len(s) > 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		letter := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
		if !letter && (i == 0 || !(c >= '0' && c <= '9' || c == '_' || c == '-')) {
			return false
		}
	}
	return true
}

// expandRefs replaces each "${NAME}" (NAME: a letter or _, then letters,
// digits, _) with get(NAME); every other "$" is kept as written, so a
// literal dollar in a password survives.
func expandRefs(s string, get func(string) string) string {
	var b strings.Builder
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		j := strings.IndexByte(s[i:], '}')
		if j < 0 || !validEnvName(s[i+2:i+j]) {
			b.WriteString(s[:i+2])
			s = s[i+2:]
			continue
		}
		b.WriteString(s[:i])
		b.WriteString(get(s[i+2 : i+j]))
		s = s[i+j+1:]
	}
}

func validEnvName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// redacted is an error whose text has the server's secrets blanked out; it
// still unwraps to the original for errors.Is/As.
type redacted struct {
	err     error
	secrets []string
}

func (r redacted) Error() string { return redact(r.err.Error(), r.secrets) }
func (r redacted) Unwrap() error { return r.err }

// redact blanks every secret of 4 bytes or more (shorter ones would blank
// ordinary words), longest first, plus its URL-escaped form.
func redact(msg string, secrets []string) string {
	ss := slices.Clone(secrets)
	sort.Slice(ss, func(i, j int) bool { return len(ss[i]) > len(ss[j]) })
	for _, s := range ss {
		if len(s) < 4 {
			continue
		}
		msg = strings.ReplaceAll(msg, s, "[redacted]")
		if q := url.QueryEscape(s); q != s {
			msg = strings.ReplaceAll(msg, q, "[redacted]")
		}
	}
	return msg
}
