package openapi

import (
	"bytes"
	"encoding/json"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"net/url"
	"strings"
	"testing"
)

func load(t testing.TB) *Validator {
	t.Helper()
	v, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	return v
}

var rateHeaders = http.Header{
	"Content-Type":            {"application/json"},
	"X-Ratelimit-Limit":       {"5"},
	"X-Ratelimit-Remaining":   {"4"},
	"X-Ratelimit-Reset":       {"1767225600.250"},
	"X-Ratelimit-Reset-After": {"1.000"},
	"X-Ratelimit-Bucket":      {"abcd"},
}

func headersWithout(name string) http.Header {
	h := rateHeaders.Clone()
	h.Del(name)
	return h
}

const (
	user = `{"id":"1","username":"alice","discriminator":"0","global_name":"alice","avatar":null,
		"public_flags":0,"flags":0,"primary_guild":null}`
	msgJSON = `{"id":"2","type":20,"channel_id":"3","content":"hi","author":` + user + `,"attachments":[],
		"embeds":[],"mentions":[],"mention_roles":[],"mention_everyone":false,"pinned":false,"tts":false,
		"flags":0,"timestamp":"2026-01-01T00:00:00Z","edited_timestamp":null,"components":[],
		"interaction_metadata":{"id":"4","type":2,"user":` + user + `,"authorizing_integration_owners":{"0":"5"}}}`
	edit = "/api/v10/webhooks/1/tok/messages/@original"
)

func exchange(method, target, reqBody string, status int, respHeader http.Header, respBody string) Exchange {
	u, err := url.Parse(target)
	if err != nil {
		panic(err)
	}
	return Exchange{Method: method, URL: u, ReqHeader: http.Header{"Content-Type": {"application/json"}},
		ReqBody: []byte(reqBody), Status: status, RespHeader: respHeader, RespBody: []byte(respBody)}
}

func multipartBody(t testing.TB, parts map[string]string) (string, []byte) {
	t.Helper()
	var b bytes.Buffer
	w := multipart.NewWriter(&b)
	for name, data := range parts {
		h := textproto.MIMEHeader{}
		h.Set("Content-Disposition", `form-data; name="`+name+`"; filename="x"`)
		p, err := w.CreatePart(h)
		if err != nil {
			t.Fatal(err)
		}
		p.Write([]byte(data))
	}
	w.Close()
	return w.FormDataContentType(), b.Bytes()
}

// TestValidCatchesKnownBadShapes: each exchange breaks the description in
// one known way, and the validator must name it (operation, part, pointer);
// the well-formed exchange it is derived from passes. Without this, a
// validator that checked nothing would pass every test.
func TestValidCatchesKnownBadShapes(t *testing.T) {
	v := load(t)
	good := exchange("PATCH", edit, `{"content":"hi"}`, 200, rateHeaders, msgJSON)
	if op, vs := v.Check(good); op != "update_original_webhook_message" || len(vs) != 0 {
		t.Fatalf("well-formed edit: operation %q, violations %v", op, vs)
	}
	ctype, mp := multipartBody(t, map[string]string{"payload_json": `{"content":"hi","attachments":[{"id":"0","filename":"reply.wav"}]}`, "files[0]": "RIFF"})
	goodMP := good
	goodMP.ReqHeader = http.Header{"Content-Type": {ctype}}
	goodMP.ReqBody = mp
	if _, vs := v.Check(goodMP); len(vs) != 0 {
		t.Fatalf("well-formed multipart edit: %v", vs)
	}
	badCtype, badMP := multipartBody(t, map[string]string{"payload_json": `{"content":7}`})
	badMPx := good
	badMPx.ReqHeader = http.Header{"Content-Type": {badCtype}}
	badMPx.ReqBody = badMP
	strayCtype, strayMP := multipartBody(t, map[string]string{"payload_json": `{}`, "file": "RIFF"})
	strayMPx := good
	strayMPx.ReqHeader = http.Header{"Content-Type": {strayCtype}}
	strayMPx.ReqBody = strayMP

	noFlags := strings.Replace(msgJSON, `"public_flags":0,"flags":0,`, `"public_flags":0,`, 1)
	noOwners := strings.Replace(msgJSON, `,"authorizing_integration_owners":{"0":"5"}`, ``, 1)
	cmd := `{"id":"1","application_id":"2","version":"3","default_member_permissions":null,"type":1,"name":"ask",
		"description":"Ask","options":[{"type":3,"name":"prompt","description":"p","choices":null}]}`
	for _, c := range []struct {
		name                string
		x                   Exchange
		part, pointer, want string
	}{
		{"author without flags", exchange("PATCH", edit, `{"content":"hi"}`, 200, rateHeaders, noFlags),
			"response", "/author", "flags"},
		{"metadata without owners", exchange("PATCH", edit, `{"content":"hi"}`, 200, rateHeaders, noOwners),
			"response", "/interaction_metadata", "authorizing_integration_owners"},
		{"choices null", exchange("PUT", "/api/v10/applications/2/commands", `[]`, 200, rateHeaders, "["+cmd+"]"),
			"response", "/0/options/0/choices", "null"},
		{"content too long", exchange("PATCH", edit, `{"content":"`+strings.Repeat("x", 2001)+`"}`, 200, rateHeaders, msgJSON),
			"request", "/content", "maxLength"},
		{"content of the wrong type in payload_json", badMPx, "request", "/content", "string"},
		{"stray multipart part", strayMPx, "request", "", "files[n]"},
		{"no rate-limit headers on a 401", exchange("GET", "/api/v10/users/@me", ``, 401, http.Header{"Content-Type": {"application/json"}},
			`{"message":"401: Unauthorized","code":0}`), "header", "X-RateLimit-Limit", "missing"},
		{"rate-limit header not a number", exchange("PATCH", edit, `{"content":"hi"}`, 200,
			func() http.Header { h := rateHeaders.Clone(); h.Set("X-RateLimit-Remaining", "many"); return h }(), msgJSON),
			"header", "X-RateLimit-Remaining", "integer"},
		{"missing Reset-After", exchange("PATCH", edit, `{"content":"hi"}`, 200, headersWithout("X-RateLimit-Reset-After"), msgJSON),
			"header", "X-RateLimit-Reset-After", "missing"},
		{"429 without code", exchange("PATCH", edit, `{"content":"hi"}`, 429, rateHeaders,
			`{"message":"You are being rate limited.","retry_after":1.5,"global":false}`), "response", "", "code"},
		{"API v9", exchange("PATCH", "/api/v9/webhooks/1/tok/messages/@original", `{"content":"hi"}`, 200, rateHeaders, msgJSON),
			"path", "", "v9"},
		{"unknown route", exchange("GET", "/api/v10/nowhere", ``, 200, rateHeaders, `{}`), "path", "", "no operation"},
		{"snowflake that is not one", exchange("PATCH", "/api/v10/webhooks/01/tok/messages/@original", `{"content":"hi"}`, 200, rateHeaders, msgJSON),
			"path", "webhook_id", ""},
		{"undescribed query parameter", exchange("PATCH", edit+"?verbose=1", `{"content":"hi"}`, 200, rateHeaders, msgJSON),
			"query", "verbose", "not in the description"},
		{"query parameter of the wrong type", exchange("POST", "/api/v10/webhooks/1/tok?wait=maybe", `{"content":"hi"}`, 200, rateHeaders, msgJSON),
			"query", "wait", "boolean"},
		{"undescribed status", exchange("PATCH", edit, `{"content":"hi"}`, 302, rateHeaders, ``), "status", "", "302"},
		{"body where none is described", exchange("DELETE", edit, ``, 204, rateHeaders, `{}`), "response", "", "no body"},
		{"no body where one is described", exchange("PATCH", edit, `{"content":"hi"}`, 200, rateHeaders, ``), "response", "", "got none"},
		{"missing request body", exchange("PATCH", edit, ``, 200, rateHeaders, msgJSON), "request", "", "required"},
		{"body not JSON", exchange("PATCH", edit, `{"content":`, 200, rateHeaders, msgJSON), "request", "", "not JSON"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, vs := v.Check(c.x)
			for _, got := range vs {
				if got.Part == c.part && got.Pointer == c.pointer && strings.Contains(got.String(), c.want) {
					if got.Method != c.x.Method || got.Path != c.x.URL.Path {
						t.Errorf("violation names %s %s, want %s %s", got.Method, got.Path, c.x.Method, c.x.URL.Path)
					}
					return
				}
			}
			t.Errorf("want a %s violation at %q mentioning %q; got %d: %v", c.part, c.pointer, c.want, len(vs), vs)
		})
	}
}

// TestMatchPrefersLiterals: /users/@me is its own operation, not
// /users/{user_id} with user_id "@me".
func TestMatchPrefersLiterals(t *testing.T) {
	v := load(t)
	for _, c := range []struct{ method, path, op string }{
		{"GET", "/api/v10/users/@me", "get_my_user"},
		{"GET", "/api/v10/users/123", "get_user"},
		{"GET", "/api/v10/applications/@me", "get_my_application"},
		{"GET", "/api/v10/guilds/1/voice-states/@me", "get_self_voice_state"},
		{"PATCH", "/api/v10/webhooks/1/tok/messages/@original", "update_original_webhook_message"},
		{"POST", "/api/v10/interactions/1/tok/callback", "create_interaction_response"},
	} {
		o, err := v.Match(c.method, c.path)
		if err != nil || o.ID != c.op {
			t.Errorf("%s %s: %v, %v; want %s", c.method, c.path, o, err, c.op)
		}
	}
}

// FuzzMatch: the path matcher (and the checks behind it) never panic on
// garbage paths, methods and bodies.
func FuzzMatch(f *testing.F) {
	v := load(f)
	for _, s := range []string{"/api/v10/users/@me", "/api/v9/gateway", "/api/v10/webhooks/1/%zz/messages/@original",
		"/api/v10//", "/api/v10/applications/1/guilds/2/commands/3", "", "/", "/api/v10/{x}", "/api/v10/guilds/~1/roles"} {
		f.Add("GET", s, []byte(`{}`))
	}
	f.Add("PATCH", "/api/v10/webhooks/1/t/messages/@original", []byte(`{"content":[1,{"a":null}]}`))
	f.Fuzz(func(t *testing.T, method, path string, body []byte) {
		o, err := v.Match(method, path)
		if err == nil && (o == nil || o.ID == "") {
			t.Fatalf("%s %q matched without an operation", method, path)
		}
		u := &url.URL{Path: path}
		v.Check(Exchange{Method: method, URL: u, ReqHeader: http.Header{"Content-Type": {"application/json"}},
			ReqBody: body, Status: 200, RespHeader: rateHeaders, RespBody: body})
	})
}

// BenchmarkCheck measures checking one edit exchange (the commonest), the
// cost every emulated request now pays; BenchmarkDecode, decoding the same
// request and response bodies with encoding/json, is its reference.
func BenchmarkCheck(b *testing.B) {
	v := load(b)
	x := exchange("PATCH", edit, `{"content":"hi"}`, 200, rateHeaders, msgJSON)
	v.Check(x) // compile outside the loop
	for b.Loop() {
		v.Check(x)
	}
}

func BenchmarkDecode(b *testing.B) {
	req, resp := []byte(`{"content":"hi"}`), []byte(msgJSON)
	for b.Loop() {
		var x, y any
		if json.Unmarshal(req, &x) != nil || json.Unmarshal(resp, &y) != nil {
			b.Fatal("bad JSON")
		}
	}
}

// FuzzCheckMultipart: garbage multipart bodies (the payload_json path)
// never panic the check.
func FuzzCheckMultipart(f *testing.F) {
	v := load(f)
	ctype, body := multipartBody(f, map[string]string{"payload_json": `{"content":"hi"}`, "files[0]": "RIFF"})
	_, boundary, _ := strings.Cut(ctype, "boundary=")
	f.Add(boundary, body)
	f.Add("x", []byte("--x\r\nContent-Disposition: form-data; name=\"payload_json\"\r\n\r\n{\r\n--x--"))
	f.Fuzz(func(t *testing.T, boundary string, body []byte) {
		x := exchange("PATCH", edit, "", 200, rateHeaders, msgJSON)
		x.ReqHeader = http.Header{"Content-Type": {"multipart/form-data; boundary=" + boundary}}
		x.ReqBody = body
		v.Check(x)
	})
}
