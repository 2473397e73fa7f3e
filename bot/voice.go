package bot

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"log/slog"
	"sync"
	"time"

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
	// OpusComplexity is the Opus encoder's complexity, 1–10 (0: the
	// player's measured default, 5).
	OpusComplexity int
	// Logger receives the voice package's logs.
	Logger *slog.Logger
}

// voiceChannels holds one voice.Channel per guild the bot has joined; the
// Channel owns everything about the connection.
type voiceChannels struct {
	mu sync.Mutex
	m  map[string]*voice.Channel
	// hearing: guilds whose op 4 joins undeafened (a talk listens there;
	// Discord sends a self-deafened client no audio). deaf: the guilds
	// whose last op 4 asked to be deafened.
	hearing, deaf map[string]bool
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
		GuildID: guildID, UserID: b.botUserID(), SendOp4: b.sendOp4(guildID),
		TLSConfig: vc.TLSConfig, NoDAVE: vc.NoDAVE, Bitrate: vc.Bitrate, OpusComplexity: vc.OpusComplexity,
		IdleTimeout: max(b.cfg.VoiceIdleTimeout, 0), Logger: vc.Logger,
		Hooks: voice.Hooks{
			FirstPacket: func(d time.Duration) {
				b.met.firstPacket(d)
				if t := b.talkOf(guildID); t != nil {
					t.firstPacket(d)
				}
			},
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
	defer b.onTalkVoiceState(raw)
	ch := b.channel(e.GuildID, false)
	if ch == nil {
		return
	}
	if e.UserID == b.botUserID() {
		ch.StateUpdate(deref(e.ChannelID), e.SessionID)
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
		ch.ServerUpdate(deref(e.Endpoint), e.Token)
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
	people, ok := b.people(guildID, in)
	if !ok {
		return
	}
	ch.Listeners(in, people) // logged by the Left hook as "left voice: alone"
}

// people counts the people (bots aside) in a voice channel from the state
// cache; ok is false when the guild is not cached.
func (b *Bot) people(guildID, channelID string) (n int, ok bool) {
	g, err := b.dg.State.Guild(guildID)
	if err != nil {
		return 0, false
	}
	b.dg.State.RLock()
	defer b.dg.State.RUnlock()
	for _, vs := range g.VoiceStates {
		bot := vs.UserID == b.botUserID() || (vs.Member != nil && vs.Member.User != nil && vs.Member.User.Bot)
		if vs.ChannelID == channelID && !bot {
			n++
		}
	}
	return n, true
}

// deref reads a nullable JSON string: null is "" (no channel; no endpoint
// yet).
func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
