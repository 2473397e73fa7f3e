package bot_test

import (
	"bytes"
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/livecord/livecord/bot"
	"github.com/livecord/livecord/discordtest"
	"github.com/livecord/livecord/live/livetest"
	"github.com/livecord/livecord/resample"
	"github.com/livecord/livecord/voice"
	"github.com/livecord/livecord/voice/voicetest"
	"layeh.com/gopus"
)

func mustSnowflake(t testing.TB, id string) uint64 {
	v, err := strconv.ParseUint(id, 10, 64)
	if err != nil {
		t.Errorf("not a snowflake: %q", id)
	}
	return v
}

// TestAskSpeaksDAVEEncrypted: Alice sits in a DAVE voice channel (her own
// client, a DAVE group member); her /ask makes the bot join, form the MLS
// group with her and speak the reply. The voice server only ever sees DAVE
// frames; Alice decrypts them and hears the reply.
func TestAskSpeaksDAVEEncrypted(t *testing.T) {
	es := voicetest.NewExternalSender()
	vt := voicetest.NewServer(t, voicetest.Options{DAVE: es, RequireDAVE: true})
	h := newHarness(t, discordtest.Options{
		VoiceServer: vt.VoiceServer,
		// Discord ends a voice connection with 4014 when its user leaves or moves.
		VoiceLeft: func(guildID, _, userID string) { vt.Disconnect(guildID, userID) },
	}, livetest.Options{Speed: 10})
	h.cfg.Voice = &bot.VoiceConfig{TLSConfig: vt.ClientTLS()}
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()

	// Alice's own voice client is in the channel before the bot.
	h.dc.SetVoiceState(h.guild.ID, h.alice.ID, h.vc.ID)
	ad, err := voice.NewDAVE(mustSnowflake(t, h.alice.ID), mustSnowflake(t, h.vc.ID), nil)
	if err != nil {
		t.Fatal(err)
	}
	alice, err := voice.Dial(ctx, voice.Config{
		Server: vt.Grant(h.guild.ID, h.vc.ID, h.alice.ID, "alice-session"),
		UserID: h.alice.ID, GuildID: h.guild.ID, ChannelID: h.vc.ID,
		TLSConfig: vt.ClientTLS(), E2EE: ad, ReceiveBuffer: 4096,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer alice.Close()
	h.start()

	pcm, _ := livetest.Speak("hi")
	m := answered(t, h.ask(h.alice, "hi"))
	if len(m.Attachments) != 1 {
		t.Fatalf("no WAV with the spoken answer: %+v", m)
	}
	botID := h.dc.AppID()
	call := voicetest.CallID{GuildID: h.guild.ID, ChannelID: h.vc.ID}
	st := es.State(call)
	if st.Epoch < 1 || len(st.Roster) != 2 {
		t.Fatalf("no DAVE group of the bot and Alice: %+v", st)
	}
	frames, err := vt.WaitFrames(ctx, botID, func(fs []voicetest.Frame) bool {
		return len(fs) >= 5 && fs[len(fs)-1].IsSilence() && fs[len(fs)-5].IsSilence()
	})
	if err != nil {
		t.Fatal(err)
	}
	// What the voice server recorded: DAVE frames only (silence in clear).
	n := 0
	for i, f := range frames {
		if f.IsSilence() {
			continue
		}
		n++
		if !bytes.HasSuffix(f.Payload, []byte{0xfa, 0xfa}) {
			t.Fatalf("frame %d reached the server without DAVE: %x", i, f.Payload)
		}
	}
	want := (len(pcm) + 479) / 480
	if n < want || n > want+2 {
		t.Fatalf("%d audio frames at the voice server, want %d: the start of the reply was dropped?", n, want)
	}
	dec, err := gopus.NewDecoder(48000, 2)
	if err != nil {
		t.Fatal(err)
	}
	var wire []float64
	for _, f := range frames[:n] {
		out, err := dec.Decode(f.Payload, voice.FrameSamples, false)
		if err != nil {
			out = make([]int16, 2*voice.FrameSamples)
		}
		for i := 0; i < len(out); i += 2 {
			wire = append(wire, float64(out[i]))
		}
	}

	// Alice decrypts every frame (her DAVE layer, per sender) and decodes the reply.
	dec, _ = gopus.NewDecoder(48000, 2)
	var heard []float64
	for got := 0; got < len(frames); {
		f, err := alice.ReadFrame(ctx)
		if err != nil {
			t.Fatalf("alice heard %d of %d frames: %v", got, len(frames), err)
		}
		if f.UserID != botID {
			continue
		}
		if f.Sequence != frames[got].Sequence {
			t.Fatalf("alice's frame %d has sequence %d, the server recorded %d", got, f.Sequence, frames[got].Sequence)
		}
		got++
		if got > n {
			continue // the silence tail
		}
		out, err := dec.Decode(f.Opus, voice.FrameSamples, false)
		if err != nil {
			t.Fatalf("alice: frame %d: opus: %v", got-1, err)
		}
		for i := 0; i < len(out); i += 2 {
			heard = append(heard, float64(out[i]))
		}
	}
	rs, err := resample.New(24000, 48000, 1)
	if err != nil {
		t.Fatal(err)
	}
	ref48 := rs.Flush(rs.Process(nil, pcm))
	ref := make([]float64, len(ref48))
	for i, s := range ref48 {
		ref[i] = float64(s)
	}
	snr, lag := voicetest.AlignedSNR(ref, heard, 2000)
	wireSNR := voicetest.SNR(ref, wire, lag)
	t.Logf("/ask in a DAVE channel: %d DAVE frames (epoch %d); Alice decrypts and decodes them at SNR %.1f dB (lag %d); the server's copy as Opus: SNR %.1f dB",
		n, st.Epoch, snr, lag, wireSNR)
	if snr < 20 {
		t.Fatalf("SNR %.1f dB < 20 dB", snr)
	}
	if wireSNR > 0 {
		t.Fatalf("the server's copy decodes to the reply (SNR %.1f dB)", wireSNR)
	}

	// /leave: the bot leaves the call; Alice, alone, gets the sole-member reset.
	h.run(h.alice, "leave", nil)
	if _, err := es.WaitState(ctx, call, func(s voicetest.DAVEState) bool { return s.SoleResets == 1 }); err != nil {
		t.Fatal(err)
	}
	for { // Alice handles the reset on her own gateway reader
		if _, ok := ad.Epoch(); !ok {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatal("alice kept her group after the bot left")
		case <-time.After(2 * time.Millisecond):
		}
	}
}
