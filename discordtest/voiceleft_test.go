package discordtest_test

import (
	"context"
	"testing"
	"time"

	"github.com/livecord/livecord/discordtest"
)

// TestVoiceLeftHook: the hook hears every departure from a voice channel,
// the bot's moves and leaves by op 4 and users' by SetVoiceState, but not a
// join or a repeated join of the same channel.
func TestVoiceLeftHook(t *testing.T) {
	type left struct{ guild, channel, user string }
	got := make(chan left, 8)
	w := newWorld(t, discordtest.Options{VoiceLeft: func(g, c, u string) { got <- left{g, c, u} }}, nil)
	a := w.srv.AddChannel(w.guild.ID, "A", discordtest.ChannelVoice)
	b := w.srv.AddChannel(w.guild.ID, "B", discordtest.ChannelVoice)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	bot := w.srv.BotUser().ID
	expect := func(want left) {
		t.Helper()
		select {
		case l := <-got:
			if l != want {
				t.Fatalf("left %+v, want %+v", l, want)
			}
		case <-ctx.Done():
			t.Fatalf("no VoiceLeft for %+v", want)
		}
	}
	join := func(ch string) {
		t.Helper()
		if err := w.dg.ChannelVoiceJoinManual(w.guild.ID, ch, false, true); err != nil {
			t.Fatal(err)
		}
		if err := w.srv.WaitVoiceChannel(ctx, w.guild.ID, bot, ch); err != nil {
			t.Fatal(err)
		}
	}
	join(a.ID)
	join(a.ID) // the same channel again: no departure
	join(b.ID)
	expect(left{w.guild.ID, a.ID, bot})
	join("")
	expect(left{w.guild.ID, b.ID, bot})

	w.srv.SetVoiceState(w.guild.ID, w.alice.ID, a.ID)
	w.srv.SetVoiceState(w.guild.ID, w.alice.ID, "")
	expect(left{w.guild.ID, a.ID, w.alice.ID})
	select {
	case l := <-got:
		t.Fatalf("unexpected departure %+v", l)
	default:
	}
}
