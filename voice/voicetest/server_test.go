package voicetest_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/livecord/livecord/voice/internal/wire"

	"github.com/coder/websocket"
	"github.com/livecord/livecord/voice/voicetest"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// raw is a hand-driven gateway client for checking the server's answers.
type raw struct {
	t  *testing.T
	ws *websocket.Conn
}

func dialRaw(t *testing.T, ctx context.Context, srv *voicetest.Server) *raw {
	t.Helper()
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: srv.ClientTLS()}}
	ws, _, err := websocket.Dial(ctx, "wss://"+srv.Endpoint()+"/?v=8", &websocket.DialOptions{HTTPClient: client})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.CloseNow() })
	return &raw{t, ws}
}

func (r *raw) send(ctx context.Context, op wire.Op, d any) {
	r.t.Helper()
	m, err := wire.NewMessage(op, d)
	if err != nil {
		r.t.Fatal(err)
	}
	b, _ := m.MarshalClient()
	if err := r.ws.Write(ctx, websocket.MessageText, b); err != nil {
		r.t.Fatal(err)
	}
}

// next returns the next message, or the close code when the server closed.
func (r *raw) next(ctx context.Context) (wire.Message, websocket.StatusCode) {
	r.t.Helper()
	typ, b, err := r.ws.Read(ctx)
	if err != nil {
		return wire.Message{}, websocket.CloseStatus(err)
	}
	m, err := wire.ParseServerMessage(typ == websocket.MessageBinary, b)
	if err != nil {
		r.t.Fatal(err)
	}
	return m, -1
}

func (r *raw) expect(ctx context.Context, op wire.Op) wire.Message {
	r.t.Helper()
	for {
		m, code := r.next(ctx)
		if code != -1 {
			r.t.Fatalf("closed with %d while waiting for %s", code, op)
		}
		if m.Op == op {
			return m
		}
	}
}

func (r *raw) expectClose(ctx context.Context, want websocket.StatusCode) {
	r.t.Helper()
	for {
		_, code := r.next(ctx)
		if code == -1 {
			continue
		}
		if code != want {
			r.t.Fatalf("closed with %d, want %d", code, want)
		}
		return
	}
}

func TestHandshakeAndCloseCodes(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	srv, err := voicetest.New(voicetest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()

	g := srv.Grant("1", "2", "3", "sess")
	r := dialRaw(t, ctx, srv)
	var hello wire.Hello
	r.expect(ctx, wire.OpHello).Decode(&hello)
	if hello.HeartbeatInterval != 41250 {
		t.Fatalf("hello %+v", hello)
	}
	r.send(ctx, wire.OpIdentify, wire.Identify{ServerID: "1", UserID: "3", SessionID: "sess", Token: g.Token})
	var ready wire.Ready
	if err := r.expect(ctx, wire.OpReady).Decode(&ready); err != nil || ready.SSRC == 0 || ready.IP != "127.0.0.1" || len(ready.Modes) != 2 {
		t.Fatalf("ready %+v %v", ready, err)
	}
	r.send(ctx, wire.OpHeartbeat, wire.Heartbeat{T: 77, SeqAck: -1})
	var ack wire.HeartbeatACK
	if r.expect(ctx, wire.OpHeartbeatACK).Decode(&ack); ack.T != 77 {
		t.Fatalf("ack %+v", ack)
	}
	// A retired mode is refused with 4016, as Discord does since 2024-11-18.
	r.send(ctx, wire.OpSelectProtocol, wire.SelectProtocol{Protocol: "udp", Data: wire.SelectProtocolData{Address: "127.0.0.1", Port: 1, Mode: "xsalsa20_poly1305"}})
	r.expectClose(ctx, 4016)

	// A token identifies once, and a wrong one fails authentication.
	r = dialRaw(t, ctx, srv)
	r.send(ctx, wire.OpIdentify, wire.Identify{ServerID: "1", UserID: "3", SessionID: "sess", Token: g.Token})
	r.expectClose(ctx, 4004)

	// Anything before identify: 4003.
	r = dialRaw(t, ctx, srv)
	r.send(ctx, wire.OpSpeaking, wire.Speaking{Speaking: 1})
	r.expectClose(ctx, 4003)

	// Unknown session on resume: 4006.
	r = dialRaw(t, ctx, srv)
	r.send(ctx, wire.OpResume, wire.Resume{ServerID: "1", SessionID: "nope", Token: "x"})
	r.expectClose(ctx, 4006)

	// DAVE required: identify without max_dave_protocol_version is 4017.
	dsrv, err := voicetest.New(voicetest.Options{RequireDAVE: true})
	if err != nil {
		t.Fatal(err)
	}
	defer dsrv.Close()
	g = dsrv.Grant("1", "2", "3", "sess")
	r = dialRaw(t, ctx, dsrv)
	r.send(ctx, wire.OpIdentify, wire.Identify{ServerID: "1", UserID: "3", SessionID: "sess", Token: g.Token})
	r.expectClose(ctx, 4017)

	v := srv.Violations()
	if len(v) != 2 || !strings.Contains(v[0], "not offered") || !strings.Contains(v[1], "before identify") {
		t.Fatalf("violations %q", v)
	}
}

func TestResumeReplaysMissedMessages(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	srv := voicetest.NewServer(t, voicetest.Options{})
	g := srv.Grant("1", "2", "3", "sess")
	r := dialRaw(t, ctx, srv)
	r.send(ctx, wire.OpIdentify, wire.Identify{ServerID: "1", UserID: "3", SessionID: "sess", Token: g.Token})
	r.expect(ctx, wire.OpReady)
	r.send(ctx, wire.OpSelectProtocol, wire.SelectProtocol{Protocol: "udp", Data: wire.SelectProtocolData{Address: "127.0.0.1", Port: 9, Mode: wire.ModeXChaCha20Poly1305}})
	desc := r.expect(ctx, wire.OpSessionDescription)
	var d map[string]any
	json.Unmarshal(desc.Data, &d)
	if _, ok := d["secret_key"].([]any); !ok || desc.Seq != 1 {
		t.Fatalf("session description %s seq %d: secret_key must be a number array", desc.Data, desc.Seq)
	}
	// The server crashes (4015); meanwhile a second member joins (op 11, seq 2).
	srv.ForceClose("3", 4015)
	r.expectClose(ctx, 4015)
	g2 := srv.Grant("1", "2", "4", "sess4")
	r2 := dialRaw(t, ctx, srv)
	r2.send(ctx, wire.OpIdentify, wire.Identify{ServerID: "1", UserID: "4", SessionID: "sess4", Token: g2.Token})
	r2.expect(ctx, wire.OpReady)
	r2.send(ctx, wire.OpSelectProtocol, wire.SelectProtocol{Protocol: "udp", Data: wire.SelectProtocolData{Address: "127.0.0.1", Port: 10, Mode: wire.ModeAES256GCM}})
	r2.expect(ctx, wire.OpSessionDescription)
	if err := srv.WaitMember(ctx, "4"); err != nil {
		t.Fatal(err)
	}
	if m := srv.Members(voicetest.CallID{GuildID: "1", ChannelID: "2"}); len(m) != 2 {
		t.Fatalf("members %v", m)
	}

	r = dialRaw(t, ctx, srv)
	r.send(ctx, wire.OpResume, wire.Resume{ServerID: "1", SessionID: "sess", Token: g.Token, SeqAck: 1})
	r.expect(ctx, wire.OpResumed)
	cc := r.expect(ctx, wire.OpClientsConnect)
	var c wire.ClientsConnect
	if cc.Decode(&c); cc.Seq != 2 || len(c.UserIDs) != 1 || c.UserIDs[0] != "4" {
		t.Fatalf("replayed %+v seq %d", c, cc.Seq)
	}
}
