package bot

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/bwmarrin/discordgo"
)

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

// onLeave: only someone listening in the bot's channel, or with Move
// Members there, may make it leave. The leave follows the acknowledgement
// (a refused replay leaves nothing) and the answer follows the leave.
func (b *Bot) onLeave(ia *interaction, log *slog.Logger) {
	in := ""
	if ch := b.channel(ia.GuildID, false); ch != nil {
		if in = ch.ChannelID(); in == "" {
			// Still joining: the gateway already says where (Leave waits
			// for the join, then leaves).
			in = b.userVoiceChannel(ia.GuildID, b.botUserID())
		}
	}
	if in == "" {
		b.respond(ia, "I'm not in a voice channel here.", true)
		return
	}
	mover := ia.Member != nil && ia.Member.Permissions&(discordgo.PermissionVoiceMoveMembers|discordgo.PermissionAdministrator) != 0
	if !mover && b.userVoiceChannel(ia.GuildID, userOf(ia.Interaction).ID) != in {
		log.Info("leave refused: caller not in the bot's channel")
		b.respond(ia, fmt.Sprintf("🔒 Only someone in <#%s> (or with the **Move Members** permission) can make me leave.", in), true)
		return
	}
	if err := b.deferReply(ia, true); err != nil {
		log.Warn("could not acknowledge /leave; staying", "err", err)
		return
	}
	b.stopTalk(ia.GuildID, "/leave")
	msg := "👋 Left the voice channel."
	if !b.leave(ia.GuildID) {
		msg = "I'm not in a voice channel here."
	}
	if err := b.edit(ia, msg); err != nil {
		log.Warn("could not report /leave", "err", err)
	}
}
