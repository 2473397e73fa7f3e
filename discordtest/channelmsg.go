package discordtest

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"time"
)

// Channel messages: POST channels/{id}/messages and PATCH
// channels/{id}/messages/{id}, the bot's own posts in a text channel (a
// running transcript, notices), kept per channel for tests to read.

// channelMessagesLocked serves channels/:id/messages[/:id].
func (s *Server) channelMessagesLocked(w http.ResponseWriter, r *http.Request, seg []string) {
	c := s.st.channels[seg[1]]
	if c == nil {
		writeError(w, errUnknown("Channel", 10003))
		return
	}
	if s.st.chanMsgs == nil {
		s.st.chanMsgs = map[string][]*Message{}
	}
	var m *Message
	switch {
	case len(seg) == 3 && r.Method == http.MethodPost:
		m = &Message{ID: s.st.id()}
	case len(seg) == 4 && r.Method == http.MethodPatch:
		i := slices.IndexFunc(s.st.chanMsgs[c.ID], func(m *Message) bool { return m.ID == seg[3] })
		if i < 0 {
			writeError(w, errUnknown("Message", 10008))
			return
		}
		cp := *s.st.chanMsgs[c.ID][i]
		m = &cp
	default:
		writeError(w, errNotFound())
		return
	}
	p, aerr := readMessagePayload(r, 25<<20)
	if aerr == nil {
		aerr = s.applyLocked(m, p, len(seg) == 3)
	}
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	if len(seg) == 3 {
		s.st.chanMsgs[c.ID] = append(s.st.chanMsgs[c.ID], m)
	} else {
		i := slices.IndexFunc(s.st.chanMsgs[c.ID], func(o *Message) bool { return o.ID == m.ID })
		s.st.chanMsgs[c.ID][i] = m
	}
	s.notifyLocked()
	writeJSON(w, 200, s.channelMessageJSONLocked(m, c, len(seg) == 4))
}

func (s *Server) channelMessageJSONLocked(m *Message, c *Channel, edited bool) map[string]any {
	atts := []map[string]any{}
	for _, a := range m.Attachments {
		atts = append(atts, map[string]any{"id": a.ID, "filename": a.Name, "size": len(a.Data),
			"content_type": a.ContentType, "url": "https://cdn.discordapp.invalid/attachments/" + a.ID + "/" + a.Name,
			"proxy_url": "https://media.discordapp.invalid/attachments/" + a.ID + "/" + a.Name})
	}
	embeds := m.Embeds
	if embeds == nil {
		embeds = []json.RawMessage{}
	}
	var ed any
	if edited {
		ed = m.At.UTC().Format(time.RFC3339Nano)
	}
	return map[string]any{
		"id": m.ID, "type": 0, "channel_id": c.ID, "content": m.Content, "author": s.userJSONLocked(s.st.bot.ID),
		"attachments": atts, "embeds": embeds, "mentions": []any{}, "mention_roles": []any{},
		"mention_everyone": false, "pinned": false, "tts": false, "flags": m.Flags,
		"timestamp": m.At.UTC().Format(time.RFC3339Nano), "edited_timestamp": ed, "components": []any{},
	}
}

// ChannelMessages returns the bot's messages in channelID, oldest first,
// each as last edited.
func (s *Server) ChannelMessages(channelID string) []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.channelMessagesCopyLocked(channelID)
}

func (s *Server) channelMessagesCopyLocked(channelID string) []Message {
	var out []Message
	for _, m := range s.st.chanMsgs[channelID] {
		out = append(out, *m)
	}
	return out
}

// WaitChannelMessages waits until cond holds for the bot's messages in
// channelID and returns them.
func (s *Server) WaitChannelMessages(ctx context.Context, channelID string, cond func([]Message) bool) ([]Message, error) {
	var out []Message
	err := s.waitFor(ctx, func() bool {
		out = s.channelMessagesCopyLocked(channelID)
		return cond(out)
	})
	return out, err
}

// VoiceFlags are the mute and deafen states of a voice state.
type VoiceFlags struct {
	SelfMute, SelfDeaf bool // the user's own
	Mute, Deaf         bool // the server's (moderators')
}

// SetVoiceFlags changes a seated user's mute and deafen states and
// dispatches VOICE_STATE_UPDATE.
func (s *Server) SetVoiceFlags(guildID, userID string, f VoiceFlags) {
	s.mu.Lock()
	g := s.st.guilds[guildID]
	if g == nil || g.voice[userID] == nil {
		s.mu.Unlock()
		return
	}
	v := g.voice[userID]
	v.selfMute, v.selfDeaf, v.mute, v.deaf = f.SelfMute, f.SelfDeaf, f.Mute, f.Deaf
	payload := s.voiceStateLocked(g, userID)
	s.notifyLocked()
	s.mu.Unlock()
	s.broadcast("VOICE_STATE_UPDATE", guildID, payload, intentGuildVoiceStates)
}

// AddBotUser creates a user that is a bot (another application's).
func (s *Server) AddBotUser(name string) User {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := User{ID: s.st.id(), Username: name, Bot: true}
	s.st.users[u.ID] = u
	return u
}

// VoiceFlagsOf returns a seated user's mute and deafen states (the bot's
// from its op 4).
func (s *Server) VoiceFlagsOf(guildID, userID string) (VoiceFlags, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.st.guilds[guildID]
	if g == nil || g.voice[userID] == nil {
		return VoiceFlags{}, false
	}
	v := g.voice[userID]
	return VoiceFlags{SelfMute: v.selfMute, SelfDeaf: v.selfDeaf, Mute: v.mute, Deaf: v.deaf}, true
}

// WaitVoiceFlags waits until cond holds for a seated user's mute and
// deafen states.
func (s *Server) WaitVoiceFlags(ctx context.Context, guildID, userID string, cond func(VoiceFlags) bool) error {
	return s.waitFor(ctx, func() bool {
		g := s.st.guilds[guildID]
		if g == nil || g.voice[userID] == nil {
			return false
		}
		v := g.voice[userID]
		return cond(VoiceFlags{SelfMute: v.selfMute, SelfDeaf: v.selfDeaf, Mute: v.mute, Deaf: v.deaf})
	})
}
