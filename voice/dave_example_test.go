package voice_test

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/livecord/livecord/voice"
	"github.com/livecord/livecord/voice/voicetest"
)

// ExampleNewDAVE joins a DAVE call (the emulator playing Discord's external
// sender) as the bot and a listener; once the MLS group has formed, what the
// bot sends crosses the voice server as a DAVE frame and the listener's
// DAVE layer decrypts it.
func ExampleNewDAVE() {
	srv, err := voicetest.New(voicetest.Options{DAVE: voicetest.NewExternalSender(), RequireDAVE: true})
	if err != nil {
		panic(err)
	}
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	join := func(user uint64) (*voice.Conn, *voice.DAVE) {
		d, err := voice.NewDAVE(user, 2, nil) // the bot's (or listener's) user ID, the channel ID
		if err != nil {
			panic(err)
		}
		id := fmt.Sprint(user)
		c, err := voice.Dial(ctx, voice.Config{Server: srv.Grant("1", "2", id, "s"+id), UserID: id,
			GuildID: "1", ChannelID: "2", TLSConfig: srv.ClientTLS(), E2EE: d})
		if err != nil {
			panic(err)
		}
		return c, d
	}
	bot, bd := join(3)
	defer bot.Close()
	listener, ld := join(4)
	defer listener.Close()
	if bd.WaitReady(ctx) != nil || ld.WaitReady(ctx) != nil {
		panic("no group")
	}
	epoch, _ := bd.Epoch()
	fmt.Println("group epoch", epoch, "protocol version", bd.ProtocolVersion())

	bot.SetSpeaking(ctx, true)
	bot.WriteOpus([]byte("an opus frame"))
	fs, _ := srv.WaitFrames(ctx, "3", func(f []voicetest.Frame) bool { return len(f) == 1 })
	fmt.Println("server sees a DAVE frame:", bytes.HasSuffix(fs[0].Payload, []byte{0xfa, 0xfa}))
	f, _ := listener.ReadFrame(ctx)
	fmt.Printf("listener hears %q from %s\n", f.Opus, f.UserID)
	// Output:
	// group epoch 1 protocol version 1
	// server sees a DAVE frame: true
	// listener hears "an opus frame" from 3
}
