package voice_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/livecord/livecord/internal/nodetest"
	"github.com/livecord/livecord/voice"
	"github.com/livecord/livecord/voice/internal/wire"
	"github.com/livecord/livecord/voice/player"
	"github.com/livecord/livecord/voice/voicetest"
)

// Frame tags of the bot's sending key: the transition that installed it, or one of these.
const (
	tagNone    = -1 // no transition executed in this session (the frame went out under none)
	tagSilence = -2 // Opus silence: sent in clear, heard by anyone
)

// sendTagger wraps the bot's DAVE layer and tags each frame it encrypts with
// the transition whose key it was sent under: a member can decrypt exactly
// the frames of the transitions it executed itself.
type sendTagger struct {
	*voice.DAVE
	mu       sync.Mutex
	prepared map[int]bool // transitions the bot acknowledged (op 23)
	current  int          // transition of the key the bot sends under
	last     int          // tag of the last frame EncryptOpus produced
}

func newSendTagger(d *voice.DAVE) *sendTagger {
	return &sendTagger{DAVE: d, prepared: map[int]bool{}, current: tagNone}
}

type tagWriter struct {
	voice.GatewayWriter
	s *sendTagger
}

func (w tagWriter) WriteMessage(ctx context.Context, m wire.Message) error {
	var t wire.DAVETransition
	switch m.Op {
	case wire.OpDAVETransitionReady:
		if json.Unmarshal(m.Data, &t) == nil {
			w.s.mu.Lock()
			w.s.prepared[t.TransitionID] = true
			w.s.mu.Unlock()
		}
	case wire.OpDAVEMLSInvalidCommitWelcome:
		w.s.mu.Lock()
		w.s.current = tagNone // the bot left that group: nothing goes out under it
		w.s.mu.Unlock()
	}
	return w.GatewayWriter.WriteMessage(ctx, m)
}

func (s *sendTagger) HandleMessage(ctx context.Context, m wire.Message, g voice.GatewayWriter) error {
	err := s.DAVE.HandleMessage(ctx, m, tagWriter{g, s})
	var t wire.DAVETransition
	s.mu.Lock()
	defer s.mu.Unlock()
	switch m.Op {
	case wire.OpSessionDescription, wire.OpDAVEPrepareEpoch:
		s.current = tagNone
	case wire.OpDAVEExecuteTransition:
		// Only now (after the session switched) is the new tag set: a frame
		// tagged with the previous transition may already use the new key,
		// which every member still present holds too.
		if json.Unmarshal(m.Data, &t) == nil && s.prepared[t.TransitionID] {
			s.current = t.TransitionID
		}
	}
	return err
}

func (s *sendTagger) EncryptOpus(dst, opus []byte) ([]byte, error) {
	// The tag is read before the frame is sealed: should op 22 switch the
	// key in between, the frame is tagged with the previous transition,
	// whose members still present all hold the new key too.
	s.mu.Lock()
	s.last = s.current
	if bytes.Equal(opus, wire.SilenceFrame) {
		s.last = tagSilence
	}
	s.mu.Unlock()
	return s.DAVE.EncryptOpus(dst, opus)
}

func (s *sendTagger) lastTag() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last
}

// taggedSink records each frame the bot sends with its tag and send time.
type taggedSink struct {
	c   *voice.Conn
	tag *sendTagger
	mu  sync.Mutex
	// frames[i] is the Opus of the i-th frame sent (RTP seq first+i).
	frames [][]byte
	tags   []int
	at     []time.Time
}

func (s *taggedSink) SetSpeaking(ctx context.Context, on bool) error { return s.c.SetSpeaking(ctx, on) }

func (s *taggedSink) WriteOpus(f []byte) error {
	// Recorded first: a listener may report the frame before WriteOpus returns.
	s.mu.Lock()
	s.frames = append(s.frames, bytes.Clone(f))
	s.tags = append(s.tags, tagNone)
	s.at = append(s.at, time.Now())
	i := len(s.frames) - 1
	s.mu.Unlock()
	err := s.c.WriteOpus(f)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.frames, s.tags, s.at = s.frames[:i], s.tags[:i], s.at[:i]
		return err
	}
	s.tags[i] = s.tag.lastTag()
	return nil
}

func (s *taggedSink) snapshot() (frames [][]byte, tags []int, at []time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.frames), slices.Clone(s.tags), slices.Clone(s.at)
}

// churnPeer is one @discordjs/voice process in the churn: a user's connection.
type churnPeer struct {
	name        string
	user        string
	node        *nodetest.Process
	events      chan djsEvent
	transitions map[int]bool // transitions it executed (so keys it holds)
	heard       map[int]bool // indexes of the bot's frames it decrypted
	cut         int          // frames before this index count; -1 while in the call
	exited      bool
	invalid     int   // op 31 it sent
	errors      int   // receive errors discord.js reported
	raw         []int // indexes of frames discord.js passed through undecrypted
}

func startChurnPeer(ctx context.Context, t *testing.T, srv *voicetest.Server, ca, user, name string) *churnPeer {
	t.Helper()
	g := srv.Grant(guildID, channelID, user, "sess-"+name)
	env := []string{"NODE_EXTRA_CA_CERTS=" + ca, "DJS_WAIT_JOIN=1"}
	if testing.Verbose() && os.Getenv("DAVE_DEBUG") != "" {
		env = append(env, "DEBUG=1")
	}
	node := nodetest.Start(ctx, t, "discordjs-voice-dave.mjs", env, g.Endpoint, guildID, user, g.SessionID, g.Token, channelID, botID)
	p := &churnPeer{name: name, user: user, node: node, events: make(chan djsEvent, 8192),
		transitions: map[int]bool{}, heard: map[int]bool{}, cut: -1}
	go func() { // ends when the peer's stdout does (nodetest's cleanup sees to that)
		defer close(p.events)
		for line := range node.Lines() {
			var e djsEvent
			if json.Unmarshal(line, &e) == nil {
				p.events <- e
			}
		}
	}()
	t.Cleanup(func() { _ = node.WriteLine("exit") })
	return p
}

// loaded waits until the client has loaded and waits for "join".
func (p *churnPeer) loaded(ctx context.Context, t *testing.T) {
	t.Helper()
	for {
		select {
		case e, ok := <-p.events:
			if !ok {
				t.Fatalf("%s exited while loading", p.name)
			}
			if e.Event == "loaded" {
				return
			}
		case <-ctx.Done():
			t.Fatalf("%s loading: %v", p.name, ctx.Err())
		}
	}
}

// churn is the bookkeeping of TestDAVEChurnDiscordJS.
type churn struct {
	t      *testing.T
	srv    *voicetest.Server
	sink   *taggedSink
	first  int // RTP sequence of frame 0, -1 until known
	maxLag time.Duration
}

// take applies one event of p.
func (c *churn) take(p *churnPeer, e djsEvent) {
	c.t.Helper()
	switch e.Event {
	case "transitioned":
		if e.ID > 0 {
			p.transitions[e.ID] = true
		}
	case "invalid":
		p.invalid++
	case "receive_error":
		p.errors++
	case "raw":
		if c.first >= 0 {
			p.raw = append(p.raw, int(uint16(e.Seq)-uint16(c.first)))
		}
	case "frame":
		if c.first < 0 {
			fs := c.srv.Frames(botID)
			if len(fs) == 0 {
				c.t.Fatalf("%s reported a frame the server never relayed", p.name)
			}
			c.first = int(fs[0].Sequence)
		}
		frames, _, at := c.sink.snapshot()
		i := int(uint16(e.Seq) - uint16(c.first))
		b, err := hex.DecodeString(e.Opus)
		if err != nil || i >= len(frames) || !bytes.Equal(frames[i], b) {
			c.t.Fatalf("%s got %s as RTP seq %d: not what the bot sent", p.name, e.Opus, e.Seq)
		}
		p.heard[i] = true
		heardAt := time.UnixMilli(int64(e.T))
		c.maxLag = max(c.maxLag, heardAt.Sub(at[i]))
	}
}

// pump applies the events p has reported so far.
func (c *churn) pump(p *churnPeer) {
	for e := range drain(p.events) {
		c.take(p, e)
	}
}

// inGroup reports whether p executed a transition (and so decrypts the bot).
func (p *churnPeer) inGroup() bool { return len(p.transitions) > 0 }

// leave makes p leave the call: every frame the bot sent before now counts
// for it, so it first waits (bounded by the delivery lag seen so far) until p
// has reported a frame sent after now (or the last one, once the bot is
// done), then tells it to exit.
func (c *churn) leave(ctx context.Context, p *churnPeer, done bool) {
	c.t.Helper()
	_, tags, _ := c.sink.snapshot()
	p.cut = len(tags)
	need := p.cut
	for done && need > 0 && tags[need-1] == tagSilence {
		need-- // the reply's closing silence: discord.js yields no frame for it
	}
	if done {
		need--
	}
	wait := max(time.Second, 10*c.maxLag)
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	caughtUp := false
	for i := range p.heard {
		caughtUp = caughtUp || i >= need
	}
	for !caughtUp {
		select {
		case e, ok := <-p.events:
			if !ok {
				c.t.Fatalf("%s exited before leaving", p.name)
			}
			c.take(p, e)
			if e.Event == "frame" {
				caughtUp = int(uint16(e.Seq)-uint16(c.first)) >= need
			}
		case <-deadline.C:
			last := -1
			for i := range p.heard {
				last = max(last, i)
			}
			c.t.Logf("%s: no frame from index %d on arrived within %v (last heard %d of %d); leaving anyway", p.name, need, wait, last, len(tags))
			caughtUp = true
		case <-ctx.Done():
			c.t.Fatalf("%s leaving: %v", p.name, ctx.Err())
		}
	}
	_ = p.node.WriteLine("exit")
	p.exited = true
}

// TestDAVEChurnDiscordJS: real @discordjs/voice clients (MLS by
// @snazzah/davey) join and leave the call every few hundred ms while the bot
// speaks, one user leaves and comes back on a new connection, and the bot
// itself is thrown out with 4006 and comes back on a new session. Every
// member hears at least 99 % of the bot's frames sent while it was in the
// group: the frames sent under the keys of the transitions it executed,
// before it left.
func TestDAVEChurnDiscordJS(t *testing.T) {
	nodetest.Require(t)
	es := voicetest.NewExternalSender()
	srv := voicetest.NewServer(t, voicetest.Options{DAVE: es, RequireDAVE: true})
	ctx := testCtx(t, 55*time.Second)
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, srv.CertPEM(), 0o600); err != nil {
		t.Fatal(err)
	}

	d, err := voice.NewDAVE(snowflake(t, botID), snowflake(t, channelID), nil)
	if err != nil {
		t.Fatal(err)
	}
	tagger := newSendTagger(d)
	rejoins := 0
	bot := dial(t, srv, botID, func(c *voice.Config) {
		c.E2EE = tagger
		c.Rejoin = func(ctx context.Context) (voice.Server, error) {
			rejoins++
			return srv.Grant(guildID, channelID, botID, fmt.Sprintf("sess-%s-%d", botID, rejoins)), nil
		}
	})
	sink := &taggedSink{c: bot, tag: tagger}
	c := &churn{t: t, srv: srv, sink: sink, first: -1}

	// The connections, warmed up before the churn (loading Node, davey and
	// opusscript takes seconds on a busy machine; joining takes milliseconds):
	// two members to start with, one per "+" step, and the first member's
	// user again for "r".
	// Leaves go oldest first, so with three or four members in the call
	// each stays a few seconds (a hundred frames and more): 99 % is then a
	// loss of at most one frame in a hundred, not zero.
	steps := []string{"+", "+", "-", "+", "-", "r", "-", "4006", "+", "-", "+", "-", "-"}
	users := []string{"200000000000000011", "200000000000000012", "200000000000000013", "200000000000000014",
		"200000000000000015", "200000000000000016", "200000000000000017"}
	var pool []*churnPeer
	for i, u := range users {
		pool = append(pool, startChurnPeer(ctx, t, srv, ca, u, fmt.Sprintf("%s#%d", u[len(u)-2:], i)))
	}
	again := startChurnPeer(ctx, t, srv, ca, users[0], fmt.Sprintf("%s#again", users[0][len(users[0])-2:]))
	for _, q := range append(pool, again) {
		q.loaded(ctx, t)
	}
	var peers []*churnPeer // joined, in order
	join := func(q *churnPeer) {
		if err := q.node.WriteLine("join"); err != nil {
			t.Fatal(err)
		}
		peers = append(peers, q)
	}
	// The bot speaks before anyone joins: a member learns its SSRC (op 5)
	// right after its op 4, long before it is in the group.
	if err := bot.SetSpeaking(ctx, true); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.WaitMemberState(ctx, botID, func(m voicetest.MemberState) bool { return m.Speaking }); err != nil {
		t.Fatal(err)
	}
	join(pool[0])
	join(pool[1])
	pool = pool[2:]
	inGroup(ctx, t, es, []string{botID, users[0], users[1]}, d)

	p, err := player.New(ctx, sink, player.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	const reply = 16 * time.Second
	streamFor(ctx, t, p, reply) // buffered ahead; the player paces it
	if _, err := srv.WaitFrames(ctx, botID, func(f []voicetest.Frame) bool { return len(f) >= 100 }); err != nil {
		t.Fatal(err)
	}

	// The churn: one step every 400 ms. "+" joins a new user, "-" makes the
	// oldest member in the group leave, "r" brings the first user to leave
	// back on a new connection, "4006" throws the bot out.
	tick := time.NewTicker(400 * time.Millisecond)
	defer tick.Stop()
	for _, step := range steps {
		select {
		case <-tick.C:
		case <-ctx.Done():
			t.Fatal(ctx.Err())
		}
		for _, q := range peers {
			if !q.exited {
				c.pump(q)
			}
		}
		if testing.Verbose() {
			e, _ := d.Epoch()
			var ps []string
			for _, q := range peers {
				if !q.exited {
					ps = append(ps, fmt.Sprintf("%s:%v/%d", q.name, slices.Sorted(maps.Keys(q.transitions)), len(q.heard)))
				}
			}
			t.Logf("step %s: bot epoch %d ready %v; gateway %+v; peers %v", step, e, d.Ready(), es.State(call), ps)
		}
		switch step {
		case "+":
			join(pool[0])
			pool = pool[1:]
		case "r":
			if peers[0].exited {
				join(again)
			}
		case "-":
			for _, q := range peers {
				if !q.exited && q.inGroup() {
					c.leave(ctx, q, false)
					break
				}
			}
		case "4006":
			if err := srv.ForceClose(botID, 4006); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := p.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	// The reply is over: every member still in the call leaves after the
	// last frame (silence, heard by anyone) reached it.
	for _, q := range peers {
		if !q.exited {
			c.pump(q)
			c.leave(ctx, q, true)
		}
	}

	_, tags, _ := sink.snapshot()
	// Frames the SFU never relayed (sent into a session the 4006 had just
	// closed) reached nobody: they do not count.
	relayed := map[uint16]bool{}
	for _, f := range srv.Frames(botID) {
		relayed[f.Sequence] = true
	}
	st := es.State(call)
	t.Logf("churn: %d connections, %d bot frames, %d bot rejoins, epoch %d, %d commits (%d dropped), %d transitions (%d timed out), %d op-31 reports, %d group restarts, %d sole resets, max delivery lag %v",
		len(peers), len(tags), rejoins, st.Epoch, st.Commits, st.Dropped, st.Executed, st.TimedOut, st.Invalid, st.GroupResets, st.SoleResets, c.maxLag)
	if rejoins == 0 {
		t.Error("the bot never came back on a new session after 4006")
	}
	for _, q := range peers {
		var want, got int
		var missed []string
		for i := 0; i < q.cut && i < len(tags); i++ {
			if tags[i] == tagSilence || !q.transitions[tags[i]] || !relayed[uint16(c.first+i)] {
				continue
			}
			want++
			if q.heard[i] {
				got++
			} else if len(missed) < 10 {
				var by []string
				for _, o := range peers {
					if o.heard[i] {
						by = append(by, o.name)
					}
				}
				missed = append(missed, fmt.Sprintf("%d(t%d, heard by %v)", i, tags[i], by))
			}
		}
		if len(missed) > 0 {
			t.Logf("%s missed %v of frames up to %d", q.name, missed, q.cut)
		}
		t.Logf("%s: in transitions %v, heard %d of the %d frames sent under them (%d op 31, %d receive errors, undecrypted: %v)",
			q.name, slices.Sorted(maps.Keys(q.transitions)), got, want, q.invalid, q.errors, q.raw)
		if !q.inGroup() {
			continue // left (or the reply ended) before its Welcome: nothing was meant for it
		}
		if want == 0 || got*100 < want*99 {
			t.Errorf("%s heard %d of %d frames sent while it was in the group (< 99 %%)", q.name, got, want)
		}
	}
	if v := srv.Violations(); len(v) > 0 {
		t.Errorf("protocol violations: %v", v)
	}
}
