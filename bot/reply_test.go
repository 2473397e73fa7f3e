package bot

import (
	"encoding/json"

	"strings"
	"testing"
	"unicode/utf8"

	"github.com/bwmarrin/discordgo"
	"github.com/livecord/livecord/voice"
)

func TestSplit(t *testing.T) {
	tests := []struct {
		in    string
		limit int
		want  []string
	}{
		{"short", 10, []string{"short"}},
		{"", 10, []string{""}},
		{"aaaa bbbb cccc", 10, []string{"aaaa bbbb", "cccc"}},
		{"line one\nline two", 12, []string{"line one", "line two"}},
		{"abcdefghijkl", 5, []string{"abcde", "fghij", "kl"}},
		{"ééééé ééééé", 6, []string{"ééééé", "ééééé"}},
	}
	for _, tt := range tests {
		got := split(tt.in, tt.limit)
		if strings.Join(got, "|") != strings.Join(tt.want, "|") {
			t.Errorf("split(%q, %d) = %q, want %q", tt.in, tt.limit, got, tt.want)
		}
	}
}

func FuzzSplit(f *testing.F) {
	f.Add("The quick brown fox jumps over the lazy dog.\nAgain.", 7)
	f.Add(strings.Repeat("é", 50), 3)
	f.Fuzz(func(t *testing.T, s string, limit int) {
		if limit < 2 || limit > 5000 || !utf8.ValidString(s) {
			return
		}
		parts := split(s, limit)
		for _, p := range parts {
			if utf8.RuneCountInString(p) > limit {
				t.Fatalf("part of %d > %d", utf8.RuneCountInString(p), limit)
			}
		}
		// Nothing but the separators at the cuts is lost.
		strip := func(x string) string { return strings.Join(strings.Fields(x), "") }
		if strip(strings.Join(parts, "")) != strip(s) {
			t.Fatalf("split lost text: %q -> %q", s, parts)
		}
	})
}

func TestQuote(t *testing.T) {
	if got := quote("a\nb\n"); got != "> a\n> b" {
		t.Fatalf("quote = %q", got)
	}
}

func TestMatchVoices(t *testing.T) {
	if got := matchVoices(""); len(got) != 25 {
		t.Fatalf("%d choices for an empty query, want 25", len(got))
	}
	if got := matchVoices("KO"); len(got) != 1 || got[0] != "Kore" {
		t.Fatalf("ko -> %v", got)
	}
	if got := matchVoices("zzz"); len(got) != 0 {
		t.Fatalf("zzz -> %v", got)
	}
	if canonicalVoice(" puck ") != "Puck" || canonicalVoice("nobody") != "" {
		t.Fatal("canonicalVoice")
	}
}

// FuzzVoiceEvents feeds arbitrary gateway payloads through the voice event
// decoders to a voice.Channel, as the bot's routing does: nothing panics,
// and events alone never make a connection.
func FuzzVoiceEvents(f *testing.F) {
	f.Add([]byte(`{"guild_id":"1","user_id":"9","channel_id":"2","session_id":"s"}`))
	f.Add([]byte(`{"guild_id":"1","token":"t","endpoint":null}`))
	f.Add([]byte(`{"guild_id":"1","token":"t","endpoint":"h:1"}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		ch := voice.NewChannel(voice.ChannelConfig{GuildID: "1", UserID: "9"})
		defer ch.Close()
		var st voiceStateEvent
		if json.Unmarshal(raw, &st) == nil && st.UserID == "9" {
			ch.StateUpdate(deref(st.ChannelID), st.SessionID)
		}
		var sv voiceServerEvent
		if json.Unmarshal(raw, &sv) == nil {
			ch.ServerUpdate(deref(sv.Endpoint), sv.Token)
		}
		if ch.ChannelID() != "" {
			t.Fatalf("connected to %q from events alone", ch.ChannelID())
		}
	})
}

// FuzzDecodeInteraction: any INTERACTION_CREATE payload decodes or fails
// without panicking, and the helpers the handlers use hold up on it.
func FuzzDecodeInteraction(f *testing.F) {
	f.Add([]byte(`{"id":"1","type":2,"token":"t","guild_id":"5","member":{"user":{"id":"9"},"roles":["7"]},` +
		`"data":{"id":"3","name":"ask","type":1,"options":[{"name":"prompt","type":3,"value":"hi"}]},"attachment_size_limit":1024}`))
	f.Add([]byte(`{"type":4,"user":{"id":"9"},"data":{"name":"voice","options":[{"name":"name","type":3,"value":"ko","focused":true}]}}`))
	f.Add([]byte(`{"type":2,"data":null}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		ia, err := decodeInteraction(raw)
		if err != nil {
			return
		}
		if ia.attachLimit <= 0 {
			t.Fatalf("attachment limit %d", ia.attachLimit)
		}
		_ = convKey(ia.Interaction)
		if ia.Type == 2 || ia.Type == 4 {
			// The handlers call ApplicationCommandData, which would panic
			// on anything else.
			if _, ok := ia.Data.(discordgo.ApplicationCommandInteractionData); !ok {
				t.Fatalf("type %d decoded with data %T", ia.Type, ia.Data)
			}
			_ = promptEcho(ia)
			_ = optionString(ia, "prompt")
		}
	})
}
