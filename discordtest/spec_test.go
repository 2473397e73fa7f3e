package discordtest

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/livecord/livecord/discordtest/openapi"
)

// fakeT records what reportSpec would fail a test with.
type fakeT struct{ errs []string }

func (f *fakeT) Helper() {}
func (f *fakeT) Errorf(format string, args ...any) {
	f.errs = append(f.errs, fmt.Sprintf(format, args...))
}

// TestSpecViolationsFailTheTest: a request that breaks Discord's OpenAPI
// description, an emulator response that breaks it (against a description
// that demands a field the emulator never sends) and a v9 gateway
// connection each fail the test, naming method, path, JSON pointer and
// what is wrong; a clean exchange does not.
func TestSpecViolationsFailTheTest(t *testing.T) {
	spec, err := os.ReadFile("openapi/testdata/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	// The bot's own user must now carry a field no real user has.
	tampered := bytes.Replace(spec, []byte(`"required": [
          "id",
          "username",
          "avatar",
          "discriminator",
          "public_flags",
          "flags",
          "global_name",
          "mfa_enabled",`), []byte(`"required": [
          "id",
          "username",
          "avatar",
          "discriminator",
          "public_flags",
          "flags",
          "global_name",
          "tampered_field",
          "mfa_enabled",`), 1)
	if bytes.Equal(tampered, spec) {
		t.Fatal("UserPIIResponse's required list not found in the description")
	}
	v, err := openapi.New(tampered)
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Options{Spec: v})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c := s.HTTPClient()
	defer c.CloseIdleConnections()
	do := func(method, path, body string) {
		t.Helper()
		req, _ := http.NewRequestWithContext(ctx, method, s.URL()+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bot "+s.Token())
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	do("GET", "/api/v10/gateway", "")
	if err := s.WaitChecked(ctx); err != nil {
		t.Fatal(err)
	}
	if n := len(s.Spec().Violations); n != 0 {
		t.Fatalf("a clean GET /gateway: %d violations: %v", n, s.Spec().Violations)
	}
	do("PUT", "/api/v10/applications/"+s.AppID()+"/commands", `[{"name":"ask","description":"Ask","dm_permission":"no"}]`)
	do("GET", "/api/v10/users/@me", "")
	ws, _, err := websocket.Dial(ctx, strings.Replace(s.GatewayURL(), "http", "ws", 1)+"?v=9&encoding=json", &websocket.DialOptions{HTTPClient: c})
	if err != nil {
		t.Fatal(err)
	}
	ws.CloseNow()
	if err := s.WaitChecked(ctx); err != nil {
		t.Fatal(err)
	}
	s.Close()
	f := &fakeT{}
	s.reportSpec(f)
	all := strings.Join(f.errs, "\n")
	for _, want := range []string{
		`PUT /api/v10/applications/` + s.AppID() + `/commands (bulk_set_application_commands): request "/0/dm_permission": got string, want`,
		`PUT /api/v10/applications/` + s.AppID() + `/commands (bulk_set_application_commands): response "/0/dm_permission": got string, want`,
		`GET /api/v10/users/@me (get_my_user): response "": missing property 'tampered_field'`,
		`gateway "v": gateway API version v="9", want 10`,
	} {
		if !strings.Contains(all, want) {
			t.Errorf("the test would not fail with %q; it fails with:\n%s", want, all)
		}
	}
	if rep := s.Spec(); rep.Checked["get_gateway"] != 1 || rep.Checked["get_my_user"] != 1 || rep.Prefixes["/api/v10/"] != 3 {
		t.Errorf("counts: %+v", rep)
	}
}

// TestSpecExceptionsAreNarrow: every allowed difference has a reason and
// covers only what it says.
func TestSpecExceptionsAreNarrow(t *testing.T) {
	for _, e := range specExceptions {
		if len(e.reason) < 40 {
			t.Errorf("exception %+v has no real reason", e)
		}
	}
	for _, c := range []struct {
		part, pointer string
		allowed       bool
	}{
		{"request", "/0/default_member_permissions", true},
		{"request", "/default_member_permissions", true},
		{"response", "/0/default_member_permissions", false},
		{"request", "/0/name", false},
		{"response", "/errors/content/_errors/0/code", true},
		{"response", "/errors", true},
		{"response", "/errorsx", false},
		{"response", "", false},
		{"response", "/code", false},
	} {
		if got := excepted(openapi.Violation{Part: c.part, Pointer: c.pointer}); got != c.allowed {
			t.Errorf("%s %q allowed = %v, want %v", c.part, c.pointer, got, c.allowed)
		}
	}
}

// TestAllowV9: a bare discordgo client's v9 paths pass with AllowV9 (and
// are still counted by prefix), while their bodies are still checked.
func TestAllowV9(t *testing.T) {
	v, err := openapi.Load()
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Options{Spec: v, AllowV9: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c := s.HTTPClient()
	defer c.CloseIdleConnections()
	for _, body := range []string{`[]`, `[{"name":"ask","description":"Ask","dm_permission":"no"}]`} {
		req, _ := http.NewRequest("PUT", s.URL()+"/api/v9/applications/"+s.AppID()+"/commands", strings.NewReader(body))
		req.Header.Set("Authorization", "Bot "+s.Token())
		req.Header.Set("Content-Type", "application/json")
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.WaitChecked(ctx); err != nil {
		t.Fatal(err)
	}
	rep := s.Spec()
	if rep.Prefixes["/api/v9/"] != 2 {
		t.Errorf("prefixes %v", rep.Prefixes)
	}
	for _, x := range rep.Violations {
		if x.Part == "path" {
			t.Errorf("reported with AllowV9: %s", x)
		}
	}
	if len(rep.Violations) == 0 {
		t.Error("the v9 request's invalid body was not reported")
	}
}
