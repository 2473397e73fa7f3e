package voice_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/bwmarrin/discordgo"
	"github.com/livecord/livecord/discordtest"
	"github.com/livecord/livecord/voice"
	"github.com/livecord/livecord/voice/voicetest"
)

// discord starts the Discord emulator with its voice events pointing at vs,
// and a discordgo session connected to it.
func discord(t *testing.T, vs *voicetest.Server) (*discordtest.Server, *discordgo.Session, string, string) {
	t.Helper()
	dc := discordtest.NewServer(t, discordtest.Options{
		AllowV9: true, // a bare discordgo session speaks v9
		VoiceServer: func(guildID, channelID, userID, sessionID string) (string, string) {
			g := vs.Grant(guildID, channelID, userID, sessionID)
			return g.Endpoint, g.Token
		},
	})
	g := dc.AddGuild("voice")
	vc := dc.AddChannel(g.ID, "Voice", discordtest.ChannelVoice)
	s, err := discordgo.New("Bot " + dc.Token())
	if err != nil {
		t.Fatal(err)
	}
	s.Client = dc.HTTPClient()
	if err := s.Open(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return dc, s, g.ID, vc.ID
}

func TestJoinThroughMainGatewayAndRejoinOn4006(t *testing.T) {
	vs := voicetest.NewServer(t)
	dc, s, guild, channel := discord(t, vs)
	ctx := testCtx(t, 20*time.Second)
	c, err := voice.Join(ctx, s, guild, channel, voice.Config{TLSConfig: vs.ClientTLS()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	bot := s.State.User.ID
	if got := dc.VoiceChannel(guild, bot); got != channel {
		t.Fatalf("bot is in %q, want %q", got, channel)
	}
	if err := c.SetSpeaking(ctx, true); err != nil {
		t.Fatal(err)
	}
	if err := c.WriteOpus(opusLike(1)); err != nil {
		t.Fatal(err)
	}
	if _, err := vs.WaitFrames(ctx, bot, func(f []voicetest.Frame) bool { return len(f) == 1 }); err != nil {
		t.Fatal(err)
	}
	// 4006: the session is gone; the Conn asks the main gateway again (op 4)
	// and identifies with the fresh token.
	old := c.SSRC()
	if err := vs.ForceClose(bot, 4006); err != nil {
		t.Fatal(err)
	}
	for c.WriteOpus(opusLike(2)) != nil || c.SSRC() == old {
		if ctx.Err() != nil {
			t.Fatal("no new session after 4006")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := vs.WaitFrames(ctx, bot, func(f []voicetest.Frame) bool { return f[len(f)-1].SSRC == c.SSRC() }); err != nil {
		t.Fatal(err)
	}
	// Leaving through the main gateway: the voice server closes with 4014.
	if err := voice.Leave(s, guild); err != nil {
		t.Fatal(err)
	}
	vs.Disconnect(guild, bot)
	<-c.Done()
	var ce *voice.CloseError
	if !errors.As(c.Err(), &ce) || ce.Code != 4014 {
		t.Fatalf("err %v, want 4014", c.Err())
	}
}

func TestJoinTimesOutWithoutVoiceServer(t *testing.T) {
	vs := voicetest.NewServer(t)
	dc, s, guild, channel := discord(t, vs)
	dc.SetVoiceServer(func(guildID, channelID, userID, sessionID string) (string, string) {
		return "", "" // endpoint null: the voice server is going away; wait
	})
	ctx := testCtx(t, 500*time.Millisecond)
	_, err := voice.Join(ctx, s, guild, channel, voice.Config{TLSConfig: vs.ClientTLS()})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err %v, want a join deadline", err)
	}
}
