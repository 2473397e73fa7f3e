package voice_test

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/livecord/livecord/voice/player"

	"github.com/livecord/livecord/voice"
	"github.com/livecord/livecord/voice/voicetest"
)

// Example speaks half a second of a 24 kHz tone into a voice channel (here
// the in-process voice emulator) and shows what the voice server received.
func Example() {
	srv, err := voicetest.New(voicetest.Options{})
	if err != nil {
		panic(err)
	}
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	// With discordgo, voice.Join(ctx, session, guildID, channelID, cfg) obtains
	// these values through the main gateway.
	conn, err := voice.Dial(ctx, voice.Config{
		Server:    srv.Grant("1", "2", "3", "session"),
		UserID:    "3",
		GuildID:   "1",
		ChannelID: "2",
		TLSConfig: srv.ClientTLS(), // trusts the emulator's certificate
	})
	if err != nil {
		panic(err)
	}
	defer conn.Close()

	player, err := player.New(ctx, conn, player.Config{Bitrate: 64000})
	if err != nil {
		panic(err)
	}
	defer player.Close()
	tone := make([]int16, 12000) // 0.5 s at 24 kHz, as Live sends it
	for i := range tone {
		tone[i] = int16(8000 * math.Sin(2*math.Pi*440*float64(i)/24000))
	}
	player.Write(tone[:6000]) // chunk by chunk: playback starts with the first frame
	player.Write(tone[6000:])
	player.EndTurn()
	player.Wait(ctx)

	// The player is idle once it sent the silence tail; wait for the server to read it.
	countSilence := func(frames []voicetest.Frame) (n int) {
		for _, f := range frames {
			if f.IsSilence() {
				n++
			}
		}
		return n
	}
	frames, err := srv.WaitFrames(ctx, "3", func(f []voicetest.Frame) bool { return countSilence(f) == 5 })
	if err != nil {
		panic(err)
	}
	silence := countSilence(frames)
	fmt.Printf("mode %s: %d audio frames, then %d silence frames\n", conn.Mode(), len(frames)-silence, silence)
	// Output: mode aead_aes256_gcm_rtpsize: 26 audio frames, then 5 silence frames
}
