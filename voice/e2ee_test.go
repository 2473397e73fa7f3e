package voice_test

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/livecord/livecord/voice/internal/wire"

	"github.com/livecord/livecord/voice"
	"github.com/livecord/livecord/voice/voicetest"
)

// xorE2EE stands in for DAVE: it records the gateway messages it is handed,
// answers op 4 with a binary op 26, and transforms frames reversibly.
type xorE2EE struct {
	mu      sync.Mutex
	ops     []wire.Message
	ready   bool
	gotOp30 chan wire.Message
}

func (x *xorE2EE) MaxProtocolVersion() int { return 1 }

func (x *xorE2EE) HandleMessage(ctx context.Context, m wire.Message, g voice.GatewayWriter) error {
	x.mu.Lock()
	x.ops = append(x.ops, m)
	x.mu.Unlock()
	switch m.Op {
	case wire.OpSessionDescription:
		return g.WriteMessage(ctx, wire.Message{Op: wire.OpDAVEMLSKeyPackage, Binary: true, Payload: []byte("key package")})
	case wire.OpDAVEMLSWelcome:
		x.mu.Lock()
		x.ready = true
		x.mu.Unlock()
		x.gotOp30 <- m
		return g.WriteMessage(ctx, mustMessage(wire.OpDAVETransitionReady, wire.DAVETransition{TransitionID: 3}))
	}
	return nil
}

var errNotReady = errors.New("no group yet")

func (x *xorE2EE) EncryptOpus(dst, opus []byte) ([]byte, error) {
	x.mu.Lock()
	ready := x.ready
	x.mu.Unlock()
	if !ready {
		return nil, errNotReady
	}
	for _, b := range opus {
		dst = append(dst, b^0x5a)
	}
	return append(dst, 0xfa, 0xfa), nil
}

func (x *xorE2EE) DecryptOpus(dst []byte, user string, frame []byte) ([]byte, error) {
	if len(frame) < 2 || !bytes.HasSuffix(frame, []byte{0xfa, 0xfa}) {
		return nil, errors.New("no marker")
	}
	for _, b := range frame[:len(frame)-2] {
		dst = append(dst, b^0x5a)
	}
	return dst, nil
}

func mustMessage(op wire.Op, v any) wire.Message {
	m, err := wire.NewMessage(op, v)
	if err != nil {
		panic(err)
	}
	return m
}

// gatewayDAVE records what the emulator's DAVE hooks see.
type gatewayDAVE struct {
	mu     sync.Mutex
	maxVer []int
	client chan wire.Message
	joined chan string
}

func (g *gatewayDAVE) ProtocolVersion(max int) int {
	g.mu.Lock()
	g.maxVer = append(g.maxVer, max)
	g.mu.Unlock()
	return min(max, 1)
}
func (g *gatewayDAVE) Joined(call voicetest.CallID, user string) { g.joined <- user }
func (g *gatewayDAVE) Left(voicetest.CallID, string)             {}
func (g *gatewayDAVE) ClientMessage(_ voicetest.CallID, _ string, m wire.Message) {
	g.client <- m
}

func TestE2EEHooks(t *testing.T) {
	gd := &gatewayDAVE{client: make(chan wire.Message, 16), joined: make(chan string, 4)}
	srv := voicetest.NewServer(t, voicetest.Options{DAVE: gd})
	ctx := testCtx(t, 10*time.Second)
	e := &xorE2EE{gotOp30: make(chan wire.Message, 1)}
	bot := dial(t, srv, botID, func(c *voice.Config) { c.E2EE = e })
	listener := dial(t, srv, userID, func(c *voice.Config) { c.E2EE = &xorE2EE{ready: true} })

	// identify carried the E2EE's version; op 26 arrived as a binary frame.
	kp := <-gd.client
	if !kp.Binary || kp.Op != wire.OpDAVEMLSKeyPackage || string(kp.Payload) != "key package" {
		t.Fatalf("client op %+v", kp)
	}
	if gd.maxVer[0] != 1 {
		t.Fatalf("max_dave_protocol_version %v", gd.maxVer)
	}
	// Before the group exists the frame is dropped, not sent in the clear.
	if err := bot.SetSpeaking(ctx, true); err != nil {
		t.Fatal(err)
	}
	if err := bot.WriteOpus([]byte("early")); !errors.Is(err, errNotReady) {
		t.Fatalf("write before ready: %v", err)
	}
	// A binary server op (with the server's seq prefix) reaches the E2EE; its
	// JSON reply reaches the gateway's DAVE hook.
	if err := srv.Send(voicetest.CallID{GuildID: guildID, ChannelID: channelID}, botID,
		wire.Message{Op: wire.OpDAVEMLSWelcome, Binary: true, Payload: []byte{0, 3, 1, 2}}); err != nil {
		t.Fatal(err)
	}
	w := <-e.gotOp30
	if w.Seq < 1 || !bytes.Equal(w.Payload, []byte{0, 3, 1, 2}) {
		t.Fatalf("op 30 as received: %+v", w)
	}
	for r := range gd.client { // the listener's own op 26 may come first
		if r.Op == wire.OpDAVEMLSKeyPackage {
			continue
		}
		if r.Op != wire.OpDAVETransitionReady || r.Binary {
			t.Fatalf("reply %+v", r)
		}
		break
	}
	if err := bot.WriteOpus([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	fs, err := srv.WaitFrames(ctx, botID, func(f []voicetest.Frame) bool { return len(f) == 1 })
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(fs[0].Payload, []byte("hello")) || !bytes.HasSuffix(fs[0].Payload, []byte{0xfa, 0xfa}) {
		t.Fatalf("the server saw %q: not transformed", fs[0].Payload)
	}
	// The listener's E2EE undoes it per user.
	f, err := listener.ReadFrame(ctx)
	if err != nil || string(f.Opus) != "hello" || f.UserID != botID {
		t.Fatalf("listener got %q from %q: %v", f.Opus, f.UserID, err)
	}
	// The bot's E2EE saw op 2 then op 4 first, and the listener's arrival (op 11).
	for {
		e.mu.Lock()
		var ops []wire.Op
		for _, m := range e.ops {
			ops = append(ops, m.Op)
		}
		e.mu.Unlock()
		// Ready first (a new session's users follow), then the session description.
		if len(ops) < 2 || ops[0] != wire.OpReady || ops[1] != wire.OpSessionDescription {
			t.Fatalf("E2EE saw ops %v", ops)
		}
		if slices.Contains(ops, wire.OpClientsConnect) {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("E2EE saw ops %v, no op 11", ops)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestDropPacketsHook(t *testing.T) {
	srv := voicetest.NewServer(t, voicetest.Options{})
	ctx := testCtx(t, 10*time.Second)
	bot := dial(t, srv, botID, nil)
	bot.SetSpeaking(ctx, true)
	srv.DropPackets(func(user string, seq uint16) bool { return seq%2 == 0 })
	for i := range 10 {
		if err := bot.WriteOpus(opusLike(i)); err != nil {
			t.Fatal(err)
		}
	}
	// Two markers: one has an odd sequence number and gets through, after
	// everything before it (loopback UDP keeps order).
	bot.WriteOpus([]byte("marker"))
	bot.WriteOpus([]byte("marker"))
	fs, err := srv.WaitFrames(ctx, botID, func(f []voicetest.Frame) bool { return len(f) > 0 && string(f[len(f)-1].Payload) == "marker" })
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fs {
		if f.Sequence%2 == 0 {
			t.Fatalf("dropped packet %d recorded", f.Sequence)
		}
	}
	if len(fs) != 6 {
		t.Fatalf("%d frames recorded, want 5 of 10 plus a marker", len(fs))
	}
}
