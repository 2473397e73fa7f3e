package voice_test

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/livecord/livecord/internal/nodetest"
	"github.com/livecord/livecord/voice/inbound"
	"github.com/livecord/livecord/voice/voicetest"
)

// TestDiscordJSSpeaksToTheBot: a real @discordjs/voice client with
// @snazzah/davey joins a DAVE call beside the bot and says a recorded
// phrase through its own AudioPlayer (prism-media encodes the PCM to Opus,
// davey encrypts each frame, discord.js seals and paces it). The bot's Conn
// learns the client's SSRC from op 5, decrypts, decodes and resamples, and
// hears one turn whose loudness contour follows the phrase.
func TestDiscordJSSpeaksToTheBot(t *testing.T) {
	nodetest.Require(t)
	es := voicetest.NewExternalSender()
	srv := voicetest.NewServer(t, voicetest.Options{DAVE: es, RequireDAVE: true})
	ctx := testCtx(t, 60*time.Second)
	const peer = "200000000000000001"
	bot, bd := daveDial(t, srv, botID)
	e := newEar()
	defer bot.Listen(e.hear)()

	a := startDJS(ctx, t, srv, peer, botID)
	a.next(ctx, "ready", nil)
	inGroup(ctx, t, es, []string{botID, peer}, bd)
	a.next(ctx, "transitioned", nil)

	pcm := phrase(t, "weather")
	raw := make([]byte, 2*len(pcm))
	for i, v := range pcm {
		binary.LittleEndian.PutUint16(raw[2*i:], uint16(v))
	}
	file := filepath.Join(t.TempDir(), "weather.pcm")
	if err := os.WriteFile(file, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := a.node.WriteLine("say " + file); err != nil {
		t.Fatal(err)
	}
	a.next(ctx, "said", nil)
	evs := e.wait(ctx, t, "the discord.js client's turn to end", endsOf(peer, 1))
	for _, ev := range evs {
		if ev.UserID != peer {
			t.Fatalf("heard %s from %q, want the client %s (op 5 maps its SSRC)", ev.Kind, ev.UserID, peer)
		}
	}
	if evs[len(evs)-1].Reason != inbound.Paused {
		t.Errorf("turn ended %s, want paused", evs[len(evs)-1].Reason)
	}
	st := bot.ReceiveStats()
	t.Logf("stats %+v", st)
	if st.E2EEFailed != 0 || st.Undecryptable != 0 || st.Inbound.Malformed != 0 {
		t.Errorf("the client's audio did not all decrypt and decode: %+v", st)
	}
	checkHeard(t, evs, peer, 0, pcm, 0.9)
	dave := 0
	for _, f := range srv.Frames(peer) {
		if bytes.HasSuffix(f.Payload, []byte{0xfa, 0xfa}) {
			dave++
		} else if !f.IsSilence() {
			t.Fatalf("discord.js sent a frame without DAVE: %x", f.Payload)
		}
	}
	if dave < len(pcm)/960 {
		t.Fatalf("%d DAVE frames for %d frames of speech", dave, len(pcm)/960)
	}
}
