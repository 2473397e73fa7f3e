package voice

import (
	"context"
	"errors"
	"fmt"

	"github.com/bwmarrin/discordgo"
)

// Op4 returns a ChannelConfig.SendOp4 that writes op 4 through discordgo's
// main gateway for guildID, self-deafened while in a channel (for a bot
// that only speaks: Discord sends no audio to a self-deafened client).
// The Manual variant only writes op 4: discordgo's own (outdated) voice
// code stays idle because no VoiceConnection is registered. discordgo
// writes to its socket without a nil check, which panics while it
// reconnects; that becomes an error here.
func Op4(s *discordgo.Session, guildID string) func(channelID string) error {
	return op4(s, guildID, true)
}

// Op4Hearing is Op4 without self-deafening, for a bot that listens
// (Channel.Listen): a self-deafened client is sent no audio at all.
func Op4Hearing(s *discordgo.Session, guildID string) func(channelID string) error {
	return op4(s, guildID, false)
}

func op4(s *discordgo.Session, guildID string, deaf bool) func(channelID string) error {
	return func(channelID string) (err error) {
		defer func() {
			if r := recover(); r != nil {
				err = errors.New("voice: the gateway is reconnecting")
			}
		}()
		return s.ChannelVoiceJoinManual(guildID, channelID, false, deaf && channelID != "")
	}
}

// Follow feeds ch with the bot's VOICE_STATE_UPDATE and the guild's
// VOICE_SERVER_UPDATE from discordgo's handlers; the returned func removes
// them. (A program that routes raw events itself calls StateUpdate and
// ServerUpdate instead.)
func Follow(s *discordgo.Session, ch *Channel) (remove func()) {
	r1 := s.AddHandler(func(_ *discordgo.Session, e *discordgo.VoiceStateUpdate) {
		if e.VoiceState != nil && e.UserID == ch.cfg.UserID && e.GuildID == ch.cfg.GuildID {
			ch.StateUpdate(e.ChannelID, e.SessionID)
		}
	})
	r2 := s.AddHandler(func(_ *discordgo.Session, e *discordgo.VoiceServerUpdate) {
		if e.GuildID == ch.cfg.GuildID {
			ch.ServerUpdate(e.Endpoint, e.Token)
		}
	})
	return func() { r1(); r2() }
}

// Join joins channelID of guildID through an open discordgo session: a
// Channel with Op4 (Op4Hearing with cfg.Hearing) and Follow, connected.
// cfg supplies the optional fields (TLS, DAVE opt-out, hooks); GuildID,
// UserID and SendOp4 are filled in.
// Close the Channel to leave and unhook it.
func Join(ctx context.Context, s *discordgo.Session, guildID, channelID string, cfg ChannelConfig) (*Channel, error) {
	if s.State == nil || s.State.User == nil {
		return nil, errors.New("voice: join: the session is not open (no READY yet)")
	}
	cfg.GuildID, cfg.UserID, cfg.SendOp4 = guildID, s.State.User.ID, Op4(s, guildID)
	if cfg.Hearing {
		cfg.SendOp4 = Op4Hearing(s, guildID)
	}
	ch := NewChannel(cfg)
	remove := Follow(s, ch)
	context.AfterFunc(ch.ctx, remove)
	if err := ch.Join(ctx, channelID, 0); err != nil {
		ch.Close()
		return nil, fmt.Errorf("voice: join: %w", err)
	}
	return ch, nil
}
