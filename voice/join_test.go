package voice_test

import (
	"context"
	"errors"
	"slices"
	"sync"
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
		AllowV9:     true, // a bare discordgo session speaks v9
		VoiceServer: vs.VoiceServer,
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
	vs := voicetest.NewServer(t, voicetest.Options{})
	dc, s, guild, channel := discord(t, vs)
	ctx := testCtx(t, 20*time.Second)
	ch, err := voice.Join(ctx, s, guild, channel, voice.ChannelConfig{TLSConfig: vs.ClientTLS(), NoDAVE: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ch.Close()
	c := voice.ChannelConn(ch)
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
	// Disconnected by Discord: the voice server closes with 4014 and the
	// Channel forgets the connection.
	vs.Disconnect(guild, bot)
	<-c.Done()
	var ce *voice.CloseError
	if !errors.As(c.Err(), &ce) || ce.Code != 4014 {
		t.Fatalf("err %v, want 4014", c.Err())
	}
	for ch.ChannelID() != "" {
		if ctx.Err() != nil {
			t.Fatal("the Channel kept a connection that ended with 4014")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Joining again, then leaving through the main gateway.
	if err := ch.Join(ctx, channel, 0); err != nil {
		t.Fatal(err)
	}
	if !ch.Leave() {
		t.Fatal("Leave: not connected")
	}
	if err := dc.WaitVoiceChannel(ctx, guild, bot, ""); err != nil {
		t.Fatalf("still in a voice channel after Leave: %v", err)
	}
}

func TestJoinTimesOutWithoutVoiceServer(t *testing.T) {
	vs := voicetest.NewServer(t, voicetest.Options{})
	dc, s, guild, channel := discord(t, vs)
	dc.SetVoiceServer(func(guildID, channelID, userID, sessionID string) (string, string) {
		return "", "" // endpoint null: the voice server is going away; wait
	})
	ctx := testCtx(t, 500*time.Millisecond)
	_, err := voice.Join(ctx, s, guild, channel, voice.ChannelConfig{TLSConfig: vs.ClientTLS(), NoDAVE: true})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err %v, want a join deadline", err)
	}
}

// TestChannelLeavesWhenIdleOrAlone: a Channel leaves after IdleTimeout
// without speech (not during it), and when told its channel is empty, but
// not for another channel's emptiness; Hooks see each join and leave.
func TestChannelLeavesWhenIdleOrAlone(t *testing.T) {
	vs := voicetest.NewServer(t, voicetest.Options{})
	dc, s, guild, channel := discord(t, vs)
	ctx := testCtx(t, 20*time.Second)
	bot := s.State.User.ID
	var mu sync.Mutex
	var events []string
	note := func(e string) {
		mu.Lock()
		events = append(events, e)
		mu.Unlock()
	}
	const idle = 300 * time.Millisecond
	ch, err := voice.Join(ctx, s, guild, channel, voice.ChannelConfig{TLSConfig: vs.ClientTLS(), NoDAVE: true,
		IdleTimeout: idle, Hooks: voice.Hooks{
			Joined: func(string) { note("joined") },
			Left:   func(_, why string) { note("left " + why) },
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer ch.Close()

	// A Speech longer than the idle timeout keeps the bot in the channel.
	sp, err := ch.Speak(ctx, channel, 0)
	if err != nil {
		t.Fatal(err)
	}
	pcm := make([]byte, 2*24000) // 1 s of 24 kHz PCM16LE
	start := time.Now()
	if err := sp.Write(pcm); err != nil {
		t.Fatal(err)
	}
	if err := sp.End(ctx); err != nil {
		t.Fatal(err)
	}
	if played := time.Since(start); played < 2*idle || ch.ChannelID() != channel {
		t.Fatalf("after %v of speech the channel is %q, want %q (speech outlasting the idle timeout)", played, ch.ChannelID(), channel)
	}
	ended := time.Now()
	if err := dc.WaitVoiceChannel(ctx, guild, bot, ""); err != nil {
		t.Fatalf("no idle leave: %v", err)
	}
	// The timer restarts inside End, just before ended is read: allow that
	// gap, not a leave that ignored the timeout.
	if after := time.Since(ended); after < idle*9/10 {
		t.Fatalf("left %v after the speech ended, before the idle timeout %v", after, idle)
	}

	// Alone: another channel's emptiness is ignored, its own is not.
	if err := ch.Join(ctx, channel, 0); err != nil {
		t.Fatal(err)
	}
	if ch.Listeners("some-other-channel", 0) || ch.Listeners(channel, 2) {
		t.Fatal("left for another channel's emptiness, or with people present")
	}
	if !ch.Listeners(channel, 0) {
		t.Fatal("stayed in an empty channel")
	}
	if err := dc.WaitVoiceChannel(ctx, guild, bot, ""); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if want := []string{"joined", "left idle", "joined", "left alone"}; !slices.Equal(events, want) {
		t.Fatalf("hooks saw %v, want %v", events, want)
	}
}
