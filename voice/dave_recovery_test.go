package voice_test

import (
	"context"
	"encoding/binary"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/livecord/livecord/voice"
	"github.com/livecord/livecord/voice/internal/wire"
	"github.com/livecord/livecord/voice/mls"
	"github.com/livecord/livecord/voice/voicetest"
)

// recordWriter keeps what the DAVE layer sends to the gateway.
type recordWriter struct {
	mu  sync.Mutex
	ops []wire.Op
}

func (w *recordWriter) WriteMessage(_ context.Context, m wire.Message) error {
	w.mu.Lock()
	w.ops = append(w.ops, m.Op)
	w.mu.Unlock()
	return nil
}

func (w *recordWriter) sent(op wire.Op) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for _, o := range w.ops {
		if o == op {
			n++
		}
	}
	return n
}

// TestDAVEUsersAnnouncedBeforeSessionDescription: the voice server announces
// the users already in the call (op 11) before it selects the protocol
// (op 4), an order @discordjs/voice accepts. Op 4 starts a new DAVE session;
// the announced user must still be recognised, so the gateway's Add proposal
// for them is committed (op 28), not refused.
func TestDAVEUsersAnnouncedBeforeSessionDescription(t *testing.T) {
	const bot, friend, channel = 11, 12, 13
	d, err := voice.NewDAVE(bot, channel, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	w := &recordWriter{}
	handle := func(m wire.Message) {
		t.Helper()
		if err := d.HandleMessage(ctx, m, w); err != nil {
			t.Fatalf("op %d: %v", m.Op, err)
		}
	}
	gwKey, err := mls.GenerateSignatureKey()
	if err != nil {
		t.Fatal(err)
	}
	es := mls.ExternalSender{SignatureKey: gwKey.PublicKey(), Identity: []byte{0, 1, 1, 0}}
	handle(wire.Message{Op: wire.OpClientsConnect, Data: []byte(`{"user_ids":["12"]}`)})
	handle(wire.Message{Op: wire.OpSessionDescription, Data: []byte(`{"mode":"aead_aes256_gcm_rtpsize","dave_protocol_version":1}`)})
	handle(wire.Message{Op: wire.OpDAVEMLSExternalSender, Binary: true, Payload: es.Marshal()})
	if w.sent(wire.OpDAVEMLSKeyPackage) != 1 {
		t.Fatalf("sent %v, want one key package", w.ops)
	}
	sk, err := mls.GenerateSignatureKey()
	if err != nil {
		t.Fatal(err)
	}
	kp, _, err := mls.NewKeyPackage(binary.BigEndian.AppendUint64(nil, friend), sk, mls.KeyPackageOptions{})
	if err != nil {
		t.Fatal(err)
	}
	add, err := mls.ExternalAddProposal(binary.BigEndian.AppendUint64(nil, channel), 0, gwKey, kp)
	if err != nil {
		t.Fatal(err)
	}
	payload := append([]byte{0, 0x40 | byte(len(add)>>8), byte(len(add))}, add...)
	if err := d.HandleMessage(ctx, wire.Message{Op: wire.OpDAVEMLSProposals, Binary: true, Payload: payload}, w); err != nil {
		t.Fatalf("Add of the user announced before op 4: %v", err)
	}
	if w.sent(wire.OpDAVEMLSCommitWelcome) != 1 {
		t.Fatalf("sent %v, want the commit adding the announced user (op 28)", w.ops)
	}
}

// TestDAVEWelcomeWatchdog: the voice server loses the bot's key packages, so
// nobody ever proposes it for the group. After the welcome timeout the bot
// sends a fresh key package (also lost here), after another it reports that
// it was never welcomed (OnNotWelcomed), and the connection starts a new
// voice session, wired as documented (Conn.ServerUpdate), whose key package
// gets it into the group.
func TestDAVEWelcomeWatchdog(t *testing.T) {
	es := voicetest.NewExternalSender()
	srv := voicetest.NewServer(t, voicetest.Options{DAVE: es})
	ctx := testCtx(t, 30*time.Second)
	_, ud := daveDial(t, srv, userID)
	if _, err := es.WaitState(ctx, call, func(s voicetest.DAVEState) bool { return s.KeyPackages == 1 }); err != nil {
		t.Fatal(err)
	}
	if err := es.LoseKeyPackages(call, botID, 2); err != nil {
		t.Fatal(err)
	}
	d, err := voice.NewDAVE(snowflake(t, botID), snowflake(t, channelID), nil)
	if err != nil {
		t.Fatal(err)
	}
	const wait = 1500 * time.Millisecond
	d.SetWelcomeTimeout(wait)
	notWelcomed := make(chan time.Time, 4)
	d.OnNotWelcomed(func() { notWelcomed <- time.Now() })
	start := time.Now()
	bot := dial(t, srv, botID, func(c *voice.Config) { c.E2EE = d })
	st, err := es.WaitState(ctx, call, func(s voicetest.DAVEState) bool { return s.Lost == 2 })
	if err != nil {
		t.Fatal(err)
	}
	if st.Epoch != 0 && slices.Contains(st.Roster, botID) {
		t.Fatalf("the bot got into the group without a key package: %+v", st)
	}
	var at time.Time
	select {
	case at = <-notWelcomed:
	case <-ctx.Done():
		t.Fatalf("never told that the bot was not welcomed: %v", ctx.Err())
	}
	if took := at.Sub(start); took < 2*wait {
		t.Fatalf("gave up after %v, before two welcome timeouts (%v)", took, 2*wait)
	}
	bot.ServerUpdate(srv.Grant(guildID, channelID, botID, "sess-"+botID+"-again"))
	st = inGroup(ctx, t, es, []string{botID, userID}, d, ud)
	t.Logf("not welcomed after %v (timeout %v, 2 key packages lost); in the group at epoch %d after a new voice session",
		at.Sub(start).Round(time.Millisecond), wait, st.Epoch)
	select {
	case at := <-notWelcomed:
		t.Fatalf("told again at %v, once in the group", at.Sub(start))
	default:
	}
}
