// Package openapi checks Discord REST traffic against Discord's own OpenAPI
// description (discord/discord-api-spec, copied with its licence into
// testdata/): the operation a request names (method and path template under
// /api/v10), its path and query parameters, its JSON or multipart
// payload_json body, and the response's status, rate-limit headers and body.
//
// The description is parsed once per process and each schema is compiled
// the first time an exchange needs it, so checking every exchange of every
// test stays cheap. The package does not import testing: the Discord
// emulator, which production code (the sandbox) links, uses it.
package openapi

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

//go:embed testdata/openapi.json
var specJSON []byte

// Base is the path prefix of every operation (the description's server URL
// is https://discord.com/api/v10).
const Base = "/api/v10"

const docURL = "discord-openapi.json"

// Exchange is one REST request and the response it got.
type Exchange struct {
	Method     string
	URL        *url.URL // path and query as sent
	ReqHeader  http.Header
	ReqBody    []byte
	Status     int
	RespHeader http.Header
	RespBody   []byte
}

// Violation is one way an exchange differs from the description.
type Violation struct {
	Method, Path string // as sent
	Operation    string // the description's operationId ("" if none matched)
	// Part is what was checked: "path", "query", "request", "status",
	// "header" or "response".
	Part string
	// Pointer is the JSON pointer of the offending value in the request
	// or response body ("" for the whole body; the parameter or header
	// name for path, query and header).
	Pointer string
	Message string
}

func (v Violation) String() string {
	op := v.Operation
	if op == "" {
		op = "no operation"
	}
	return fmt.Sprintf("%s %s (%s): %s %q: %s", v.Method, v.Path, op, v.Part, v.Pointer, v.Message)
}

// Validator checks exchanges. It is safe for concurrent use.
type Validator struct {
	doc   map[string]any
	paths []*pathTemplate

	mu      sync.Mutex // guards comp and schemas
	comp    *jsonschema.Compiler
	schemas map[string]*jsonschema.Schema // by JSON pointer into the document
}

type pathTemplate struct {
	template string   // as in the description, e.g. /users/{user_id}
	segs     []string // "{name}" for a parameter
	literals int
	item     map[string]any // the path item
}

var (
	loadOnce sync.Once
	loaded   *Validator
	loadErr  error
)

// Load returns the process's Validator, parsing the description on first use.
func Load() (*Validator, error) {
	loadOnce.Do(func() { loaded, loadErr = New(specJSON) })
	return loaded, loadErr
}

// New parses an OpenAPI 3.1 description.
func New(spec []byte) (*Validator, error) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(spec))
	if err != nil {
		return nil, fmt.Errorf("openapi: parse description: %w", err)
	}
	m, ok := doc.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("openapi: description is not an object")
	}
	paths, ok := m["paths"].(map[string]any)
	if !ok {
		return nil, fmt.Errorf("openapi: description has no paths")
	}
	v := &Validator{doc: m, schemas: map[string]*jsonschema.Schema{}}
	for tpl, item := range paths {
		it, ok := item.(map[string]any)
		if !ok {
			continue
		}
		p := &pathTemplate{template: tpl, segs: strings.Split(strings.Trim(tpl, "/"), "/"), item: it}
		for _, s := range p.segs {
			if !isParam(s) {
				p.literals++
			}
		}
		v.paths = append(v.paths, p)
	}
	// Literal segments win over parameters (/users/@me before
	// /users/{user_id}); the order is fixed so matching is deterministic.
	sort.Slice(v.paths, func(i, j int) bool {
		a, b := v.paths[i], v.paths[j]
		if len(a.segs) != len(b.segs) {
			return len(a.segs) < len(b.segs)
		}
		if a.literals != b.literals {
			return a.literals > b.literals
		}
		return a.template < b.template
	})
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	if err := c.AddResource(docURL, doc); err != nil {
		return nil, fmt.Errorf("openapi: %w", err)
	}
	v.comp = c
	return v, nil
}

func isParam(seg string) bool {
	return len(seg) > 2 && seg[0] == '{' && seg[len(seg)-1] == '}'
}

// Operation is a matched operation of the description.
type Operation struct {
	ID       string // operationId
	Template string // path template, e.g. /users/{user_id}
	Method   string
	Params   map[string]string // path parameters by name
	op       map[string]any
	item     map[string]any
	pointer  string // JSON pointer of the operation object
}

// Match finds the operation for method and an /api/v10/... path. It never
// panics, whatever the input.
func (v *Validator) Match(method, path string) (*Operation, error) {
	rest, ok := strings.CutPrefix(path, Base+"/")
	if !ok {
		return nil, fmt.Errorf("path is not under %s", Base)
	}
	segs := strings.Split(strings.TrimSuffix(rest, "/"), "/")
	for _, p := range v.paths {
		if len(p.segs) != len(segs) {
			continue
		}
		params, ok := p.match(segs)
		if !ok {
			continue
		}
		op, ok := p.item[strings.ToLower(method)].(map[string]any)
		if !ok {
			continue // another template may describe this method
		}
		id, _ := op["operationId"].(string)
		return &Operation{ID: id, Template: p.template, Method: strings.ToUpper(method), Params: params,
			op: op, item: p.item, pointer: "/paths/" + escape(p.template) + "/" + strings.ToLower(method)}, nil
	}
	return nil, fmt.Errorf("no operation %s %s in the description", method, path)
}

var versioned = regexp.MustCompile(`^/api(/v\d+)?(/|$)`)

func (p *pathTemplate) match(segs []string) (map[string]string, bool) {
	var params map[string]string
	for i, s := range p.segs {
		if isParam(s) {
			if segs[i] == "" {
				return nil, false
			}
			if params == nil {
				params = map[string]string{}
			}
			un, err := url.PathUnescape(segs[i])
			if err != nil {
				return nil, false
			}
			params[s[1:len(s)-1]] = un
			continue
		}
		if s != segs[i] {
			return nil, false
		}
	}
	return params, true
}

// escape makes a JSON-pointer token of s.
func escape(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}

// Check validates one exchange; op is the matched operationId ("" if none).
func (v *Validator) Check(x Exchange) (op string, out []Violation) {
	path := x.URL.Path
	add := func(o *Operation, part, ptr, msg string) {
		id := ""
		if o != nil {
			id = o.ID
		}
		out = append(out, Violation{Method: x.Method, Path: path, Operation: id, Part: part, Pointer: ptr, Message: msg})
	}
	o, err := v.Match(x.Method, path)
	if err != nil {
		// A path under another version is reported, then checked as
		// if it were v10 so its body is checked too.
		m := versioned.FindStringSubmatchIndex(path)
		if m == nil || strings.HasPrefix(path, Base+"/") {
			add(nil, "path", "", err.Error())
			return "", out
		}
		o, _ = v.Match(x.Method, Base+"/"+path[m[1]:])
		add(o, "path", "", fmt.Sprintf("API version %q: the description is %s", strings.Trim(strings.TrimPrefix(path[:m[1]], "/api"), "/"), Base))
		if o == nil {
			return "", out
		}
	}
	v.checkParams(o, x, add)
	v.checkRequest(o, x, add)
	v.checkResponse(o, x, add)
	return o.ID, out
}

type adder func(o *Operation, part, ptr, msg string)

// parameters lists the operation's parameters of kind in ("path",
// "query"), the path item's first.
func (v *Validator) parameters(o *Operation, in string) map[string]map[string]any {
	out := map[string]map[string]any{}
	for _, src := range []map[string]any{o.item, o.op} {
		list, _ := src["parameters"].([]any)
		for _, p := range list {
			pm, _ := v.deref(p).(map[string]any)
			if pm == nil || pm["in"] != in {
				continue
			}
			name, _ := pm["name"].(string)
			out[name] = pm
		}
	}
	return out
}

func (v *Validator) checkParams(o *Operation, x Exchange, add adder) {
	for name, p := range v.parameters(o, "path") {
		val, ok := o.Params[name]
		if !ok {
			add(o, "path", name, "path parameter missing")
			continue
		}
		if msg := v.checkString(p, val); msg != "" {
			add(o, "path", name, msg)
		}
	}
	query := v.parameters(o, "query")
	for name, vals := range x.URL.Query() {
		p, ok := query[name]
		if !ok {
			add(o, "query", name, "query parameter not in the description")
			continue
		}
		for _, val := range vals {
			if msg := v.checkString(p, val); msg != "" {
				add(o, "query", name, msg)
			}
		}
	}
	for name, p := range query {
		if req, _ := p["required"].(bool); req && !x.URL.Query().Has(name) {
			add(o, "query", name, "required query parameter missing")
		}
	}
}

// checkString validates a parameter's (or header's) string value against
// its schema, converting it first to the type the schema names.
func (v *Validator) checkString(p map[string]any, val string) string {
	raw, ok := p["schema"]
	if !ok {
		return ""
	}
	sch, err := v.schemaFor(raw)
	if err != nil {
		return err.Error()
	}
	inst := stringInstance(v.deref(raw), val)
	if err := sch.Validate(inst); err != nil {
		return leafMessages(err)
	}
	return ""
}

// stringInstance converts a parameter's text to the JSON type its schema
// wants (integer, number, boolean), falling back to the string.
func stringInstance(schema any, val string) any {
	m, _ := schema.(map[string]any)
	types := map[string]bool{}
	switch t := m["type"].(type) {
	case string:
		types[t] = true
	case []any:
		for _, e := range t {
			if s, ok := e.(string); ok {
				types[s] = true
			}
		}
	}
	switch {
	case types["integer"] || types["number"]:
		if _, err := strconv.ParseFloat(val, 64); err == nil {
			return json.Number(val)
		}
	case types["boolean"]:
		if b, err := strconv.ParseBool(val); err == nil {
			return b
		}
	}
	return val
}

func (v *Validator) checkRequest(o *Operation, x Exchange, add adder) {
	rb, _ := v.deref(o.op["requestBody"]).(map[string]any)
	if rb == nil {
		if len(bytes.TrimSpace(x.ReqBody)) > 0 && x.Method != http.MethodGet {
			add(o, "request", "", "the operation takes no body")
		}
		return
	}
	content, _ := rb["content"].(map[string]any)
	required, _ := rb["required"].(bool)
	if len(bytes.TrimSpace(x.ReqBody)) == 0 {
		if required {
			add(o, "request", "", "request body required")
		}
		return
	}
	mt, params, _ := mime.ParseMediaType(x.ReqHeader.Get("Content-Type"))
	jsonSchema := pointerTo(content, "application/json")
	var body []byte
	switch mt {
	case "application/json":
		body = x.ReqBody
	case "multipart/form-data":
		if _, ok := content["multipart/form-data"]; !ok {
			add(o, "request", "", "multipart/form-data not accepted here")
			return
		}
		var err error
		body, err = payloadJSON(x.ReqBody, params["boundary"])
		if err != nil {
			add(o, "request", "", err.Error())
			return
		}
		if body == nil {
			return // files only
		}
	default:
		add(o, "request", "", fmt.Sprintf("content type %q not accepted here", mt))
		return
	}
	if jsonSchema == "" {
		add(o, "request", "", "no application/json schema for the body")
		return
	}
	v.validateBody(o, o.pointer+"/requestBody/content/application~1json/schema", body, "request", add)
}

// pointerTo reports whether content has a schema for media type mt ("" if not).
func pointerTo(content map[string]any, mt string) string {
	c, _ := content[mt].(map[string]any)
	if c == nil {
		return ""
	}
	if _, ok := c["schema"]; !ok {
		return ""
	}
	return mt
}

var filesPart = regexp.MustCompile(`^files\[\d+\]$`)

// payloadJSON returns a multipart body's payload_json part (nil if none),
// after checking that every other part is a files[n] upload.
func payloadJSON(body []byte, boundary string) ([]byte, error) {
	if boundary == "" {
		return nil, fmt.Errorf("multipart body without a boundary")
	}
	mr := multipart.NewReader(bytes.NewReader(body), boundary)
	var payload []byte
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			return payload, nil
		}
		if err != nil {
			return nil, fmt.Errorf("multipart: %v", err)
		}
		data, err := io.ReadAll(part)
		if err != nil {
			return nil, fmt.Errorf("multipart: %v", err)
		}
		switch name := part.FormName(); {
		case name == "payload_json":
			payload = data
		case filesPart.MatchString(name):
		default:
			return nil, fmt.Errorf("multipart part %q is neither payload_json nor files[n]", name)
		}
	}
}

func (v *Validator) validateBody(o *Operation, ptr string, body []byte, part string, add adder) {
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	if err != nil {
		add(o, part, "", "body is not JSON: "+err.Error())
		return
	}
	sch, err := v.compile(ptr)
	if err != nil {
		add(o, part, "", err.Error())
		return
	}
	if err := sch.Validate(inst); err != nil {
		for _, l := range leaves(err) {
			add(o, part, l.ptr, l.msg)
		}
	}
}

func (v *Validator) checkResponse(o *Operation, x Exchange, add adder) {
	responses, _ := o.op["responses"].(map[string]any)
	code := strconv.Itoa(x.Status)
	key := code
	if _, ok := responses[key]; !ok {
		key = code[:1] + "XX"
		if _, ok := responses[key]; !ok {
			key = "default"
			if _, ok := responses[key]; !ok {
				add(o, "status", "", fmt.Sprintf("status %d is not a described response", x.Status))
				return
			}
		}
	}
	resp, _ := v.deref(responses[key]).(map[string]any)
	if resp == nil {
		return
	}
	headers, _ := resp["headers"].(map[string]any)
	names := make([]string, 0, len(headers))
	for name := range headers {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		h, _ := v.deref(headers[name]).(map[string]any)
		val := x.RespHeader.Get(name)
		if val == "" {
			// Discord sends every header the description lists for a
			// response; an emulator that omits them hides client bugs.
			add(o, "header", name, "header missing")
			continue
		}
		if msg := v.checkString(h, val); msg != "" {
			add(o, "header", name, msg)
		}
	}
	content, _ := resp["content"].(map[string]any)
	if len(content) == 0 {
		if len(bytes.TrimSpace(x.RespBody)) > 0 {
			add(o, "response", "", fmt.Sprintf("status %d has no body in the description", x.Status))
		}
		return
	}
	if len(bytes.TrimSpace(x.RespBody)) == 0 {
		add(o, "response", "", fmt.Sprintf("status %d has a body in the description; got none", x.Status))
		return
	}
	mt, _, _ := mime.ParseMediaType(x.RespHeader.Get("Content-Type"))
	if pointerTo(content, mt) == "" {
		add(o, "response", "", fmt.Sprintf("content type %q not described", mt))
		return
	}
	// The pointer goes through the response as written (possibly a
	// $ref to components/responses), which compile follows.
	ptr := o.pointer + "/responses/" + escape(key)
	if r, ok := responses[key].(map[string]any); ok {
		if ref, ok := r["$ref"].(string); ok {
			ptr = strings.TrimPrefix(ref, "#")
		}
	}
	v.validateBody(o, ptr+"/content/"+escape(mt)+"/schema", x.RespBody, "response", add)
}

// deref follows a local $ref (#/...) to the object it names.
func (v *Validator) deref(x any) any {
	for range 16 {
		m, ok := x.(map[string]any)
		if !ok {
			return x
		}
		ref, ok := m["$ref"].(string)
		if !ok || !strings.HasPrefix(ref, "#/") || len(m) > 1 {
			return x
		}
		x = v.lookup(ref[1:])
	}
	return x
}

func (v *Validator) lookup(ptr string) any {
	var cur any = v.doc
	for _, tok := range strings.Split(strings.TrimPrefix(ptr, "/"), "/") {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		switch c := cur.(type) {
		case map[string]any:
			cur = c[tok]
		case []any:
			i, err := strconv.Atoi(tok)
			if err != nil || i < 0 || i >= len(c) {
				return nil
			}
			cur = c[i]
		default:
			return nil
		}
	}
	return cur
}

// schemaFor compiles a schema value found in the document (a $ref or an
// inline schema): $refs by their target, inline ones by value.
func (v *Validator) schemaFor(raw any) (*jsonschema.Schema, error) {
	if m, ok := raw.(map[string]any); ok {
		if ref, ok := m["$ref"].(string); ok && len(m) == 1 && strings.HasPrefix(ref, "#/") {
			return v.compile(ref[1:])
		}
	}
	key, err := json.Marshal(raw)
	if err != nil {
		return nil, err
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if s := v.schemas["inline:"+string(key)]; s != nil {
		return s, nil
	}
	// Inline parameter schemas hold no $refs into the document; they
	// compile on their own.
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	if err := c.AddResource("inline.json", raw); err != nil {
		return nil, err
	}
	s, err := c.Compile("inline.json")
	if err != nil {
		return nil, fmt.Errorf("openapi: compile inline schema: %w", err)
	}
	v.schemas["inline:"+string(key)] = s
	return s, nil
}

// compile returns the schema at a JSON pointer into the document.
func (v *Validator) compile(ptr string) (*jsonschema.Schema, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if s := v.schemas[ptr]; s != nil {
		return s, nil
	}
	// Follow $refs to a component so every route shares its compiled
	// schema, and the compiler never sees a pointer through "paths".
	target := ptr
	if x := v.lookup(ptr); x != nil {
		for range 16 {
			m, ok := x.(map[string]any)
			if !ok {
				break
			}
			ref, ok := m["$ref"].(string)
			if !ok || len(m) > 1 || !strings.HasPrefix(ref, "#/") {
				break
			}
			target, x = ref[1:], v.lookup(ref[1:])
		}
	} else {
		return nil, fmt.Errorf("openapi: no schema at %s", ptr)
	}
	frag := (&url.URL{Fragment: target}).EscapedFragment()
	s, err := v.comp.Compile(docURL + "#" + frag)
	if err != nil {
		return nil, fmt.Errorf("openapi: compile %s: %w", target, err)
	}
	v.schemas[ptr] = s
	return s, nil
}

type leaf struct{ ptr, msg string }

var printer = message.NewPrinter(language.English)

// leaves flattens a validation error to its innermost causes, each with
// the JSON pointer of the value it is about.
func leaves(err error) []leaf {
	ve, ok := err.(*jsonschema.ValidationError)
	if !ok {
		return []leaf{{"", err.Error()}}
	}
	var out []leaf
	seen := map[leaf]bool{}
	var walk func(e *jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		if len(e.Causes) == 0 {
			l := leaf{pointer(e.InstanceLocation), e.ErrorKind.LocalizedString(printer)}
			if !seen[l] {
				seen[l] = true
				out = append(out, l)
			}
			return
		}
		causes := e.Causes
		switch e.ErrorKind.(type) {
		case *kind.OneOf, *kind.AnyOf:
			causes = plausible(e)
		}
		for _, c := range causes {
			walk(c)
		}
	}
	walk(ve)
	return out
}

// plausible drops the alternatives of a oneOf or anyOf that fail on the
// value's own "type" discriminator (a channel that is not a thread need
// not hear why it is not a thread), unless that would drop them all.
func plausible(e *jsonschema.ValidationError) []*jsonschema.ValidationError {
	var keep []*jsonschema.ValidationError
	at := pointer(e.InstanceLocation) + "/type"
	for _, c := range e.Causes {
		if !failsDiscriminator(c, at) {
			keep = append(keep, c)
		}
	}
	if len(keep) == 0 {
		return e.Causes
	}
	return keep
}

func failsDiscriminator(e *jsonschema.ValidationError, at string) bool {
	if len(e.Causes) == 0 {
		switch e.ErrorKind.(type) {
		case *kind.Const, *kind.Enum:
			return pointer(e.InstanceLocation) == at
		}
		return false
	}
	for _, c := range e.Causes {
		if failsDiscriminator(c, at) {
			return true
		}
	}
	return false
}

func leafMessages(err error) string {
	var parts []string
	for _, l := range leaves(err) {
		parts = append(parts, l.msg)
	}
	return strings.Join(parts, "; ")
}

func pointer(loc []string) string {
	var b strings.Builder
	for _, t := range loc {
		b.WriteByte('/')
		b.WriteString(escape(t))
	}
	return b.String()
}
