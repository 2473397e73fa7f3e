package voice_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/livecord/livecord/voice/player"

	"github.com/livecord/livecord/voice/internal/wire"

	"github.com/livecord/livecord/internal/nodetest"
	"github.com/livecord/livecord/voice/voicetest"
)

type djsEvent struct {
	Event   string  `json:"event"`
	Mode    string  `json:"mode"`
	DAVE    int     `json:"dave"`
	ID      int     `json:"id"`
	Epoch   *int64  `json:"epoch"`
	Seq     int     `json:"seq"`
	Opus    string  `json:"opus"`
	Samples int     `json:"samples"`
	RMS     float64 `json:"rms"`
	T       float64 `json:"t"` // unix ms
	Code    int     `json:"code"`
}

// djsPeer is one tools/node/discordjs-voice-dave.mjs process in the call.
type djsPeer struct {
	t      *testing.T
	user   string
	node   *nodetest.Process
	events chan djsEvent
	done   chan struct{}
	once   sync.Once
}

func startDJS(ctx context.Context, t *testing.T, srv *voicetest.Server, user, listenTo string) *djsPeer {
	t.Helper()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, srv.CertPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	g := srv.Grant(guildID, channelID, user, "sess-"+user)
	env := []string{"NODE_EXTRA_CA_CERTS=" + ca}
	if testing.Verbose() && os.Getenv("DAVE_DEBUG") != "" {
		env = append(env, "DEBUG=1")
	}
	node := nodetest.Start(ctx, t, "discordjs-voice-dave.mjs", env, g.Endpoint, guildID, user, g.SessionID, g.Token, channelID, listenTo)
	p := &djsPeer{t: t, user: user, node: node, events: make(chan djsEvent, 8192), done: make(chan struct{})}
	go func() { // ends when the peer's stdout does (nodetest's cleanup sees to that)
		defer close(p.events)
		for line := range node.Lines() {
			var e djsEvent
			if json.Unmarshal(line, &e) == nil {
				p.events <- e
			}
		}
	}()
	t.Cleanup(p.exit)
	return p
}

// exit makes the peer leave the call (close 1000) and quit.
func (p *djsPeer) exit() {
	p.once.Do(func() {
		_ = p.node.WriteLine("exit")
	})
}

// next returns the next event of kind, handing every frame event on the way to onFrame.
func (p *djsPeer) next(ctx context.Context, kind string, onFrame func(djsEvent)) djsEvent {
	p.t.Helper()
	for {
		select {
		case e, ok := <-p.events:
			if !ok {
				p.t.Fatalf("discord.js peer %s exited while waiting for %q", p.user, kind)
			}
			if (e.Event == "frame" || e.Event == "raw") && onFrame != nil {
				onFrame(e)
			}
			if e.Event == kind {
				return e
			}
			if e.Event == "close" {
				p.t.Fatalf("discord.js peer %s: gateway closed with %d", p.user, e.Code)
			}
		case <-ctx.Done():
			p.t.Fatalf("waiting for %q from discord.js peer %s: %v", kind, p.user, ctx.Err())
		}
	}
}

// heard matches a peer's frames against what the bot sent, by RTP sequence.
type heard struct {
	plain   [][]byte // the bot's Opus frames, in sending order
	first   uint16   // the RTP sequence number of plain[0]
	last    int      // index of the last frame heard
	frames  []djsEvent
	lost    int
	loud    int
	maxGap  time.Duration
	lastT   float64
	badOpus int
	raw     int // frames before the peer's DAVE session was ready
}

func (h *heard) add(t *testing.T, e djsEvent) {
	t.Helper()
	if e.Event == "raw" {
		// discord.js yields frames undecrypted until its session is ready
		// (a joiner before its Welcome); never once it has decrypted one.
		if len(h.frames) > 0 {
			t.Fatalf("discord.js passed RTP seq %d through undecrypted after decrypting %d frames", e.Seq, len(h.frames))
		}
		h.raw++
		return
	}
	b, err := hex.DecodeString(e.Opus)
	if err != nil {
		t.Fatal(err)
	}
	i := int(uint16(e.Seq) - h.first)
	if e.Seq < 0 || i >= len(h.plain) || !bytes.Equal(h.plain[i], b) {
		t.Fatalf("discord.js got %x as RTP seq %d: not what the bot sent", b, e.Seq)
	}
	if len(h.frames) > 0 {
		if i <= h.last {
			t.Fatalf("discord.js got frame %d after frame %d", i, h.last)
		}
		h.lost += i - h.last - 1
		h.maxGap = max(h.maxGap, time.Duration((e.T-h.lastT)*float64(time.Millisecond)))
	}
	h.last, h.lastT = i, e.T
	h.frames = append(h.frames, e)
	if e.Samples != wire.FrameSamples {
		h.badOpus++
	}
	if e.RMS > 300 {
		h.loud++
	}
}

// TestDiscordJSDAVEPeers: @discordjs/voice with @snazzah/davey joins the
// emulator beside the bot, forms the MLS group with it and decrypts and
// decodes the bot's reply; a second discord.js client joins mid-reply and
// the first leaves, and the audio keeps reaching the remaining member across
// both epoch changes.
func TestDiscordJSDAVEPeers(t *testing.T) {
	nodetest.Require(t)
	es := voicetest.NewExternalSender()
	srv := voicetest.NewServer(t, voicetest.Options{DAVE: es, RequireDAVE: true})
	ctx := testCtx(t, 60*time.Second)
	const peerA, peerB = "200000000000000001", "200000000000000002"
	bot, bd := daveDial(t, srv, botID)

	a := startDJS(ctx, t, srv, peerA, botID)
	if r := a.next(ctx, "ready", nil); r.DAVE != 1 {
		t.Fatalf("discord.js got dave_protocol_version %d", r.DAVE)
	}
	st := inGroup(ctx, t, es, []string{botID, peerA}, bd)
	tr := a.next(ctx, "transitioned", nil)
	if e, _ := bd.Epoch(); tr.Epoch == nil || *tr.Epoch != int64(e) {
		t.Fatalf("discord.js transitioned into epoch %v, the bot is in %d", tr.Epoch, e)
	}
	t.Logf("bot and discord.js formed the group: epoch %d, committer %s, %d commits dropped in the race", st.Epoch, st.Committer, st.Dropped)

	tap := &tapSink{c: bot}
	p, err := player.New(ctx, tap, player.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	bound := gapBound(ctx, 150*time.Millisecond)
	streamFor(ctx, t, p, 5*time.Second)

	// plain grows while the bot speaks; the matchers look it up lazily.
	ha, hb := &heard{}, &heard{}
	addTo := func(h *heard) func(djsEvent) {
		return func(e djsEvent) {
			h.plain = tap.frames()
			if len(h.frames) == 0 {
				h.first = srv.Frames(botID)[0].Sequence // relayed after being recorded
			}
			h.add(t, e)
		}
	}
	for len(ha.frames) < 50 {
		a.next(ctx, "frame", addTo(ha))
	}
	b := startDJS(ctx, t, srv, peerB, botID)
	b.next(ctx, "ready", nil)
	b.next(ctx, "frame", addTo(hb))
	st = inGroup(ctx, t, es, []string{botID, peerA, peerB}, bd)
	for len(hb.frames) < 25 {
		b.next(ctx, "frame", addTo(hb))
	}
	// A leaves: Remove, a commit with an UpdatePath, a new epoch for the bot and B.
	for ev := range drain(a.events) {
		if ev.Event == "frame" {
			addTo(ha)(ev)
		}
	}
	a.exit()
	st = inGroup(ctx, t, es, []string{botID, peerB}, bd)
	if err := p.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	sent := waitTail(ctx, t, srv, botID, 0)
	// B hears to the end: the five silence frames close the reply.
	for hb.last < len(sent)-1 {
		b.next(ctx, "frame", addTo(hb))
	}
	t.Logf("discord.js A decrypted and decoded %d frames (%d loud) across B's join (epoch 2), longest gap %v, %d lost",
		len(ha.frames), ha.loud, ha.maxGap, ha.lost)
	t.Logf("discord.js B decrypted and decoded %d frames (%d loud) from its join to the end, across A's leave (epoch %d), longest gap %v, %d lost (%d arrived before its Welcome)",
		len(hb.frames), hb.loud, st.Epoch, hb.maxGap, hb.lost, hb.raw)
	if st.Epoch != 3 {
		t.Fatalf("final epoch %d, want 3 (create, add B, remove A)", st.Epoch)
	}
	limit := bound()
	for name, h := range map[string]*heard{"A": ha, "B": hb} {
		if h.badOpus != 0 || h.lost != 0 || h.loud < len(h.frames)/3 {
			t.Errorf("discord.js %s: %d frames opusscript could not decode, %d lost, %d of %d loud", name, h.badOpus, h.lost, h.loud, len(h.frames))
		}
		if h.maxGap > limit {
			t.Errorf("discord.js %s: longest gap %v > %v", name, h.maxGap, limit)
		}
	}
	if s := p.Stats(); s.SendErrors != 0 {
		t.Errorf("%d frames refused by DAVE during the reply", s.SendErrors)
	}

	// The other way: B speaks (davey encrypts), the bot's DAVE layer decrypts
	// per sender and the tone decodes.
	if err := b.node.WriteLine("speak 25"); err != nil {
		t.Fatal(err)
	}
	fs := readFrom(ctx, t, bot, peerB, 25)
	var opus [][]byte
	for _, f := range fs {
		opus = append(opus, f.Opus)
	}
	pcm, bad := decodeOpus(t, opus)
	var e float64
	for _, s := range pcm {
		e += s * s
	}
	rms := math.Sqrt(e / float64(len(pcm)))
	t.Logf("the bot decrypted 25 DAVE frames from discord.js: decoded RMS %.0f (tone amplitude 8000 → 5657)", rms)
	if bad != 0 || rms < 3000 {
		t.Fatalf("%d undecodable frames, RMS %.0f", bad, rms)
	}
	b.next(ctx, "sent", nil)
	for i, f := range srv.Frames(peerB) {
		if !bytes.HasSuffix(f.Payload, []byte{0xfa, 0xfa}) {
			t.Fatalf("discord.js frame %d crossed the server without DAVE: %x", i, f.Payload)
		}
	}
}

// drain yields what is already buffered in ch without blocking.
func drain(ch chan djsEvent) func(func(djsEvent) bool) {
	return func(yield func(djsEvent) bool) {
		for {
			select {
			case e, ok := <-ch:
				if !ok || !yield(e) {
					return
				}
			default:
				return
			}
		}
	}
}
