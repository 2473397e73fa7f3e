package voice_test

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/bwmarrin/discordgo"
	"github.com/livecord/livecord/discordtest"
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

	// A bot uses a voice.Channel (ExampleJoin), which obtains these values
	// through the main gateway; Dial takes them directly.
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

	p, err := player.New(ctx, conn, player.Config{Bitrate: 64000})
	if err != nil {
		panic(err)
	}
	defer p.Close()
	tone := make([]int16, 12000) // 0.5 s at 24 kHz, as Live sends it
	for i := range tone {
		tone[i] = int16(8000 * math.Sin(2*math.Pi*440*float64(i)/24000))
	}
	p.Write(tone[:6000]) // chunk by chunk: playback starts with the first frame
	p.Write(tone[6000:])
	p.EndTurn()
	p.Wait(ctx)

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

// ExampleJoin joins a voice channel through discordgo (here against the
// in-process Discord and voice emulators), speaks a reply and leaves.
func ExampleJoin() {
	vs, err := voicetest.New(voicetest.Options{})
	if err != nil {
		panic(err)
	}
	defer vs.Close()
	dc, err := discordtest.New(discordtest.Options{VoiceServer: vs.VoiceServer})
	if err != nil {
		panic(err)
	}
	defer dc.Close()
	g := dc.AddGuild("example")
	vc := dc.AddChannel(g.ID, "Voice", discordtest.ChannelVoice)
	s, err := discordgo.New("Bot " + dc.Token())
	if err != nil {
		panic(err)
	}
	s.Client = dc.HTTPClient()
	if err := s.Open(); err != nil {
		panic(err)
	}
	defer s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	// NoDAVE only because nobody else is in this call to form a DAVE group
	// with; a real bot keeps the default.
	ch, err := voice.Join(ctx, s, g.ID, vc.ID, voice.ChannelConfig{TLSConfig: vs.ClientTLS(), NoDAVE: true})
	if err != nil {
		panic(err)
	}
	defer ch.Close()
	sp, err := ch.Speak(ctx, vc.ID, 0)
	if err != nil {
		panic(err)
	}
	pcm := make([]byte, 2*4800) // 0.2 s of 24 kHz PCM16LE silence, as Live sends it
	if err := sp.Write(pcm); err != nil {
		panic(err)
	}
	if err := sp.End(ctx); err != nil {
		panic(err)
	}
	frames, err := vs.WaitFrames(ctx, s.State.User.ID, func(f []voicetest.Frame) bool { return len(f) > 0 && f[len(f)-1].IsSilence() })
	if err != nil {
		panic(err)
	}
	fmt.Println("in", ch.ChannelID() == vc.ID, "frames", len(frames) > 5, "left", ch.Leave())
	// Output: in true frames true left true
}
