package discordtest

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"time"
)

// Channel types and permission bits the emulator uses (Discord's values).
const (
	ChannelText  = 0
	ChannelDM    = 1
	ChannelVoice = 2

	PermAdministrator  int64 = 1 << 3
	PermViewChannel    int64 = 1 << 10
	PermSendMessages   int64 = 1 << 11
	PermAttachFiles    int64 = 1 << 15
	PermConnect        int64 = 1 << 20
	PermSpeak          int64 = 1 << 21
	PermUseAppCommands int64 = 1 << 31

	allPermissions int64 = 1<<51 - 1

	// DefaultPermissions is what @everyone gets in a new guild.
	DefaultPermissions = PermViewChannel | PermSendMessages | PermAttachFiles | PermConnect | PermSpeak | PermUseAppCommands
)

// User is a Discord user known to the emulator.
type User struct {
	ID       string `json:"id"`
	Username string `json:"username"`
	Bot      bool   `json:"bot,omitempty"`
}

// Guild is a guild known to the emulator.
type Guild struct {
	ID      string
	Name    string
	OwnerID string
}

// Channel is a guild channel (or a DM channel, GuildID "").
type Channel struct {
	ID      string
	GuildID string
	Name    string
	Type    int
	// Bitrate is a voice channel's bitrate in bit/s (0: Discord's default,
	// 64000).
	Bitrate int
}

// Role is a guild role; the @everyone role has the guild's ID.
type Role struct {
	ID          string
	Name        string
	Permissions int64
}

// Overwrite types (Discord's values).
const (
	OverwriteRole   = 0
	OverwriteMember = 1
)

// Overwrite is a channel permission overwrite for a role (the @everyone
// role's ID is the guild's) or a member.
type Overwrite struct {
	ID    string
	Type  int // OverwriteRole or OverwriteMember
	Allow int64
	Deny  int64
}

type guildState struct {
	Guild
	created  time.Time
	channels []string
	roles    []*Role
	members  map[string][]string // user → role IDs
	voice    map[string]*voiceState
}

type voiceState struct {
	channelID string
	sessionID string
	selfMute  bool
	selfDeaf  bool
	mute      bool // server mute
	deaf      bool // server deafen
}

// Command is an application command as registered by the bot.
type Command struct {
	ID      string
	GuildID string // "" for a global command
	Name    string
	// Raw is the definition as the emulator returns it (with id,
	// application_id and version added).
	Raw json.RawMessage
	def commandDef
}

type commandDef struct {
	Name             string      `json:"name"`
	Type             int         `json:"type"`
	Description      string      `json:"description"`
	Options          []optionDef `json:"options"`
	Contexts         []int       `json:"contexts"`
	IntegrationTypes []int       `json:"integration_types"`
}

type optionDef struct {
	Name         string `json:"name"`
	Type         int    `json:"type"`
	Required     bool   `json:"required"`
	MaxLength    *int   `json:"max_length"`
	Autocomplete bool   `json:"autocomplete"`
	// Options are a subcommand's own options.
	Options []optionDef `json:"options"`
}

type state struct {
	next      uint64
	bot       User
	users     map[string]User
	guilds    map[string]*guildState
	order     []string // guild IDs in creation order
	channels  map[string]*Channel
	perms     map[string][]Overwrite // channel → its permission overwrites
	dms       map[string]string      // user → DM channel
	commands  map[string][]Command
	overwrite int // bulk overwrite requests so far
	ias       map[string]*Interaction
	byToken   map[string]*Interaction
	sessions  map[string]session    // gateway sessions handed out, for resume
	chanMsgs  map[string][]*Message // channel → the bot's messages (channelmsg.go)
}

func (st *state) init(botName string) {
	st.next = 1300000000000000000
	st.users = map[string]User{}
	st.guilds = map[string]*guildState{}
	st.channels = map[string]*Channel{}
	st.perms = map[string][]Overwrite{}
	st.dms = map[string]string{}
	st.commands = map[string][]Command{}
	st.ias = map[string]*Interaction{}
	st.byToken = map[string]*Interaction{}
	st.sessions = map[string]session{}
	st.bot = User{ID: st.id(), Username: botName, Bot: true}
	st.users[st.bot.ID] = st.bot
}

// session is what a resumed gateway connection gets back.
type session struct {
	shard   [2]int
	intents int
}

// id returns a fresh snowflake, one "millisecond" after the previous one,
// so that consecutive guilds fall on different shards.
func (st *state) id() string {
	st.next += 1 << 22
	return strconv.FormatUint(st.next, 10)
}

// AddUser creates a user.
func (s *Server) AddUser(name string) User {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := User{ID: s.st.id(), Username: name}
	s.st.users[u.ID] = u
	return u
}

// AddGuild creates a guild owned by a new user, with the bot as a member.
// Gateway connections that are already ready receive GUILD_CREATE.
func (s *Server) AddGuild(name string) Guild {
	s.mu.Lock()
	owner := User{ID: s.st.id(), Username: name + "-owner"}
	s.st.users[owner.ID] = owner
	g := &guildState{
		Guild:   Guild{ID: s.st.id(), Name: name, OwnerID: owner.ID},
		created: time.Now(),
		members: map[string][]string{owner.ID: nil, s.st.bot.ID: nil},
		voice:   map[string]*voiceState{},
	}
	g.roles = []*Role{{ID: g.ID, Name: "@everyone", Permissions: DefaultPermissions}}
	s.st.guilds[g.ID] = g
	s.st.order = append(s.st.order, g.ID)
	payload := s.guildCreateLocked(g)
	s.mu.Unlock()
	s.broadcast("GUILD_CREATE", g.ID, payload, intentGuilds)
	return g.Guild
}

// AddChannel creates a channel of type typ (ChannelText, ChannelVoice) and
// dispatches CHANNEL_CREATE.
func (s *Server) AddChannel(guildID, name string, typ int) Channel {
	s.mu.Lock()
	c := &Channel{ID: s.st.id(), GuildID: guildID, Name: name, Type: typ}
	s.st.channels[c.ID] = c
	if g := s.st.guilds[guildID]; g != nil {
		g.channels = append(g.channels, c.ID)
	}
	payload := s.channelJSONLocked(c)
	s.mu.Unlock()
	s.broadcast("CHANNEL_CREATE", guildID, payload, intentGuilds)
	return *c
}

// SetBitrate sets a voice channel's bitrate (bit/s) and dispatches
// CHANNEL_UPDATE.
func (s *Server) SetBitrate(channelID string, bitrate int) {
	s.mu.Lock()
	c := s.st.channels[channelID]
	if c == nil || c.GuildID == "" {
		s.mu.Unlock()
		return
	}
	c.Bitrate = bitrate
	payload := s.channelJSONLocked(c)
	s.mu.Unlock()
	s.broadcast("CHANNEL_UPDATE", c.GuildID, payload, intentGuilds)
}

// SetOverwrites replaces a guild channel's permission overwrites and
// dispatches CHANNEL_UPDATE.
func (s *Server) SetOverwrites(channelID string, ows ...Overwrite) {
	s.mu.Lock()
	c := s.st.channels[channelID]
	if c == nil || c.GuildID == "" {
		s.mu.Unlock()
		return
	}
	s.st.perms[channelID] = append([]Overwrite(nil), ows...)
	payload := s.channelJSONLocked(c)
	s.mu.Unlock()
	s.broadcast("CHANNEL_UPDATE", c.GuildID, payload, intentGuilds)
}

// ChannelPermissions computes a member's permissions in a channel as Discord
// does: the owner and administrators have all; otherwise the guild-level
// permissions, then the @everyone overwrite, then the member's role
// overwrites together (denies, then allows), then the member's own.
// (Discord's implicit denials, such as everything without View Channel, are
// not modelled.)
func (s *Server) ChannelPermissions(channelID, userID string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.st.channels[channelID]
	if c == nil {
		return 0
	}
	g := s.st.guilds[c.GuildID]
	if g == nil {
		return 0
	}
	return s.channelPermsLocked(g, channelID, userID)
}

func (s *Server) channelPermsLocked(g *guildState, channelID, userID string) int64 {
	p := g.memberPermsLocked(userID)
	if p == allPermissions {
		return p
	}
	ows := s.st.perms[channelID]
	for _, o := range ows {
		if o.Type == OverwriteRole && o.ID == g.ID {
			p = p&^o.Deny | o.Allow
		}
	}
	var allow, deny int64
	roles := g.members[userID]
	for _, o := range ows {
		if o.Type == OverwriteRole && o.ID != g.ID && contains(roles, o.ID) {
			allow |= o.Allow
			deny |= o.Deny
		}
	}
	p = p&^deny | allow
	for _, o := range ows {
		if o.Type == OverwriteMember && o.ID == userID {
			p = p&^o.Deny | o.Allow
		}
	}
	return p
}

// AddRole creates a role in a guild and dispatches GUILD_ROLE_CREATE.
func (s *Server) AddRole(guildID, name string, perms int64) Role {
	s.mu.Lock()
	r := &Role{ID: s.st.id(), Name: name, Permissions: perms}
	g := s.st.guilds[guildID]
	if g == nil {
		s.mu.Unlock()
		return *r
	}
	g.roles = append(g.roles, r)
	payload := s.roleEventLocked(g, r)
	s.mu.Unlock()
	s.broadcast("GUILD_ROLE_CREATE", guildID, payload, intentGuilds)
	return *r
}

func (s *Server) roleEventLocked(g *guildState, r *Role) map[string]any {
	for _, rj := range s.rolesJSONLocked(g) {
		if rj["id"] == r.ID {
			return map[string]any{"guild_id": g.ID, "role": rj}
		}
	}
	return nil
}

// SetRolePermissions changes a role's permissions (the @everyone role's ID
// is the guild's) and dispatches GUILD_ROLE_UPDATE.
func (s *Server) SetRolePermissions(guildID, roleID string, perms int64) {
	s.mu.Lock()
	g := s.st.guilds[guildID]
	if g == nil {
		s.mu.Unlock()
		return
	}
	var payload map[string]any
	for _, r := range g.roles {
		if r.ID == roleID {
			r.Permissions = perms
			payload = s.roleEventLocked(g, r)
		}
	}
	s.mu.Unlock()
	if payload != nil {
		s.broadcast("GUILD_ROLE_UPDATE", guildID, payload, intentGuilds)
	}
}

// AddMember makes u a member of the guild with the given roles.
func (s *Server) AddMember(guildID string, u User, roleIDs ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if g := s.st.guilds[guildID]; g != nil {
		g.members[u.ID] = append([]string(nil), roleIDs...)
	}
}

// SetVoiceState seats the user in a voice channel ("" disconnects them) and
// dispatches VOICE_STATE_UPDATE to the bot.
func (s *Server) SetVoiceState(guildID, userID, channelID string) {
	s.mu.Lock()
	g := s.st.guilds[guildID]
	if g == nil {
		s.mu.Unlock()
		return
	}
	left := ""
	if old := g.voice[userID]; old != nil && old.channelID != channelID {
		left = old.channelID
	}
	if channelID == "" {
		delete(g.voice, userID)
	} else {
		g.voice[userID] = &voiceState{channelID: channelID, sessionID: randomHex(16)}
	}
	payload := s.voiceStateLocked(g, userID)
	leftHook := s.opts.VoiceLeft
	s.notifyLocked()
	s.mu.Unlock()
	if left != "" && leftHook != nil {
		leftHook(guildID, left, userID)
	}
	s.broadcast("VOICE_STATE_UPDATE", guildID, payload, intentGuildVoiceStates)
}

// VoiceChannel returns the voice channel the user sits in ("" if none); for
// the bot it reflects its op 4 requests.
func (s *Server) VoiceChannel(guildID, userID string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if g := s.st.guilds[guildID]; g != nil {
		if v := g.voice[userID]; v != nil {
			return v.channelID
		}
	}
	return ""
}

// Commands lists the registered commands of a guild ("" for global ones).
func (s *Server) Commands(guildID string) []Command {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Command(nil), s.st.commands[guildID]...)
}

// Overwrites reports how many bulk-overwrite requests the bot made.
func (s *Server) Overwrites() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.st.overwrite
}

// memberPermsLocked computes a member's guild-level permissions.
func (g *guildState) memberPermsLocked(userID string) int64 {
	if userID == g.OwnerID {
		return allPermissions
	}
	var p int64
	roles := g.members[userID]
	for _, r := range g.roles {
		if r.ID == g.ID || contains(roles, r.ID) {
			p |= r.Permissions
		}
	}
	if p&PermAdministrator != 0 {
		return allPermissions
	}
	return p
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

func (s *Server) userJSONLocked(id string) map[string]any {
	u := s.st.users[id]
	m := map[string]any{
		"id": u.ID, "username": u.Username, "discriminator": "0", "global_name": u.Username,
		"avatar": nil, "public_flags": 0, "flags": 0, "primary_guild": nil,
	}
	if u.Bot {
		m["bot"] = true
	}
	return m
}

func (s *Server) memberJSONLocked(g *guildState, userID string) map[string]any {
	roles := g.members[userID]
	if roles == nil {
		roles = []string{}
	}
	return map[string]any{
		"user": s.userJSONLocked(userID), "roles": roles, "nick": nil, "avatar": nil,
		"joined_at": g.created.UTC().Format(time.RFC3339), "deaf": false, "mute": false, "flags": 0,
		"pending": false, "banner": nil, "communication_disabled_until": nil, "premium_since": nil,
	}
}

func (s *Server) channelJSONLocked(c *Channel) map[string]any {
	m := map[string]any{"id": c.ID, "type": c.Type, "name": c.Name, "flags": 0}
	if c.GuildID != "" {
		m["guild_id"] = c.GuildID
		m["position"] = 0
		ows := []map[string]any{}
		for _, o := range s.st.perms[c.ID] {
			ows = append(ows, map[string]any{"id": o.ID, "type": o.Type,
				"allow": strconv.FormatInt(o.Allow, 10), "deny": strconv.FormatInt(o.Deny, 10)})
		}
		m["permission_overwrites"] = ows
		m["nsfw"] = false
		m["parent_id"] = nil
	}
	if c.Type == ChannelVoice {
		m["bitrate"] = cmp.Or(c.Bitrate, 64000)
		m["user_limit"] = 0
		m["rtc_region"] = nil
	}
	return m
}

func (s *Server) rolesJSONLocked(g *guildState) []map[string]any {
	out := make([]map[string]any, 0, len(g.roles))
	for i, r := range g.roles {
		out = append(out, map[string]any{
			"id": r.ID, "name": r.Name, "permissions": strconv.FormatInt(r.Permissions, 10),
			"position": i, "color": 0, "hoist": false, "managed": false, "mentionable": false, "flags": 0,
			"colors": map[string]any{"primary_color": 0, "secondary_color": nil, "tertiary_color": nil},
			"icon":   nil, "unicode_emoji": nil,
		})
	}
	return out
}

func (s *Server) voiceStateLocked(g *guildState, userID string) map[string]any {
	m := map[string]any{
		"guild_id": g.ID, "user_id": userID, "channel_id": nil, "session_id": "",
		"deaf": false, "mute": false, "self_deaf": false, "self_mute": false, "self_video": false,
		"self_stream": false, "suppress": false, "request_to_speak_timestamp": nil, "member": s.memberJSONLocked(g, userID),
	}
	if v := g.voice[userID]; v != nil {
		m["channel_id"] = v.channelID
		m["session_id"] = v.sessionID
		m["self_deaf"] = v.selfDeaf
		m["self_mute"] = v.selfMute
		m["mute"], m["deaf"] = v.mute, v.deaf
	}
	return m
}

func (s *Server) guildJSONLocked(g *guildState) map[string]any {
	return map[string]any{
		"id": g.ID, "name": g.Name, "owner_id": g.OwnerID, "icon": nil, "roles": s.rolesJSONLocked(g),
		"emojis": []any{}, "features": []string{}, "preferred_locale": "en-US", "verification_level": 0,
		"default_message_notifications": 0, "explicit_content_filter": 0, "mfa_level": 0,
		"system_channel_id": nil, "premium_tier": 0, "nsfw_level": 0, "stickers": []any{},
		"description": nil, "home_header": nil, "splash": nil, "discovery_splash": nil, "banner": nil,
		"application_id": nil, "region": "deprecated", "afk_channel_id": nil, "afk_timeout": 300,
		"system_channel_flags": 0, "widget_enabled": false, "widget_channel_id": nil, "max_presences": nil,
		"max_members": 25000000, "max_stage_video_channel_users": 50, "max_video_channel_users": 25,
		"vanity_url_code": nil, "premium_subscription_count": 0, "rules_channel_id": nil,
		"safety_alerts_channel_id": nil, "public_updates_channel_id": nil, "premium_progress_bar_enabled": false,
		"nsfw": false, "incidents_data": nil,
	}
}

func (s *Server) guildCreateLocked(g *guildState) map[string]any {
	m := s.guildJSONLocked(g)
	chans := []map[string]any{}
	for _, id := range g.channels {
		chans = append(chans, s.channelJSONLocked(s.st.channels[id]))
	}
	members := []map[string]any{}
	ids := make([]string, 0, len(g.members))
	for id := range g.members {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		members = append(members, s.memberJSONLocked(g, id))
	}
	voice := []map[string]any{}
	for id := range g.voice {
		vs := s.voiceStateLocked(g, id)
		delete(vs, "guild_id")
		delete(vs, "member")
		voice = append(voice, vs)
	}
	m["channels"] = chans
	m["threads"] = []any{}
	m["members"] = members
	m["member_count"] = len(members)
	m["voice_states"] = voice
	m["presences"] = []any{}
	m["large"] = false
	m["unavailable"] = false
	m["joined_at"] = g.created.UTC().Format(time.RFC3339)
	m["stage_instances"] = []any{}
	m["guild_scheduled_events"] = []any{}
	return m
}

// dmChannelLocked returns (creating it) the DM channel between the bot and u.
func (s *Server) dmChannelLocked(userID string) *Channel {
	if id, ok := s.st.dms[userID]; ok {
		return s.st.channels[id]
	}
	c := &Channel{ID: s.st.id(), Type: ChannelDM, Name: ""}
	s.st.channels[c.ID] = c
	s.st.dms[userID] = c.ID
	return c
}

func (s *Server) findCommandLocked(guildID, name string) (Command, bool) {
	scopes := []string{""}
	if guildID != "" {
		scopes = []string{guildID, ""}
	}
	for _, scope := range scopes {
		for _, c := range s.st.commands[scope] {
			if c.Name == name {
				return c, true
			}
		}
	}
	return Command{}, false
}

func (c commandDef) option(name string) (optionDef, error) {
	for _, o := range c.Options {
		if o.Name == name {
			return o, nil
		}
	}
	return optionDef{}, fmt.Errorf("command %q has no option %q", c.Name, name)
}

// WaitCommand waits until a command named name is registered in the guild
// ("" for global).
func (s *Server) WaitCommand(ctx context.Context, guildID, name string) error {
	return s.waitFor(ctx, func() bool {
		for _, c := range s.st.commands[guildID] {
			if c.Name == name {
				return true
			}
		}
		return false
	})
}

// WaitVoiceChannel waits until the user sits in channelID ("" : in none).
func (s *Server) WaitVoiceChannel(ctx context.Context, guildID, userID, channelID string) error {
	return s.waitFor(ctx, func() bool {
		g := s.st.guilds[guildID]
		if g == nil {
			return false
		}
		v := g.voice[userID]
		return (v == nil && channelID == "") || (v != nil && v.channelID == channelID)
	})
}
