package tool

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
)

// The bot implements these narrow interfaces, bound to one guild's
// conversation, and registers the built-in tools for that session.

// VoiceControl stops or ends the bot's voice presence.
type VoiceControl interface {
	// StopSpeaking cuts the reply now playing, keeping the conversation.
	StopSpeaking(ctx context.Context) error
	// Leave leaves the voice channel; an implementation should let the
	// current reply's last words play first.
	Leave(ctx context.Context) error
}

// VoiceSetter changes the guild's prebuilt voice. Changing what the whole
// guild shares needs Manage Server: the implementation checks the speaker's
// permission and returns an error whose text the model can repeat.
type VoiceSetter interface {
	SetVoice(ctx context.Context, name string) error
}

// Member is someone in the voice channel.
type Member struct {
	Name string `json:"name"`
	Bot  bool   `json:"bot,omitempty"`
}

// RosterReader lists who is in the bot's voice channel.
type RosterReader interface {
	VoiceMembers(ctx context.Context) ([]Member, error)
}

// PrebuiltVoices are the voice names of the native-audio Live models.
func PrebuiltVoices() []string {
	return []string{"Achernar", "Achird", "Algenib", "Algieba", "Alnilam", "Aoede", "Autonoe", "Callirrhoe",
		"Charon", "Despina", "Enceladus", "Erinome", "Fenrir", "Gacrux", "Iapetus", "Kore", "Laomedeia", "Leda",
		"Orus", "Pulcherrima", "Puck", "Rasalgethi", "Sadachbia", "Sadaltager", "Schedar", "Sulafat", "Umbriel",
		"Vindemiatrix", "Zephyr", "Zubenelgenubi"}
}

// StopSpeaking is "stop_speaking": for "stop", "shush", "that's enough".
func StopSpeaking(v VoiceControl) Tool {
	return Tool{
		Name:        "stop_speaking",
		Description: "Stop talking right away, when someone asks you to stop, be quiet or shut up. Stays in the call.",
		Behavior:    Blocking,
		Timeout:     5 * time.Second,
		Summarize:   func(json.RawMessage, any) string { return "stopped speaking" },
		Handler: func(ctx context.Context, _ json.RawMessage) (any, error) {
			if err := v.StopSpeaking(ctx); err != nil {
				return nil, err
			}
			return "stopped", nil
		},
	}
}

// LeaveVoice is "leave_voice_channel": for "leave", "go away", "bye bot".
func LeaveVoice(v VoiceControl) Tool {
	return Tool{
		Name:        "leave_voice_channel",
		Description: "Leave the voice channel, when someone asks you to leave, hang up or go away. Say a short goodbye.",
		Behavior:    Blocking,
		Timeout:     5 * time.Second,
		Summarize:   func(json.RawMessage, any) string { return "left the voice channel" },
		Handler: func(ctx context.Context, _ json.RawMessage) (any, error) {
			if err := v.Leave(ctx); err != nil {
				return nil, err
			}
			return "leaving after this reply", nil
		},
	}
}

// SetVoice is "set_voice", offering voices (PrebuiltVoices if nil) as an enum.
func SetVoice(v VoiceSetter, voices []string) Tool {
	if voices == nil {
		voices = PrebuiltVoices()
	}
	enum, _ := json.Marshal(voices)
	return Tool{
		Name:        "set_voice",
		Description: "Change the voice you speak with in this server, when someone asks for a different voice. Takes effect from the next conversation.",
		Parameters: json.RawMessage(`{"type":"object","properties":{"voice":{"type":"string","description":"the voice name","enum":` +
			string(enum) + `}},"required":["voice"],"additionalProperties":false}`),
		Behavior: Blocking,
		Timeout:  5 * time.Second,
		Summarize: func(args json.RawMessage, _ any) string {
			return "switched the voice to " + argString(args, "voice")
		},
		Handler: func(ctx context.Context, args json.RawMessage) (any, error) {
			name := argString(args, "voice")
			if !slices.Contains(voices, name) {
				return nil, fmt.Errorf("unknown voice %q", name)
			}
			if err := v.SetVoice(ctx, name); err != nil {
				return nil, err
			}
			return "voice set to " + name + "; it applies from the next conversation", nil
		},
	}
}

// VoiceMembers is "list_voice_members".
func VoiceMembers(r RosterReader) Tool {
	return Tool{
		Name:        "list_voice_members",
		Description: "List who is in the voice channel with you right now.",
		Behavior:    Blocking,
		Timeout:     5 * time.Second,
		Summarize: func(_ json.RawMessage, res any) string {
			if m, ok := res.(map[string]any); ok {
				if ms, ok := m["members"].([]Member); ok {
					return fmt.Sprintf("checked who is here (%d)", len(ms))
				}
			}
			return "checked who is here"
		},
		Handler: func(ctx context.Context, _ json.RawMessage) (any, error) {
			ms, err := r.VoiceMembers(ctx)
			if err != nil {
				return nil, err
			}
			if ms == nil {
				ms = []Member{}
			}
			return map[string]any{"members": ms, "count": len(ms)}, nil
		},
	}
}

// Clock is "current_time": the date and time in loc (the configured zone), or
// in an IANA zone the model names. now is time.Now when nil.
func Clock(loc *time.Location, now func() time.Time) Tool {
	if loc == nil {
		loc = time.UTC
	}
	if now == nil {
		now = time.Now
	}
	return Tool{
		Name: "current_time",
		Description: "Get the current date and time. Defaults to the server's time zone (" + loc.String() +
			"); pass an IANA time zone such as Europe/Paris for another place.",
		Parameters: json.RawMessage(`{"type":"object","properties":{"timezone":{"type":"string","description":"IANA time zone, e.g. America/New_York","maxLength":64}},"additionalProperties":false}`),
		Behavior:   Blocking,
		Timeout:    2 * time.Second,
		Summarize: func(_ json.RawMessage, res any) string {
			if m, ok := res.(map[string]string); ok {
				return "checked the time in " + m["timezone"]
			}
			return "checked the time"
		},
		Handler: func(_ context.Context, args json.RawMessage) (any, error) {
			l := loc
			if tz := strings.TrimSpace(argString(args, "timezone")); tz != "" {
				var err error
				if l, err = loadZone(tz); err != nil {
					return nil, err
				}
			}
			t := now().In(l)
			return map[string]string{
				"timezone": l.String(),
				"iso8601":  t.Format(time.RFC3339),
				"local":    t.Format("Monday 2 January 2006, 15:04"),
			}, nil
		},
	}
}

func loadZone(tz string) (*time.Location, error) {
	// LoadLocation reads files: refuse paths before asking it.
	if strings.Contains(tz, "..") || strings.HasPrefix(tz, "/") || strings.ContainsAny(tz, "\\\x00") {
		return nil, fmt.Errorf("unknown time zone %q", tz)
	}
	l, err := time.LoadLocation(tz)
	if err != nil {
		return nil, fmt.Errorf("unknown time zone %q", tz)
	}
	return l, nil
}

// Builtins gathers the built-in tools' dependencies; nil ones are left out.
type Builtins struct {
	Voice    VoiceControl
	Setter   VoiceSetter
	Voices   []string // nil: PrebuiltVoices
	Roster   RosterReader
	Location *time.Location // the clock's zone; nil: UTC
	Now      func() time.Time
}

// Tools returns the built-in tools whose dependencies are set; the clock is
// always there.
func (b Builtins) Tools() []Tool {
	var ts []Tool
	if b.Voice != nil {
		ts = append(ts, StopSpeaking(b.Voice), LeaveVoice(b.Voice))
	}
	if b.Setter != nil {
		ts = append(ts, SetVoice(b.Setter, b.Voices))
	}
	if b.Roster != nil {
		ts = append(ts, VoiceMembers(b.Roster))
	}
	return append(ts, Clock(b.Location, b.Now))
}

// argString reads a string argument from an already validated object.
func argString(args json.RawMessage, key string) string {
	var m map[string]any
	_ = json.Unmarshal(args, &m)
	s, _ := m[key].(string)
	return s
}
