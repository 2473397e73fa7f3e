package voice_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/livecord/livecord/voice/player"

	"github.com/livecord/livecord/voice/internal/wire"

	"github.com/livecord/livecord/voice"
	"github.com/livecord/livecord/voice/voicetest"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const (
	guildID   = "100000000000000001"
	channelID = "100000000000000002"
	botID     = "100000000000000003"
	userID    = "100000000000000004"
)

// dial connects user to srv's call, granting a fresh session.
func dial(t *testing.T, srv *voicetest.Server, user string, mut func(*voice.Config)) *voice.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cfg := voice.Config{
		Server:    srv.Grant(guildID, channelID, user, "sess-"+user),
		UserID:    user,
		GuildID:   guildID,
		ChannelID: channelID,
		TLSConfig: srv.ClientTLS(),
	}
	if mut != nil {
		mut(&cfg)
	}
	c, err := voice.Dial(ctx, cfg)
	if err != nil {
		t.Fatalf("dial %s: %v", user, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// newPlayer starts a default Player sending to sink and closes it when the
// test ends (before the connections dialled earlier: cleanups run last-first).
func newPlayer(ctx context.Context, t *testing.T, sink player.Sink) *player.Player {
	t.Helper()
	p, err := player.New(ctx, sink, player.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func testCtx(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func opusLike(i int) []byte {
	return []byte(fmt.Sprintf("frame-%04d-%s", i, bytes.Repeat([]byte{'x'}, i%40)))
}

func TestConnSendsAndRelays(t *testing.T) {
	for _, mode := range wire.SupportedModes {
		t.Run(mode, func(t *testing.T) {
			srv := voicetest.NewServer(t, voicetest.Options{Modes: []string{mode}, HeartbeatInterval: 200 * time.Millisecond})
			ctx := testCtx(t, 10*time.Second)
			bot := dial(t, srv, botID, nil)
			user := dial(t, srv, userID, nil)
			if bot.Mode() != mode {
				t.Fatalf("mode %q, want %q", bot.Mode(), mode)
			}
			if err := bot.SetSpeaking(ctx, true); err != nil {
				t.Fatal(err)
			}
			const n = 20
			for i := range n {
				if err := bot.WriteOpus(opusLike(i)); err != nil {
					t.Fatal(err)
				}
			}
			fs, err := srv.WaitFrames(ctx, botID, func(f []voicetest.Frame) bool { return len(f) >= n })
			if err != nil {
				t.Fatal(err)
			}
			for i, f := range fs {
				if !bytes.Equal(f.Payload, opusLike(i)) {
					t.Fatalf("frame %d = %q", i, f.Payload)
				}
				if i > 0 && (f.Sequence != fs[i-1].Sequence+1 || f.Timestamp != fs[i-1].Timestamp+wire.FrameSamples) {
					t.Fatalf("frame %d: seq %d ts %d after seq %d ts %d", i, f.Sequence, f.Timestamp, fs[i-1].Sequence, fs[i-1].Timestamp)
				}
				if f.SSRC != bot.SSRC() {
					t.Fatalf("ssrc %d, want %d", f.SSRC, bot.SSRC())
				}
			}
			// The other member receives them relayed, re-encrypted with its key, attributed to the bot.
			for i := range n {
				f, err := user.ReadFrame(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(f.Opus, opusLike(i)) || f.UserID != botID {
					t.Fatalf("relayed frame %d = %q from %q", i, f.Opus, f.UserID)
				}
			}
			// Heartbeats at 200 ms keep the session alive past the 500 ms timeout.
			if _, err := srv.WaitMemberState(ctx, botID, func(s voicetest.MemberState) bool { return s.Heartbeats >= 5 }); err != nil {
				t.Fatal(err)
			}
			if st, _ := srv.Member(botID); st.Resumes != 0 || st.SSRC != bot.SSRC() {
				t.Fatalf("session changed: %+v", st)
			}
			if err := bot.WriteOpus(opusLike(99)); err != nil {
				t.Fatal(err)
			}
			if _, err := srv.WaitFrames(ctx, botID, func(f []voicetest.Frame) bool { return len(f) > n }); err != nil {
				t.Fatal(err)
			}
			if bot.Err() != nil {
				t.Fatal(bot.Err())
			}
		})
	}
}

func TestConnRTPBeforeSpeakingIsAViolation(t *testing.T) {
	srv, err := voicetest.New(voicetest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	ctx := testCtx(t, 10*time.Second)
	bot := dial(t, srv, botID, nil)
	if err := bot.WriteOpus(opusLike(1)); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.WaitFrames(ctx, botID, func(f []voicetest.Frame) bool { return len(f) == 1 }); err != nil {
		t.Fatal(err)
	}
	if v, err := srv.WaitViolations(ctx, 1); err != nil || len(v) != 1 {
		t.Fatalf("violations %q, want one for RTP before speaking", v)
	}
}

func TestConnResumes(t *testing.T) {
	for _, code := range []int{4015, 1001} { // voice server crashed; a transport close
		t.Run(fmt.Sprint(code), func(t *testing.T) {
			srv := voicetest.NewServer(t, voicetest.Options{})
			ctx := testCtx(t, 10*time.Second)
			bot := dial(t, srv, botID, nil)
			if err := bot.SetSpeaking(ctx, true); err != nil {
				t.Fatal(err)
			}
			ssrc := bot.SSRC()
			if err := srv.ForceClose(botID, websocketCode(code)); err != nil {
				t.Fatal(err)
			}
			// UDP keeps flowing while the gateway resumes; every frame arrives.
			for i := range 30 {
				if err := bot.WriteOpus(opusLike(i)); err != nil {
					t.Fatal(err)
				}
				time.Sleep(5 * time.Millisecond)
			}
			if _, err := srv.WaitFrames(ctx, botID, func(f []voicetest.Frame) bool { return len(f) == 30 }); err != nil {
				t.Fatal(err)
			}
			// The resumed gateway works: a second member's op 5 reaches us.
			other := dial(t, srv, userID, nil)
			other.SetSpeaking(ctx, true)
			other.WriteOpus(opusLike(1))
			if f, err := bot.ReadFrame(ctx); err != nil || f.UserID != userID {
				t.Fatalf("after resume: frame from %q, %v", f.UserID, err)
			}
			if bot.SSRC() != ssrc || bot.Err() != nil {
				t.Fatalf("after resume: ssrc %d (was %d), err %v", bot.SSRC(), ssrc, bot.Err())
			}
		})
	}
}

func TestConnStopsOn4014(t *testing.T) {
	srv := voicetest.NewServer(t, voicetest.Options{})
	ctx := testCtx(t, 10*time.Second)
	bot := dial(t, srv, botID, nil)
	srv.Disconnect(guildID, botID)
	select {
	case <-bot.Done():
	case <-ctx.Done():
		t.Fatal("conn did not stop after 4014")
	}
	var ce *voice.CloseError
	if !errors.As(bot.Err(), &ce) || ce.Code != 4014 || ce.Action != wire.ActionStop {
		t.Fatalf("err = %v, want 4014 stop", bot.Err())
	}
	if err := bot.WriteOpus(opusLike(0)); !errors.Is(err, voice.ErrClosed) {
		t.Fatalf("write after stop: %v", err)
	}
}

// TestConnWriteRacingStop repeats a writer sending as fast as it can while
// the connection stops, by a 4014 from the server or by Close: every write
// that fails must fail with ErrClosed (never the socket's raw "use of closed
// network connection", nor ErrNotConnected, which means "reconnecting"), and
// every write after Done must fail so.
func TestConnWriteRacingStop(t *testing.T) {
	srv := voicetest.NewServer(t, voicetest.Options{})
	const rounds = 60
	for i := range rounds {
		bot := dial(t, srv, botID, nil)
		var (
			first     error
			sent      int
			afterDone int
		)
		writing := make(chan struct{})
		finished := make(chan struct{})
		go func() {
			defer close(finished)
			for n := 0; ; n++ {
				err := bot.WriteOpus(opusLike(n))
				if n == 0 {
					close(writing)
				}
				if err == nil {
					sent++
					continue
				}
				if first == nil {
					first = err
				}
				if !errors.Is(err, voice.ErrClosed) {
					first = err
					return
				}
				select {
				case <-bot.Done():
					if afterDone++; afterDone == 3 {
						return
					}
				default:
				}
			}
		}()
		<-writing
		if i%2 == 0 {
			srv.Disconnect(guildID, botID)
		} else {
			bot.Close()
		}
		<-finished
		if !errors.Is(first, voice.ErrClosed) {
			t.Fatalf("round %d (%s): a write racing the stop returned %v, want voice.ErrClosed (after %d frames sent)",
				i, map[bool]string{true: "4014", false: "Close"}[i%2 == 0], first, sent)
		}
		if afterDone != 3 {
			t.Fatalf("round %d: writer ended before three writes after Done", i)
		}
		bot.Close()
	}
}

func TestConnNewSessionAfter4006(t *testing.T) {
	srv := voicetest.NewServer(t, voicetest.Options{})
	ctx := testCtx(t, 10*time.Second)
	rejoins := 0
	bot := dial(t, srv, botID, func(c *voice.Config) {
		c.Rejoin = func(ctx context.Context) (voice.Server, error) {
			rejoins++
			return srv.Grant(guildID, channelID, botID, fmt.Sprintf("sess-%s-%d", botID, rejoins)), nil
		}
	})
	if err := bot.SetSpeaking(ctx, true); err != nil {
		t.Fatal(err)
	}
	old := bot.SSRC()
	if err := srv.ForceClose(botID, 4006); err != nil {
		t.Fatal(err)
	}
	// Frames are refused until the new session is ready, then flow on the
	// new SSRC. (A write may still take the old link while the close is
	// being noticed, and the server drops it: keep writing until a frame on
	// the new SSRC is in.)
	newFrame := func(f []voicetest.Frame) bool { return len(f) > 0 && f[len(f)-1].SSRC != old }
	for !newFrame(srv.Frames(botID)) {
		err := bot.WriteOpus(opusLike(7))
		if ctx.Err() != nil {
			t.Fatalf("no new session: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	fs := srv.Frames(botID)
	if rejoins != 1 || fs[len(fs)-1].SSRC != bot.SSRC() {
		t.Fatalf("rejoins %d, last ssrc %d, conn ssrc %d", rejoins, fs[len(fs)-1].SSRC, bot.SSRC())
	}
}

func TestConnWithoutRejoinEndsOn4006(t *testing.T) {
	srv := voicetest.NewServer(t, voicetest.Options{})
	ctx := testCtx(t, 10*time.Second)
	bot := dial(t, srv, botID, nil)
	srv.ForceClose(botID, 4006)
	select {
	case <-bot.Done():
	case <-ctx.Done():
		t.Fatal("conn did not end")
	}
	var ce *voice.CloseError
	if !errors.As(bot.Err(), &ce) || ce.Action != wire.ActionNewSession {
		t.Fatalf("err = %v, want a new-session close error", bot.Err())
	}
}

func TestDialBadTokenFails(t *testing.T) {
	srv := voicetest.NewServer(t, voicetest.Options{})
	ctx := testCtx(t, 10*time.Second)
	_, err := voice.Dial(ctx, voice.Config{
		Server: voice.Server{Endpoint: srv.Endpoint(), Token: "wrong-token", SessionID: "s"},
		UserID: botID, GuildID: guildID, ChannelID: channelID, TLSConfig: srv.ClientTLS(),
	})
	var ce *voice.CloseError
	if !errors.As(err, &ce) || ce.Code != 4004 {
		t.Fatalf("err = %v, want 4004", err)
	}
	if bytes.Contains([]byte(err.Error()), []byte("wrong-token")) {
		t.Fatal("token leaked into the error")
	}
}

func TestConnHeartbeatsAckSeqAndResumeWhenUnanswered(t *testing.T) {
	srv := voicetest.NewServer(t, voicetest.Options{HeartbeatInterval: 100 * time.Millisecond})
	ctx := testCtx(t, 10*time.Second)
	bot := dial(t, srv, botID, nil)
	dial(t, srv, userID, nil) // op 11 to the bot: another sequenced message
	// Heartbeats acknowledge the last sequence number received.
	if _, err := srv.WaitMemberState(ctx, botID, func(s voicetest.MemberState) bool {
		return s.LastSeq >= 2 && s.LastSeqAck == s.LastSeq
	}); err != nil {
		t.Fatal(err)
	}
	// Three unanswered heartbeats: the Conn drops the socket and resumes.
	srv.MuteHeartbeatACKs(botID, true)
	if _, err := srv.WaitMemberState(ctx, botID, func(s voicetest.MemberState) bool { return s.Resumes >= 1 }); err != nil {
		t.Fatal(err)
	}
	srv.MuteHeartbeatACKs(botID, false)
	bot.SetSpeaking(ctx, true)
	if err := bot.WriteOpus(opusLike(1)); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.WaitFrames(ctx, botID, func(f []voicetest.Frame) bool { return len(f) == 1 }); err != nil {
		t.Fatal(err)
	}
	if bot.Err() != nil {
		t.Fatal(bot.Err())
	}
}

// TestConnServerUpdate: a later VOICE_SERVER_UPDATE moves the connection to
// another voice server (identify there, not resume).
func TestConnServerUpdate(t *testing.T) {
	a := voicetest.NewServer(t, voicetest.Options{})
	b := voicetest.NewServer(t, voicetest.Options{})
	ctx := testCtx(t, 10*time.Second)
	bot := dial(t, a, botID, func(c *voice.Config) { c.TLSConfig = &tls.Config{RootCAs: bothPools(a, b)} })
	if err := bot.SetSpeaking(ctx, true); err != nil {
		t.Fatal(err)
	}
	bot.ServerUpdate(b.Grant(guildID, channelID, botID, "sess-"+botID))
	if err := b.WaitMember(ctx, botID); err != nil {
		t.Fatal(err)
	}
	for bot.WriteOpus(opusLike(3)) != nil {
		if ctx.Err() != nil {
			t.Fatal("never ready on the new server")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if _, err := b.WaitFrames(ctx, botID, func(f []voicetest.Frame) bool { return len(f) > 0 }); err != nil {
		t.Fatal(err)
	}
}

// TestConnIgnoresUnknownOps: op codes the client does not know, as JSON or
// binary frames, are skipped (and still acknowledged through seq_ack); the
// connection carries on.
func TestConnIgnoresUnknownOps(t *testing.T) {
	srv := voicetest.NewServer(t, voicetest.Options{HeartbeatInterval: 50 * time.Millisecond})
	ctx := testCtx(t, 10*time.Second)
	bot := dial(t, srv, botID, nil)
	call := voicetest.CallID{GuildID: guildID, ChannelID: channelID}
	for _, m := range []wire.Message{
		{Op: 99, Data: json.RawMessage(`{"future":true}`)},
		{Op: 18, Data: json.RawMessage(`null`)},
		{Op: 77, Binary: true, Payload: []byte{0xde, 0xad}},
	} {
		if err := srv.Send(call, botID, m); err != nil {
			t.Fatal(err)
		}
	}
	st, _ := srv.Member(botID)
	sent := st.LastSeq
	for st.LastSeqAck < sent {
		select {
		case <-time.After(10 * time.Millisecond): // heartbeats come every 50 ms
		case <-ctx.Done():
			t.Fatalf("seq_ack stuck at %d, want %d: the unknown ops were not read past", st.LastSeqAck, sent)
		}
		st, _ = srv.Member(botID)
	}
	if err := bot.SetSpeaking(ctx, true); err != nil {
		t.Fatal(err)
	}
	if err := bot.WriteOpus(opusLike(1)); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.WaitFrames(ctx, botID, func(f []voicetest.Frame) bool { return len(f) == 1 }); err != nil {
		t.Fatal(err)
	}
	if bot.Err() != nil || len(srv.Violations()) != 0 {
		t.Fatalf("conn err %v, violations %v", bot.Err(), srv.Violations())
	}
}

// TestConnSendsKeepalives: the connection keeps its UDP mapping open with
// keepalive datagrams from the moment the link is up, before any audio.
func TestConnSendsKeepalives(t *testing.T) {
	srv := voicetest.NewServer(t, voicetest.Options{})
	ctx := testCtx(t, 10*time.Second)
	dial(t, srv, botID, nil)
	for {
		if st, _ := srv.Member(botID); st.Keepalives > 0 {
			return
		}
		select {
		case <-time.After(5 * time.Millisecond):
		case <-ctx.Done():
			t.Fatal("no UDP keepalive reached the voice server")
		}
	}
}
