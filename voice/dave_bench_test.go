package voice_test

import (
	"context"
	"testing"
	"time"

	"github.com/livecord/livecord/voice/internal/wire"

	"github.com/livecord/livecord/voice"
	"github.com/livecord/livecord/voice/voicetest"
	"github.com/pion/rtp"
)

// daveGroup connects the bot and a user to a DAVE call on the emulator and
// returns their DAVE layers once both send under the group key.
func daveGroup(b *testing.B) (bot, user *voice.DAVE) {
	es := voicetest.NewExternalSender()
	srv := voicetest.NewServer(b, voicetest.Options{DAVE: es})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var ds []*voice.DAVE
	for _, u := range []string{botID, userID} {
		d, err := voice.NewDAVE(snowflake(b, u), snowflake(b, channelID), nil)
		if err != nil {
			b.Fatal(err)
		}
		c, err := voice.Dial(ctx, voice.Config{Server: srv.Grant(guildID, channelID, u, "sess-"+u), UserID: u,
			GuildID: guildID, ChannelID: channelID, TLSConfig: srv.ClientTLS(), E2EE: d})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { c.Close() })
		ds = append(ds, d)
	}
	for _, d := range ds {
		if err := d.WaitReady(ctx); err != nil {
			b.Fatal(err)
		}
	}
	return ds[0], ds[1]
}

// BenchmarkDAVEPacket is DAVE's per-packet cost on the voice path for a
// 160-byte Opus frame (64 kb/s speech): the bot's EncryptOpus and a
// member's DecryptOpus, beside the transport AEAD's Seal for the same frame
// as the reference measured in the same run.
//
//	go test -run '^$' -bench DAVEPacket -benchmem ./voice/
func BenchmarkDAVEPacket(b *testing.B) {
	opus := make([]byte, 160)
	for i := range opus {
		opus[i] = byte(i*7 + 1)
	}
	b.Run("transport-seal-aes256gcm", func(b *testing.B) {
		c, _ := wire.NewCipher(wire.ModeAES256GCM, testKey())
		h := rtp.Header{Version: 2, PayloadType: wire.PayloadTypeOpus, SSRC: 1}
		buf := make([]byte, 0, 256)
		b.ReportAllocs()
		var n uint32
		for b.Loop() {
			n++
			h.SequenceNumber++
			buf, _ = c.Seal(buf[:0], &h, opus, n)
		}
	})
	// A fresh group per run: a long run would otherwise reach nonces of a
	// later key generation, which receivers refuse until that key is due.
	b.Run("encrypt", func(b *testing.B) {
		bot, _ := daveGroup(b)
		buf := make([]byte, 0, 256)
		b.ReportAllocs()
		for b.Loop() {
			var err error
			if buf, err = bot.EncryptOpus(buf[:0], opus); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("decrypt", func(b *testing.B) {
		// Every frame decrypts once (replays are refused): encrypt a batch
		// outside the timer, then decrypt it.
		bot, user := daveGroup(b)
		const batch = 4096
		frames := make([][]byte, batch)
		out := make([]byte, 0, 256)
		b.ReportAllocs()
		b.StopTimer()
		for done := 0; done < b.N; {
			n := min(batch, b.N-done)
			for i := range n {
				f, err := bot.EncryptOpus(frames[i][:0], opus)
				if err != nil {
					b.Fatal(err)
				}
				frames[i] = f
			}
			b.StartTimer()
			for i := range n {
				var err error
				if out, err = user.DecryptOpus(out[:0], botID, frames[i]); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			done += n
		}
	})
}
