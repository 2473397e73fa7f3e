package bot

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/bwmarrin/discordgo"

	"github.com/livecord/livecord/voice"
)

// VoiceConfig turns on spoken replies (Config.Voice).
type VoiceConfig struct {
	// TLSConfig dials the voice gateway (nil: system roots; tests trust the
	// voice emulator's CA).
	TLSConfig *tls.Config
	// NoDAVE joins without end-to-end encryption: only for tests (DAVE is
	// the default, and Discord requires it in voice channels).
	NoDAVE bool
	// Bitrate of the Opus encoder when the voice channel's is unknown
	// (default: 64 kbit/s). The channel's own bitrate wins.
	Bitrate int
	// Logger receives the voice package's logs.
	Logger *slog.Logger
}

// voiceChannels holds one voice.Channel per guild the bot has joined; the
// Channel owns everything about the connection.
type voiceChannels struct {
	mu sync.Mutex
	m  map[string]*voice.Channel
}

// channel returns the guild's Channel, creating it when create is set.
func (b *Bot) channel(guildID string, create bool) *voice.Channel {
	b.voice.mu.Lock()
	defer b.voice.mu.Unlock()
	ch := b.voice.m[guildID]
	if ch != nil || !create {
		return ch
	}
	vc := b.cfg.Voice
	ch = voice.NewChannel(voice.ChannelConfig{
		GuildID: guildID, UserID: b.botUserID(), SendOp4: voice.Op4(b.dg, guildID),
		TLSConfig: vc.TLSConfig, NoDAVE: vc.NoDAVE, Bitrate: vc.Bitrate,
		IdleTimeout: max(b.cfg.VoiceIdleTimeout, 0), Logger: vc.Logger,
		Hooks: voice.Hooks{
			FirstPacket: b.met.firstPacket,
			Joined: func(channelID string) {
				b.met.voiceConnections(1)
				b.log.Info("joined voice", "guild", guildID, "channel", channelID)
			},
			Left: func(channelID, why string) {
				b.met.voiceConnections(-1)
				b.log.Info("left voice: "+why, "guild", guildID, "channel", channelID)
			},
		},
	})
	if b.voice.m == nil {
		b.voice.m = map[string]*voice.Channel{}
	}
	b.voice.m[guildID] = ch
	return ch
}

// speak returns a Speech in channelID, joining (or moving) first when needed.
func (b *Bot) speak(ctx context.Context, guildID, channelID string) (*voice.Speech, error) {
	if b.cfg.Voice == nil {
		return nil, errors.New("voice: no voice configured")
	}
	ch := b.channel(guildID, true)
	if ch.ChannelID() != channelID {
		if err := b.voicePermissions(channelID); err != nil {
			return nil, err
		}
	}
	return ch.Speak(ctx, channelID, b.channelBitrate(channelID))
}

// join connects to channelID (see speak).
func (b *Bot) join(ctx context.Context, guildID, channelID string) error {
	if err := b.voicePermissions(channelID); err != nil {
		return err
	}
	return b.channel(guildID, true).Join(ctx, channelID, b.channelBitrate(channelID))
}

// channelBitrate is what the channel's listeners are set up for (0: unknown).
func (b *Bot) channelBitrate(channelID string) int {
	if ch, err := b.dg.State.Channel(channelID); err == nil {
		return ch.Bitrate
	}
	return 0
}

// leave disconnects from the guild's voice channel; it reports whether the
// bot was connected.
func (b *Bot) leave(guildID string) bool {
	ch := b.channel(guildID, false)
	return ch != nil && ch.Leave()
}

func (b *Bot) leaveAllVoice() {
	b.voice.mu.Lock()
	chs := make([]*voice.Channel, 0, len(b.voice.m))
	for _, ch := range b.voice.m {
		chs = append(chs, ch)
	}
	b.voice.mu.Unlock()
	for _, ch := range chs {
		_ = ch.Close()
	}
}

// voiceStateEvent is the part of VOICE_STATE_UPDATE the bot reads.
type voiceStateEvent struct {
	GuildID   string  `json:"guild_id"`
	UserID    string  `json:"user_id"`
	ChannelID *string `json:"channel_id"`
	SessionID string  `json:"session_id"`
}

// voiceServerEvent is VOICE_SERVER_UPDATE; a null endpoint means the voice
// server is going away.
type voiceServerEvent struct {
	GuildID  string  `json:"guild_id"`
	Token    string  `json:"token"`
	Endpoint *string `json:"endpoint"`
}

// onVoiceState hands the bot's own voice state to its Channel, and leaves
// a channel whose last listener left.
func (b *Bot) onVoiceState(raw json.RawMessage) {
	var e voiceStateEvent
	if json.Unmarshal(raw, &e) != nil || e.GuildID == "" {
		return
	}
	ch := b.channel(e.GuildID, false)
	if ch == nil {
		return
	}
	if e.UserID == b.botUserID() {
		var channelID string
		if e.ChannelID != nil {
			channelID = *e.ChannelID
		}
		ch.StateUpdate(channelID, e.SessionID)
		return
	}
	b.leaveIfAlone(ch, e.GuildID)
}

// onVoiceServer hands VOICE_SERVER_UPDATE to the guild's Channel.
func (b *Bot) onVoiceServer(raw json.RawMessage) {
	var e voiceServerEvent
	if json.Unmarshal(raw, &e) != nil {
		return
	}
	if ch := b.channel(e.GuildID, false); ch != nil {
		var endpoint string
		if e.Endpoint != nil {
			endpoint = *e.Endpoint
		}
		ch.ServerUpdate(endpoint, e.Token)
	}
}

// leaveIfAlone counts the people (bots aside) left in the bot's channel
// and tells the Channel. discordgo has already applied the event to its
// state cache when the raw event reaches us.
func (b *Bot) leaveIfAlone(ch *voice.Channel, guildID string) {
	in := ch.ChannelID()
	if in == "" {
		return
	}
	g, err := b.dg.State.Guild(guildID)
	if err != nil {
		return
	}
	b.dg.State.RLock()
	people := 0
	for _, vs := range g.VoiceStates {
		bot := vs.UserID == b.botUserID() || (vs.Member != nil && vs.Member.User != nil && vs.Member.User.Bot)
		if vs.ChannelID == in && !bot {
			people++
		}
	}
	b.dg.State.RUnlock()
	ch.Listeners(in, people) // logged by the Left hook as "left voice: alone"
}

// voicePermError: the bot may not see, connect to or speak in the channel
// (checked before asking the gateway, which would stay silent). Missing
// names the permissions in Discord's words, for the message to the user.
type voicePermError struct{ missing []string }

func (e *voicePermError) Error() string {
	return "voice: missing permission " + strings.Join(e.missing, ", ")
}

// names is "**Connect**" or "**Connect** and **Speak**".
func (e *voicePermError) names() string {
	b := make([]string, len(e.missing))
	for i, m := range e.missing {
		b[i] = "**" + m + "**"
	}
	if len(b) == 1 {
		return b[0]
	}
	return strings.Join(b[:len(b)-1], ", ") + " and " + b[len(b)-1]
}

// voicePermissions lists what the bot lacks of View Channel, Connect and
// Speak in a channel (nil: nothing, or the cache cannot tell).
func (b *Bot) voicePermissions(channelID string) error {
	perms, err := b.dg.State.UserChannelPermissions(b.botUserID(), channelID)
	if err != nil {
		return nil // not cached: let the gateway decide
	}
	var missing []string
	for _, p := range []struct {
		bit  int64
		name string
	}{{discordgo.PermissionViewChannel, "View Channel"}, {discordgo.PermissionVoiceConnect, "Connect"}, {discordgo.PermissionVoiceSpeak, "Speak"}} {
		if perms&p.bit == 0 {
			missing = append(missing, p.name)
		}
	}
	if missing == nil {
		return nil
	}
	return &voicePermError{missing: missing}
}

// userVoiceChannel finds the user's voice channel from the gateway state
// cache, then from REST.
func (b *Bot) userVoiceChannel(guildID, userID string) string {
	// The cache is authoritative once the guild is in it (GUILD_CREATE
	// carries voice states, VOICE_STATE_UPDATE keeps them).
	// (State.VoiceState reads the list without the state lock: iterate here.)
	if g, err := b.dg.State.Guild(guildID); err == nil {
		b.dg.State.RLock()
		defer b.dg.State.RUnlock()
		for _, vs := range g.VoiceStates {
			if vs.UserID == userID {
				return vs.ChannelID
			}
		}
		return ""
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	// GET /guilds/{guild}/voice-states/{user} (discordgo v0.29.0 has no
	// wrapper for it).
	uri := discordgo.EndpointGuilds + guildID + "/voice-states/" + userID
	body, err := b.dg.RequestWithBucketID("GET", uri, nil, discordgo.EndpointGuilds+guildID+"/voice-states", discordgo.WithContext(ctx))
	if err != nil {
		return ""
	}
	var vs struct {
		ChannelID string `json:"channel_id"`
	}
	_ = json.Unmarshal(body, &vs)
	return vs.ChannelID
}

func (b *Bot) onJoin(ia *interaction, log *slog.Logger) {
	if b.cfg.Voice == nil {
		b.respond(ia, "🔇 Voice isn't set up on this bot: /ask answers come as text and a WAV file.", true)
		return
	}
	ch := b.userVoiceChannel(ia.GuildID, userOf(ia.Interaction).ID)
	if ch == "" {
		b.respond(ia, "🎧 Join a voice channel first, then run /join again.", true)
		return
	}
	if err := b.deferReply(ia, true); err != nil {
		log.Warn("could not acknowledge /join", "err", err)
		return
	}
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	msg := fmt.Sprintf("🔊 Joined <#%s>. Answers to /ask will be spoken here.", ch)
	var perm *voicePermError
	if err := b.join(ctx, ia.GuildID, ch); errors.As(err, &perm) {
		msg = fmt.Sprintf("🔒 I can't join <#%s>: I'm missing the %s permission there. Ask an admin to give me View Channel, Connect and Speak in that channel.", ch, perm.names())
	} else if err != nil {
		log.Warn("join failed", "err", err)
		msg = "⚠️ I couldn't join your voice channel. Please try again in a moment."
	}
	if err := b.edit(ia, msg); err != nil {
		log.Warn("could not report /join", "err", err)
	}
}

func (b *Bot) onLeave(ia *interaction, _ *slog.Logger) {
	if b.leave(ia.GuildID) {
		b.respond(ia, "👋 Left the voice channel.", true)
		return
	}
	b.respond(ia, "I'm not in a voice channel here.", true)
}
