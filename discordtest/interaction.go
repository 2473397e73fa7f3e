package discordtest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"time"
	"unicode/utf8"
)

// Interaction types and callback types (Discord's values).
const (
	InteractionCommand      = 2
	InteractionAutocomplete = 4

	CallbackMessage      = 4
	CallbackDeferred     = 5
	CallbackAutocomplete = 8

	FlagEphemeral = 1 << 6
	FlagLoading   = 1 << 7

	// DefaultAttachmentLimit is the per-file upload limit of an interaction
	// that does not set one (10 MiB).
	DefaultAttachmentLimit = 10 << 20
)

// Invocation describes a user running a slash command (or typing into an
// autocompleted option).
type Invocation struct {
	// GuildID and ChannelID locate the command; an empty GuildID means a DM
	// with the bot (ChannelID is then ignored).
	GuildID   string
	ChannelID string
	User      User
	Command   string
	// Options are the command's STRING/INTEGER options by name (the
	// Subcommand's, when set).
	Options map[string]any
	// Subcommand names the subcommand invoked (type 1 option).
	Subcommand string
	// Attachments are ATTACHMENT options by name: the option's value is the
	// attachment's id, and the file is in data.resolved.attachments.
	Attachments map[string]Attachment
	// Focused names the option being typed: the interaction is then an
	// autocomplete (type 4) request.
	Focused string
	// AttachmentSizeLimit is sent as attachment_size_limit; 0 means
	// DefaultAttachmentLimit.
	AttachmentSizeLimit int
	Locale              string
}

// Attachment is a file a user attached to an ATTACHMENT option; URL is
// where it is served (Discord's CDN; a test's own server here).
type Attachment struct {
	Filename, ContentType, URL string
	Size                       int
}

// Interaction is one dispatched interaction and everything the bot answered.
type Interaction struct {
	s          *Server
	ID         string
	Token      string
	Type       int
	GuildID    string
	ChannelID  string
	UserID     string
	Dispatched time.Time
	// Payload is the INTERACTION_CREATE data as dispatched.
	Payload json.RawMessage
	limit   int
	owners  map[string]string // authorizing_integration_owners

	// guarded by s.mu
	callback  *Callback
	original  *Message
	history   []Message
	followups []*Message
}

// Callback is the bot's first response to an interaction.
type Callback struct {
	Type int
	// Latency is the time from dispatch to the callback's arrival.
	Latency time.Duration
	// Message is the callback's message (types 4 and 5).
	Message Message
	// Choices are an autocomplete callback's (type 8) choices.
	Choices []Choice
}

// Choice is one autocomplete choice.
type Choice struct {
	Name  string `json:"name"`
	Value any    `json:"value"`
}

// File is an uploaded attachment.
type File struct {
	ID          string
	Name        string
	ContentType string
	Data        []byte
}

// Message is a message the bot posted (an interaction's original response or
// a follow-up), as it stands after an edit.
type Message struct {
	ID      string
	Content string
	Flags   int
	// AllowedMentions is the raw allowed_mentions object; nil when the bot
	// sent none (Discord then parses every mention in Content).
	AllowedMentions json.RawMessage
	Embeds          []json.RawMessage
	Attachments     []File
	At              time.Time
}

var mentionRe = regexp.MustCompile(`@everyone|@here|<@!?(\d+)>|<@&(\d+)>`)

// Pings lists who Discord would notify for this message: "@everyone",
// "@here", "user:ID" and "role:ID", following allowed_mentions semantics.
func (m Message) Pings() []string {
	var am struct {
		Parse *[]string `json:"parse"`
		Users []string  `json:"users"`
		Roles []string  `json:"roles"`
	}
	parseAll := m.AllowedMentions == nil
	if !parseAll {
		_ = json.Unmarshal(m.AllowedMentions, &am)
	}
	parses := func(kind string) bool {
		if parseAll {
			return true
		}
		return am.Parse != nil && contains(*am.Parse, kind)
	}
	var out []string
	for _, sub := range mentionRe.FindAllStringSubmatch(m.Content, -1) {
		switch {
		case sub[0] == "@everyone" || sub[0] == "@here":
			if parses("everyone") {
				out = append(out, sub[0])
			}
		case sub[1] != "":
			if parses("users") || contains(am.Users, sub[1]) {
				out = append(out, "user:"+sub[1])
			}
		case sub[2] != "":
			if parses("roles") || contains(am.Roles, sub[2]) {
				out = append(out, "role:"+sub[2])
			}
		}
	}
	return out
}

// Invoke dispatches an INTERACTION_CREATE for inv to the bot and returns its
// handle. It fails as a Discord client would refuse: the command must be
// registered, allowed in that context, and its options must respect
// max_length.
func (s *Server) Invoke(ctx context.Context, inv Invocation) (*Interaction, error) {
	s.mu.Lock()
	payload, ia, err := s.buildInteractionLocked(inv)
	s.mu.Unlock()
	if err != nil {
		return nil, err
	}
	ia.Dispatched = time.Now()
	if s.broadcast("INTERACTION_CREATE", inv.GuildID, payload, intentAny) == 0 {
		return nil, errors.New("discordtest: no bot is connected to the gateway")
	}
	return ia, nil
}

func (s *Server) buildInteractionLocked(inv Invocation) (map[string]any, *Interaction, error) {
	cmd, ok := s.findCommandLocked(inv.GuildID, inv.Command)
	if !ok {
		return nil, nil, fmt.Errorf("discordtest: command /%s is not registered", inv.Command)
	}
	ctxType := 0
	if inv.GuildID == "" {
		ctxType = 1
	}
	if len(cmd.def.Contexts) > 0 && !containsInt(cmd.def.Contexts, ctxType) {
		return nil, nil, fmt.Errorf("discordtest: /%s is not available in context %d", inv.Command, ctxType)
	}
	var opts []map[string]any
	defs := cmd.def.Options
	if inv.Subcommand != "" {
		sub, err := cmd.def.option(inv.Subcommand)
		if err != nil || sub.Type != 1 {
			return nil, nil, fmt.Errorf("discordtest: /%s has no subcommand %q", inv.Command, inv.Subcommand)
		}
		defs = sub.Options
	}
	for name, v := range inv.Options {
		od, err := commandDef{Name: inv.Command, Options: defs}.option(name)
		if err != nil {
			return nil, nil, err
		}
		if str, ok := v.(string); ok && od.MaxLength != nil && utf8.RuneCountInString(str) > *od.MaxLength && name != inv.Focused {
			return nil, nil, fmt.Errorf("discordtest: option %q is longer than max_length %d", name, *od.MaxLength)
		}
		o := map[string]any{"name": name, "type": od.Type, "value": v}
		if name == inv.Focused {
			o["focused"] = true
		}
		opts = append(opts, o)
	}
	var resolved map[string]any
	for name, a := range inv.Attachments {
		od, err := commandDef{Name: inv.Command, Options: defs}.option(name)
		if err != nil {
			return nil, nil, err
		}
		if od.Type != 11 {
			return nil, nil, fmt.Errorf("discordtest: option %q is not an attachment", name)
		}
		id := s.st.id()
		opts = append(opts, map[string]any{"name": name, "type": od.Type, "value": id})
		if resolved == nil {
			resolved = map[string]any{}
		}
		resolved[id] = map[string]any{"id": id, "filename": a.Filename, "size": a.Size, "url": a.URL,
			"proxy_url": a.URL, "content_type": a.ContentType, "ephemeral": true}
	}
	if opts == nil {
		opts = []map[string]any{}
	}
	if inv.Subcommand != "" {
		opts = []map[string]any{{"name": inv.Subcommand, "type": 1, "options": opts}}
	}
	typ := InteractionCommand
	if inv.Focused != "" {
		typ = InteractionAutocomplete
	}
	limit := inv.AttachmentSizeLimit
	if limit <= 0 {
		limit = DefaultAttachmentLimit
	}
	locale := inv.Locale
	if locale == "" {
		locale = "en-US"
	}
	ia := &Interaction{s: s, ID: s.st.id(), Token: "aW50ZXJhY3Rpb24" + randomHex(24), Type: typ,
		GuildID: inv.GuildID, UserID: inv.User.ID, limit: limit}
	data := map[string]any{"id": cmd.ID, "name": cmd.Name, "type": 1, "options": opts}
	if resolved != nil {
		data["resolved"] = map[string]any{"attachments": resolved}
	}
	p := map[string]any{
		"id": ia.ID, "application_id": s.st.bot.ID, "type": typ, "token": ia.Token, "version": 1,
		"data": data, "locale": locale, "entitlements": []any{}, "context": ctxType,
		"attachment_size_limit": limit,
		"app_permissions":       strconv.FormatInt(DefaultPermissions, 10),
	}
	if inv.GuildID != "" {
		g := s.st.guilds[inv.GuildID]
		if g == nil {
			return nil, nil, fmt.Errorf("discordtest: unknown guild %s", inv.GuildID)
		}
		if _, ok := g.members[inv.User.ID]; !ok {
			return nil, nil, fmt.Errorf("discordtest: %s is not a member of %s", inv.User.Username, g.Name)
		}
		ch := s.st.channels[inv.ChannelID]
		if ch == nil || ch.GuildID != g.ID {
			return nil, nil, fmt.Errorf("discordtest: unknown channel %s in guild %s", inv.ChannelID, g.Name)
		}
		if cmd.GuildID != "" {
			data["guild_id"] = cmd.GuildID
		}
		// Both are the permissions in the channel of the interaction, overwrites applied.
		member := s.memberJSONLocked(g, inv.User.ID)
		member["permissions"] = strconv.FormatInt(s.channelPermsLocked(g, ch.ID, inv.User.ID), 10)
		p["app_permissions"] = strconv.FormatInt(s.channelPermsLocked(g, ch.ID, s.st.bot.ID), 10)
		p["guild_id"], p["guild_locale"] = g.ID, "en-US"
		p["guild"] = map[string]any{"id": g.ID, "locale": "en-US", "features": []string{}}
		p["member"] = member
		p["channel"] = s.channelJSONLocked(ch)
		p["channel_id"] = ch.ID
		ia.owners = map[string]string{"0": g.ID}
		p["authorizing_integration_owners"] = ia.owners
		ia.ChannelID = ch.ID
	} else {
		ch := s.dmChannelLocked(inv.User.ID)
		p["user"] = s.userJSONLocked(inv.User.ID)
		p["channel"] = map[string]any{"id": ch.ID, "type": ChannelDM, "recipients": []any{s.userJSONLocked(inv.User.ID)}}
		p["channel_id"] = ch.ID
		ia.owners = map[string]string{"1": inv.User.ID}
		p["authorizing_integration_owners"] = ia.owners
		ia.ChannelID = ch.ID
	}
	raw, err := json.Marshal(p)
	if err != nil {
		return nil, nil, err
	}
	ia.Payload = raw
	s.st.ias[ia.ID] = ia
	s.st.byToken[ia.Token] = ia
	return p, ia, nil
}

func containsInt(list []int, v int) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// WaitCallback waits for the bot's first response.
func (ia *Interaction) WaitCallback(ctx context.Context) (Callback, error) {
	var cb Callback
	err := ia.s.waitFor(ctx, func() bool {
		if ia.callback != nil {
			cb = *ia.callback
			return true
		}
		return false
	})
	if err != nil {
		return cb, fmt.Errorf("discordtest: waiting for the callback of /%s: %w", ia.ID, err)
	}
	return cb, nil
}

// WaitOriginal waits until the original response satisfies done and returns
// it.
func (ia *Interaction) WaitOriginal(ctx context.Context, done func(Message) bool) (Message, error) {
	var m Message
	err := ia.s.waitFor(ctx, func() bool {
		if ia.original != nil && done(*ia.original) {
			m = cloneMessage(*ia.original)
			return true
		}
		return false
	})
	if err != nil {
		last, _ := ia.Original()
		return m, fmt.Errorf("discordtest: waiting for the original response (now %q): %w", last.Content, err)
	}
	return m, nil
}

// Original returns the original response as it stands.
func (ia *Interaction) Original() (Message, bool) {
	ia.s.mu.Lock()
	defer ia.s.mu.Unlock()
	if ia.original == nil {
		return Message{}, false
	}
	return cloneMessage(*ia.original), true
}

// History returns every version of the original response, oldest first.
func (ia *Interaction) History() []Message {
	ia.s.mu.Lock()
	defer ia.s.mu.Unlock()
	return append([]Message(nil), ia.history...)
}

// WaitFollowups waits for at least n follow-up messages and returns them all.
func (ia *Interaction) WaitFollowups(ctx context.Context, n int) ([]Message, error) {
	var out []Message
	err := ia.s.waitFor(ctx, func() bool {
		if len(ia.followups) < n {
			return false
		}
		out = out[:0]
		for _, m := range ia.followups {
			out = append(out, cloneMessage(*m))
		}
		return true
	})
	return out, err
}

// Followups returns the follow-up messages so far.
func (ia *Interaction) Followups() []Message {
	ia.s.mu.Lock()
	defer ia.s.mu.Unlock()
	var out []Message
	for _, m := range ia.followups {
		out = append(out, cloneMessage(*m))
	}
	return out
}

func cloneMessage(m Message) Message {
	m.Attachments = append([]File(nil), m.Attachments...)
	m.Embeds = append([]json.RawMessage(nil), m.Embeds...)
	return m
}
