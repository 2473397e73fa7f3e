package tool

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // the test's zones must not depend on the machine's zoneinfo
)

type fakeVoice struct {
	stopped, left int
	err           error
	voice         string
	members       []Member
}

func (f *fakeVoice) StopSpeaking(context.Context) error { f.stopped++; return f.err }
func (f *fakeVoice) Leave(context.Context) error        { f.left++; return f.err }
func (f *fakeVoice) SetVoice(_ context.Context, name string) error {
	if f.err != nil {
		return f.err
	}
	f.voice = name
	return nil
}
func (f *fakeVoice) VoiceMembers(context.Context) ([]Member, error) { return f.members, f.err }

func builtinRegistry(t *testing.T, f *fakeVoice, now time.Time) *Registry {
	t.Helper()
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Fatal(err)
	}
	r := NewRegistry(Options{})
	mustAdd(t, r, Builtins{Voice: f, Setter: f, Roster: f, Location: paris, Now: func() time.Time { return now }}.Tools()...)
	t.Cleanup(func() { _ = r.Close(context.Background()) })
	return r
}

func TestBuiltins(t *testing.T) {
	f := &fakeVoice{members: []Member{{Name: "Ada"}, {Name: "livecord", Bot: true}}}
	now := time.Date(2026, 12, 6, 6, 30, 0, 0, time.UTC)
	r := builtinRegistry(t, f, now)
	want := []string{"stop_speaking", "leave_voice_channel", "set_voice", "list_voice_members", "current_time"}
	if got := r.Names(); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("names %v", got)
	}
	for _, d := range r.Declarations(true) {
		if d.Behavior != Blocking || d.Description == "" {
			t.Errorf("%s: behavior %q description %q", d.Name, d.Behavior, d.Description)
		}
	}
	ctx := context.Background()
	call := func(name, args string) Result {
		return r.Call(ctx, FunctionCall{ID: name, Name: name, Args: json.RawMessage(args)})
	}

	if res := call("stop_speaking", ""); res.Err != nil || f.stopped != 1 || res.Summary != "🔧 stopped speaking" {
		t.Errorf("stop: %+v stopped=%d", res, f.stopped)
	}
	if res := call("leave_voice_channel", "{}"); res.Err != nil || f.left != 1 || res.Summary != "🔧 left the voice channel" {
		t.Errorf("leave: %+v left=%d", res, f.left)
	}
	if res := call("set_voice", `{"voice":"Kore"}`); res.Err != nil || f.voice != "Kore" || res.Summary != "🔧 switched the voice to Kore" {
		t.Errorf("set_voice: %+v voice=%q", res, f.voice)
	}
	// A voice outside the enum is refused by the schema; the setter is not called.
	if res := call("set_voice", `{"voice":"Darth"}`); res.Err == nil || f.voice != "Kore" {
		t.Errorf("set_voice Darth: %+v voice=%q", res, f.voice)
	}
	res := call("list_voice_members", "")
	if got := wire(t, res.Response); got != `{"id":"list_voice_members","name":"list_voice_members","response":{"output":{"count":2,"members":[{"name":"Ada"},{"name":"livecord","bot":true}]}}}` {
		t.Errorf("members: %s", got)
	}
	if res.Summary != "🔧 checked who is here (2)" {
		t.Errorf("members summary %q", res.Summary)
	}

	res = call("current_time", "")
	if got := wire(t, res.Response.Response); got != `{"output":{"iso8601":"2026-12-06T07:30:00+01:00","local":"Sunday 6 December 2026, 07:30","timezone":"Europe/Paris"}}` {
		t.Errorf("clock: %s", got)
	}
	if res.Summary != "🔧 checked the time in Europe/Paris" {
		t.Errorf("clock summary %q", res.Summary)
	}
	res = call("current_time", `{"timezone":"America/New_York"}`)
	if got := res.Response.Response["output"].(map[string]string)["iso8601"]; got != "2026-12-06T01:30:00-05:00" {
		t.Errorf("New York: %s", got)
	}
	for _, tz := range []string{"Mars/Olympus_Mons", "../../etc/passwd", "/etc/localtime"} {
		res = call("current_time", `{"timezone":"`+tz+`"}`)
		if res.Err == nil || res.Response.Response["error"] != `unknown time zone "`+tz+`"` {
			t.Errorf("zone %q: %+v", tz, res.Response)
		}
	}

	// The bot's refusal (e.g. missing Manage Server) reaches the model as is.
	f.err = errors.New("only members with Manage Server can change the voice")
	res = call("set_voice", `{"voice":"Puck"}`)
	if res.Response.Response["error"] != "only members with Manage Server can change the voice" {
		t.Errorf("setter error: %+v", res.Response)
	}
	if res = call("list_voice_members", ""); res.Err == nil {
		t.Error("roster error lost")
	}
}

func TestBuiltinsOnlyWithDependencies(t *testing.T) {
	ts := Builtins{}.Tools()
	if len(ts) != 1 || ts[0].Name != "current_time" || !strings.Contains(ts[0].Description, "(UTC)") {
		t.Fatalf("got %+v", ts)
	}
	if n := len(PrebuiltVoices()); n != 30 {
		t.Fatalf("%d voices", n)
	}
}
