package bot_test

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/livecord/livecord/admin"
	"github.com/livecord/livecord/audio/wav"
	"github.com/livecord/livecord/bot"
	"github.com/livecord/livecord/discordtest"
	"github.com/livecord/livecord/live/livetest"
	"github.com/livecord/livecord/resample"
	"github.com/livecord/livecord/voice/voicetest"
)

// newVoiceHarness is a harness whose Discord emulator hands out vt's voice
// server, with the bot's voice dialer trusting it and alice seated in the
// guild's voice channel.
func newVoiceHarness(t *testing.T, dopts discordtest.Options, lopts livetest.Options) (*harness, *voicetest.Server) {
	t.Helper()
	vt := voicetest.NewServer(t, voicetest.Options{})
	dopts.VoiceServer = vt.VoiceServer
	h := newHarness(t, dopts, lopts)
	h.cfg.Voice = &bot.VoiceConfig{TLSConfig: vt.ClientTLS(), NoDAVE: true}
	h.dc.SetVoiceState(h.guild.ID, h.alice.ID, h.vc.ID)
	return h, vt
}

// askMidReply has alice /ask prompt and returns once the voice server holds
// the first ten frames of the spoken reply, which is still playing.
func askMidReply(ctx context.Context, t *testing.T, h *harness, vt *voicetest.Server, prompt string) (*discordtest.Interaction, []voicetest.Frame) {
	t.Helper()
	ia := h.ask(h.alice, prompt)
	frames, err := vt.WaitFrames(ctx, h.dc.AppID(), func(fs []voicetest.Frame) bool { return len(fs) >= 10 })
	if err != nil {
		t.Fatal(err)
	}
	return ia, frames
}

// TestAskSpeaksInVoiceChannel: the Discord emulator hands out the voice
// emulator's endpoint; an /ask from someone in a voice channel is spoken
// there through the voice package (48 kHz Opus frames, then the five-frame
// silence tail) while the text and WAV are posted.
func TestAskSpeaksInVoiceChannel(t *testing.T) {
	h, vt := newVoiceHarness(t, discordtest.Options{}, livetest.Options{Speed: 10})
	met := admin.NewMetrics()
	h.cfg.Metrics = met
	h.cfg.Voice = &bot.VoiceConfig{TLSConfig: vt.ClientTLS(), NoDAVE: true}
	h.start()

	pcm, _ := livetest.Speak("hi")
	m := answered(t, h.ask(h.alice, "hi"))
	if len(m.Attachments) != 1 {
		t.Fatalf("no WAV with the spoken answer: %+v", m)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	silence := func(fs []voicetest.Frame) (n int) {
		for _, f := range fs {
			if f.IsSilence() {
				n++
			}
		}
		return n
	}
	frames, err := vt.WaitFrames(ctx, h.dc.AppID(), func(fs []voicetest.Frame) bool { return silence(fs) >= 5 })
	if err != nil {
		t.Fatal(err)
	}
	audio := len(frames) - silence(frames)
	want := (len(pcm) + 479) / 480 // 20 ms frames of the 24 kHz reply
	if audio < want || audio > want+2 {
		t.Fatalf("%d audio frames reached the voice server, want %d (+2 for the resampler's tail)", audio, want)
	}
	// The frames decode to the reply: Opus back to 48 kHz, against the
	// emulator's PCM through the same resampler, aligned.
	var opus [][]byte
	for _, f := range frames[:audio] {
		opus = append(opus, f.Payload)
	}
	heard, bad, err := voicetest.DecodeOpus(opus)
	if err != nil || bad != 0 {
		t.Fatalf("%d of %d frames are not Opus (%v)", bad, audio, err)
	}
	rs, err := resample.New(24000, 48000, 1)
	if err != nil {
		t.Fatal(err)
	}
	var ref []float64
	for _, v := range rs.Flush(rs.Process(nil, pcm)) {
		ref = append(ref, float64(v))
	}
	snr, lag := voicetest.AlignedSNR(ref, heard, 2000)
	t.Logf("/ask spoken: %d Opus frames + %d silence; decoded SNR %.1f dB against the resampled reply (lag %d samples)",
		audio, silence(frames), snr, lag)
	if snr < 20 {
		t.Fatalf("decoded reply SNR %.1f dB < 20 dB", snr)
	}
	if err := h.dc.WaitVoiceChannel(ctx, h.guild.ID, h.dc.AppID(), h.vc.ID); err != nil {
		t.Fatalf("bot not in the voice channel: %v", err)
	}
	// One turn, one first-packet latency: Live chunk in → first RTP packet out.
	var hm dto.Metric
	if err := met.FirstPacketLatency.Write(&hm); err != nil {
		t.Fatal(err)
	}
	if n, sum := hm.GetHistogram().GetSampleCount(), hm.GetHistogram().GetSampleSum(); n != 1 || sum <= 0 || sum > 1 {
		t.Fatalf("first-packet latency: %d samples summing to %.3f s, want 1 sample under 1 s", n, sum)
	} else {
		t.Logf("first-packet latency %.2f ms", sum*1000)
	}
}

// TestVoiceRejoinsAfterKick: Discord ends the bot's voice connection for
// good (4014, kicked from the channel); the bot forgets it at once and the
// next /ask joins again and is heard, rather than speaking into a dead one.
func TestVoiceRejoinsAfterKick(t *testing.T) {
	h, vt := newVoiceHarness(t, discordtest.Options{}, livetest.Options{Speed: 20})
	met := admin.NewMetrics()
	h.cfg.Metrics = met
	h.start()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	botID := h.dc.AppID()
	silences := func(n int) func([]voicetest.Frame) bool {
		return func(fs []voicetest.Frame) bool {
			c := 0
			for _, f := range fs {
				if f.IsSilence() {
					c++
				}
			}
			return c >= n
		}
	}
	gauge := func() float64 {
		var m dto.Metric
		if err := met.VoiceConnections.Write(&m); err != nil {
			t.Fatal(err)
		}
		return m.GetGauge().GetValue()
	}

	answered(t, h.ask(h.alice, "one"))
	if _, err := vt.WaitFrames(ctx, botID, silences(5)); err != nil {
		t.Fatal(err)
	}
	if g := gauge(); g != 1 {
		t.Fatalf("voice connections gauge %v after joining, want 1", g)
	}
	if err := vt.ForceClose(botID, 4014); err != nil {
		t.Fatal(err)
	}
	// The bot notices the end by itself (no further /ask needed).
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for gauge() != 0 {
		select {
		case <-tick.C:
		case <-ctx.Done():
			t.Fatal("the ended voice connection is still counted")
		}
	}
	answered(t, h.ask(h.alice, "two"))
	if _, err := vt.WaitFrames(ctx, botID, silences(10)); err != nil {
		t.Fatalf("the second reply was not heard after the kick: %v", err)
	}
	if g := gauge(); g != 1 {
		t.Fatalf("voice connections gauge %v after rejoining, want 1", g)
	}
}

// TestVoiceKickMidReplyStillPostsWAV: Discord ends the voice connection
// (4014) while a reply is being spoken and Live is still streaming it. The
// asker loses nothing: the final message carries the whole transcript and a
// reply.wav of exactly Live's PCM, and says why the voice stopped.
func TestVoiceKickMidReplyStillPostsWAV(t *testing.T) {
	h, vt := newVoiceHarness(t, discordtest.Options{}, livetest.Options{Speed: 2}) // the kick lands while Live is still streaming
	h.start()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	const prompt = "tell me a story"
	pcm, transcript := livetest.Speak(prompt)
	ia, _ := askMidReply(ctx, t, h, vt, prompt)
	if err := vt.ForceClose(h.dc.AppID(), 4014); err != nil {
		t.Fatal(err)
	}
	m := answered(t, ia)
	if !strings.Contains(m.Content, transcript) {
		t.Errorf("final message lacks the whole transcript %q:\n%s", transcript, m.Content)
	}
	if !strings.Contains(m.Content, "Voice playback stopped partway") {
		t.Errorf("final message does not say why the voice stopped:\n%s", m.Content)
	}
	if strings.Contains(m.Content, "The answer was cut off") {
		t.Errorf("the answer is marked cut off, but only the voice was:\n%s", m.Content)
	}
	if len(m.Attachments) != 1 || m.Attachments[0].Name != "reply.wav" {
		t.Fatalf("attachments = %+v, want reply.wav", m.Attachments)
	}
	f, err := wav.Decode(m.Attachments[0].Data)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(f.Data, pcmBytes(pcm)) {
		t.Fatalf("reply.wav holds %d bytes, want exactly Live's %d", len(f.Data), 2*len(pcm))
	}
}

// TestVoiceLeavesWhenIdle: with VoiceIdleTimeout shorter than the reply, the
// bot still speaks the whole reply (a turn holds the connection), then
// leaves the channel once it has been quiet for the timeout.
func TestVoiceLeavesWhenIdle(t *testing.T) {
	h, vt := newVoiceHarness(t, discordtest.Options{}, livetest.Options{Speed: 10})
	const idle = time.Second
	h.cfg.VoiceIdleTimeout = idle
	h.start()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	botID := h.dc.AppID()

	pcm, _ := livetest.Speak("hi")
	if reply := time.Duration(len(pcm)) * time.Second / 24000; reply < 2*idle {
		t.Fatalf("the reply (%v) must outlast the idle timeout (%v) for this test", reply, idle)
	}
	answered(t, h.ask(h.alice, "hi"))
	frames, err := vt.WaitFrames(ctx, botID, func(fs []voicetest.Frame) bool {
		return len(fs) >= 5 && fs[len(fs)-1].IsSilence() && fs[len(fs)-5].IsSilence()
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := (len(pcm) + 479) / 480; len(frames)-5 < want {
		t.Fatalf("%d audio frames before the silence tail, want the whole reply's %d", len(frames)-5, want)
	}
	// The idle clock starts when the turn ends, so right after the tail the
	// bot is still in the channel.
	now, stop := context.WithCancel(ctx)
	stop()
	if err := h.dc.WaitVoiceChannel(now, h.guild.ID, botID, h.vc.ID); err != nil {
		t.Fatal("the bot left during (or right after) a reply longer than its idle timeout")
	}
	if err := h.dc.WaitVoiceChannel(ctx, h.guild.ID, botID, ""); err != nil {
		t.Fatalf("the bot did not leave after %v idle: %v", idle, err)
	}
	t.Logf("left %v after the last frame arrived (idle timeout %v)", time.Since(frames[len(frames)-1].Arrival).Round(time.Millisecond), idle)
	h.logs.wait(t, "left voice: idle")
}

// TestVoiceUsesChannelBitrate: the Opus encoder runs at the voice channel's
// bitrate (as its listeners' clients are set up for), not a fixed one.
func TestVoiceUsesChannelBitrate(t *testing.T) {
	vt := voicetest.NewServer(t, voicetest.Options{})
	h := newHarness(t, discordtest.Options{VoiceServer: vt.VoiceServer}, livetest.Options{Speed: 20})
	h.cfg.Voice = &bot.VoiceConfig{TLSConfig: vt.ClientTLS(), NoDAVE: true}
	low := h.dc.AddChannel(h.guild.ID, "Low bitrate", discordtest.ChannelVoice)
	h.dc.SetBitrate(low.ID, 24000)
	h.start()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	botID := h.dc.AppID()

	// Mean Opus payload per 20 ms frame, of the audio frames the voice
	// server received from the bot since `from`.
	meanBytes := func(from int) (float64, int) {
		frames, err := vt.WaitFrames(ctx, botID, func(fs []voicetest.Frame) bool {
			n := 0
			for _, f := range fs[min(from, len(fs)):] {
				if f.IsSilence() {
					n++
				}
			}
			return n >= 5
		})
		if err != nil {
			t.Fatal(err)
		}
		total, n := 0, 0
		for _, f := range frames[from:] {
			if !f.IsSilence() {
				total += len(f.Payload)
				n++
			}
		}
		return float64(total) / float64(n), len(frames)
	}
	h.dc.SetVoiceState(h.guild.ID, h.alice.ID, h.vc.ID) // 64 kbit/s, Discord's default
	answered(t, h.ask(h.alice, "hi"))
	normal, seen := meanBytes(0)
	h.dc.SetVoiceState(h.guild.ID, h.alice.ID, low.ID)
	answered(t, h.ask(h.alice, "hi"))
	reduced, _ := meanBytes(seen)
	t.Logf("mean Opus frame: %.0f bytes at 64 kbit/s (nominal 160), %.0f bytes at 24 kbit/s (nominal 60)", normal, reduced)
	// libopus's VBR spends a little less than nominal on this voice; the
	// ratio between the two channels is what shows the bitrate was applied.
	if normal < 90 || normal > 210 || reduced < 30 || reduced > 85 || reduced > 0.5*normal {
		t.Fatalf("mean frame sizes %.0f and %.0f bytes, want about 160 (64 kbit/s) and 60 (24 kbit/s)", normal, reduced)
	}
}

// TestLeaveMidReply: /leave while a reply is being spoken stops the audio at
// once (no packet from the bot arrives a frame after /leave answered) and
// leaves the channel; the reply itself is still posted whole.
func TestLeaveMidReply(t *testing.T) {
	h, vt := newVoiceHarness(t, discordtest.Options{}, livetest.Options{Speed: 2})
	h.start()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	botID := h.dc.AppID()

	pcm, _ := livetest.Speak("hi")
	ia, _ := askMidReply(ctx, t, h, vt, "hi")
	waitContent(t, h.run(h.alice, "leave", nil), "Left the voice channel") // answered once left
	left := time.Now()
	if err := h.dc.WaitVoiceChannel(ctx, h.guild.ID, botID, ""); err != nil {
		t.Fatalf("the bot is still in the voice channel: %v", err)
	}
	m := answered(t, ia) // Live streams on for seconds after /leave
	f, err := wav.Decode(m.Attachments[0].Data)
	if err != nil || !bytes.Equal(f.Data, pcmBytes(pcm)) {
		t.Fatalf("reply.wav is not Live's whole reply (%v)", err)
	}
	if !strings.Contains(m.Content, "Voice playback stopped partway") {
		t.Errorf("the reply does not say the voice stopped:\n%s", m.Content)
	}
	frames := vt.Frames(botID)
	late := 0
	for _, fr := range frames {
		if fr.Arrival.After(left.Add(20 * time.Millisecond)) {
			late++
		}
	}
	t.Logf("%d frames heard before /leave; %d arrived more than 20 ms after it", len(frames)-late, late)
	if late != 0 || len(frames) >= (len(pcm)+479)/480 {
		t.Fatalf("%d of %d frames arrived after /leave answered", late, len(frames))
	}
}

// TestVoiceEventsInAnyOrder: after its op 4 the bot gets VOICE_STATE_UPDATE
// and VOICE_SERVER_UPDATE in either order, possibly after one with a null
// endpoint (a voice server being allocated); it joins either way.
func TestVoiceEventsInAnyOrder(t *testing.T) {
	for name, o := range map[string]discordtest.Options{
		"server first":                  {VoiceServerFirst: true},
		"null endpoint, then the state": {VoicePending: true},
		"null endpoint, server first":   {VoicePending: true, VoiceServerFirst: true},
	} {
		t.Run(name, func(t *testing.T) {
			h, vt := newVoiceHarness(t, o, livetest.Options{Speed: 20})
			h.start()
			if msg := waitContent(t, h.run(h.alice, "join", nil), "Joined").Content; !strings.Contains(msg, "<#"+h.vc.ID+">") {
				t.Fatalf("/join answer: %q", msg)
			}
			// "Joined" is said once the voice connection is up: the voice
			// server has the bot as a member of the call.
			if m, ok := vt.Member(h.dc.AppID()); !ok || m.SSRC == 0 {
				t.Fatalf("the voice server has no session for the bot: %+v", m)
			}
		})
	}
}

// TestVoiceRejoinsOn4006: the voice server forgets the bot's session (4006)
// mid-reply; the bot asks the main gateway again (a second op 4 and
// VOICE_SERVER_UPDATE), identifies afresh and the reply goes on to its end.
func TestVoiceRejoinsOn4006(t *testing.T) {
	vt := voicetest.NewServer(t, voicetest.Options{})
	var mu sync.Mutex
	grants := 0
	h := newHarness(t, discordtest.Options{VoiceServer: func(guildID, channelID, userID, sessionID string) (string, string) {
		mu.Lock()
		grants++
		mu.Unlock()
		return vt.VoiceServer(guildID, channelID, userID, sessionID)
	}}, livetest.Options{Speed: 20})
	h.cfg.Voice = &bot.VoiceConfig{TLSConfig: vt.ClientTLS(), NoDAVE: true}
	h.dc.SetVoiceState(h.guild.ID, h.alice.ID, h.vc.ID)
	h.start()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	botID := h.dc.AppID()

	pcm, _ := livetest.Speak("hi")
	ia, first := askMidReply(ctx, t, h, vt, "hi")
	old := first[0].SSRC
	if err := vt.ForceClose(botID, 4006); err != nil {
		t.Fatal(err)
	}
	frames, err := vt.WaitFrames(ctx, botID, func(fs []voicetest.Frame) bool {
		last := fs[len(fs)-1]
		return last.SSRC != old && last.IsSilence()
	})
	if err != nil {
		t.Fatalf("the reply did not go on after 4006: %v", err)
	}
	after := 0
	for _, f := range frames {
		if f.SSRC != old && !f.IsSilence() {
			after++
		}
	}
	m := answered(t, ia)
	mu.Lock()
	n := grants
	mu.Unlock()
	t.Logf("%d frames before 4006, %d audio frames on the new session; %d voice server grants", len(frames)-after-5, after, n)
	if n != 2 || after == 0 || len(m.Attachments) != 1 {
		t.Fatalf("grants %d (want 2: the rejoin went through the main gateway), %d frames after the rejoin", n, after)
	}
	if len(frames)-5 > (len(pcm)+479)/480+2 {
		t.Fatalf("%d audio frames for a %d-frame reply: audio was repeated", len(frames)-5, (len(pcm)+479)/480)
	}
}
