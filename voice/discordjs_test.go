package voice_test

import (
	"encoding/hex"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/livecord/livecord/voice/internal/wire"

	"github.com/livecord/livecord/internal/nodetest"
	"github.com/livecord/livecord/voice"
	"github.com/livecord/livecord/voice/voicetest"
	"layeh.com/gopus"
)

type peerEvent struct {
	Event   string  `json:"event"`
	SSRC    uint32  `json:"ssrc"`
	Mode    string  `json:"mode"`
	Opus    string  `json:"opus"`
	Samples int     `json:"samples"`
	RMS     float64 `json:"rms"`
	Frames  int     `json:"frames"`
	Code    int     `json:"code"`
	Message string  `json:"message"`
}

// TestDiscordJSPeerHearsTheBot: @discordjs/voice's Networking joins the
// emulator beside our Conn; its VoiceReceiver gets the bot's frames relayed by
// the SFU and opusscript decodes them. It then speaks, and our Conn receives
// and decodes its audio. Both transport modes (discord.js uses node:crypto
// for AES-GCM and @noble/ciphers for XChaCha20-Poly1305).
func TestDiscordJSPeerHearsTheBot(t *testing.T) {
	for _, mode := range wire.SupportedModes {
		t.Run(mode, func(t *testing.T) { testDiscordJSPeer(t, mode) })
	}
}

func testDiscordJSPeer(t *testing.T, mode string) {
	nodetest.Require(t)
	srv := voicetest.NewServer(t, voicetest.Options{Modes: []string{mode}})
	ctx := testCtx(t, 60*time.Second)
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, srv.CertPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	bot := dial(t, srv, botID, func(c *voice.Config) { c.ReceiveBuffer = 1024 })

	const peer = "200000000000000001"
	g := srv.Grant(guildID, channelID, peer, "sess-peer")
	node := nodetest.Start(ctx, t, "discordjs-voice-peer.mjs", []string{"NODE_EXTRA_CA_CERTS=" + ca},
		g.Endpoint, guildID, peer, g.SessionID, g.Token, channelID, botID)
	events := make(chan peerEvent, 4096)
	go func() { // ends when the peer's stdout does (nodetest's cleanup sees to that)
		defer close(events)
		for line := range node.Lines() {
			var e peerEvent
			if json.Unmarshal(line, &e) == nil {
				events <- e
			}
		}
	}()
	defer node.WriteLine("exit")
	next := func(kind string) peerEvent {
		t.Helper()
		for {
			select {
			case e, ok := <-events:
				if !ok {
					t.Fatalf("node peer exited while waiting for %q", kind)
				}
				if e.Event == kind {
					return e
				}
				if e.Event == "close" {
					t.Fatalf("node peer's gateway closed with %d", e.Code)
				}
				if e.Event == "receive_error" {
					t.Fatalf("discord.js's receive stream failed while waiting for %q: %s", kind, e.Message)
				}
			case <-ctx.Done():
				t.Fatalf("waiting for %q from the node peer: %v", kind, ctx.Err())
			}
		}
	}
	ready := next("ready")
	if ready.Mode != mode || bot.Mode() != mode {
		t.Fatalf("discord.js chose %q", ready.Mode)
	}
	if err := srv.WaitMember(ctx, peer); err != nil {
		t.Fatal(err)
	}

	// The bot speaks a reply through the Player.
	p := newPlayer(ctx, t, bot)
	pcm := speech()[:24000] // one second
	for _, c := range chunks(pcm) {
		p.Write(c)
	}
	p.EndTurn()
	if err := p.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	sent := waitTail(ctx, t, srv, botID, 0)
	// discord.js drops packets from an SSRC until op 5 has told it whose it
	// is; op 5 (TCP) and the first packets (UDP) race, so the first few may go.
	first := next("frame")
	skip := 0
	for skip < len(sent) && hex.EncodeToString(sent[skip].Payload) != first.Opus {
		skip++
	}
	if skip > 10 {
		t.Fatalf("discord.js's first frame %s is not among the bot's first 10", first.Opus)
	}
	// A reply that opens with silence opens with identical packets, so the
	// first one discord.js got does not say which of them it was: count the
	// copies it got and align on the first packet that differs.
	end := skip
	for end < len(sent) && hex.EncodeToString(sent[end].Payload) == first.Opus {
		end++
	}
	var pending *peerEvent
	if end-skip > 1 {
		got := 1
		for pending == nil {
			if e := next("frame"); e.Opus != first.Opus {
				pending = &e
			} else {
				got++
			}
		}
		if got > end-skip {
			t.Fatalf("discord.js got %d copies of the opening packet, the bot sent %d", got, end-skip)
		}
		skip = end - got
	}
	loud := 0
	for i := skip; i < len(sent); i++ {
		f := sent[i]
		e := first // the opening run: identical packets, all received
		switch {
		case i == end && pending != nil:
			e = *pending
		case i >= end:
			e = next("frame")
		}
		if e.Opus != hex.EncodeToString(f.Payload) {
			t.Fatalf("frame %d: discord.js got %s, the bot sent %x", i, e.Opus, f.Payload)
		}
		if e.Samples != wire.FrameSamples {
			t.Fatalf("frame %d: opusscript decoded %d samples", i, e.Samples)
		}
		if !f.IsSilence() && e.RMS > 300 {
			loud++
		}
	}
	t.Logf("discord.js received and decoded %d of %d frames in order (the first %d raced op 5), %d with speech energy", len(sent)-skip, len(sent), skip, loud)
	if loud < len(sent)/3 {
		t.Fatalf("only %d of %d frames decoded to audible audio", loud, len(sent))
	}

	// The other way: discord.js speaks, our Conn receives its 440 Hz tone.
	if err := node.WriteLine("speak 25"); err != nil {
		t.Fatal(err)
	}
	dec, _ := gopus.NewDecoder(48000, 2)
	var energy float64
	n := 0
	for n < 25 {
		f, err := bot.ReadFrame(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if f.UserID != peer {
			t.Fatalf("frame from %q (ssrc %d), want the peer", f.UserID, f.SSRC)
		}
		out, err := dec.Decode(f.Opus, wire.FrameSamples, false)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range out {
			energy += float64(s) * float64(s)
		}
		n++
	}
	rms := math.Sqrt(energy / float64(25*2*wire.FrameSamples))
	t.Logf("our Conn received 25 frames from discord.js, decoded RMS %.0f (tone amplitude 8000 → RMS 5657)", rms)
	if rms < 3000 {
		t.Fatalf("decoded RMS %.0f, want the 440 Hz tone", rms)
	}
	next("sent")
	if mode != wire.ModeAES256GCM {
		return
	}

	// The voice server crashes under discord.js (4015): it resumes with op 7
	// against the emulator and keeps receiving the bot.
	before := len(sent)
	if err := srv.ForceClose(peer, 4015); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.WaitMemberState(ctx, peer, func(s voicetest.MemberState) bool { return s.Resumes == 1 }); err != nil {
		t.Fatal(err)
	}
	for _, c := range chunks(pcm[:12000]) {
		p.Write(c)
	}
	p.EndTurn()
	if err := p.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	sent = waitTail(ctx, t, srv, botID, before)
	for i := before; i < len(sent); i++ {
		if e := next("frame"); e.Opus != hex.EncodeToString(sent[i].Payload) {
			t.Fatalf("after resume, frame %d: discord.js got %s, the bot sent %x", i, e.Opus, sent[i].Payload)
		}
	}
	t.Logf("discord.js resumed after 4015 and received the next %d frames", len(sent)-before)
}
