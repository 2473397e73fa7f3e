package wire_test

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"encoding/hex"
	"encoding/json"
	"github.com/coder/websocket"
	"net/netip"
	"reflect"
	"strings"
	"testing"

	"github.com/livecord/livecord/voice/internal/wire"
	"github.com/pion/rtp"
)

func TestParseServerMessage(t *testing.T) {
	tests := []struct {
		name   string
		binary bool
		in     string
		want   wire.Message
	}{
		{"hello without seq", false, `{"op":8,"d":{"heartbeat_interval":41250.5,"v":8}}`,
			wire.Message{Op: wire.OpHello, Seq: -1, Data: json.RawMessage(`{"heartbeat_interval":41250.5,"v":8}`)}},
		{"speaking with seq", false, `{"op":5,"d":{"user_id":"1","ssrc":7,"speaking":1},"seq":12}`,
			wire.Message{Op: wire.OpSpeaking, Seq: 12, Data: json.RawMessage(`{"user_id":"1","ssrc":7,"speaking":1}`)}},
		{"resumed null", false, `{"op":9,"d":null}`, wire.Message{Op: wire.OpResumed, Seq: -1, Data: json.RawMessage(`null`)}},
		{"unknown op kept", false, `{"op":18,"d":{"any":1},"seq":3}`, wire.Message{Op: 18, Seq: 3, Data: json.RawMessage(`{"any":1}`)}},
		{"binary external sender", true, "\x00\x2a\x19\x40\x41", wire.Message{Op: wire.OpDAVEMLSExternalSender, Seq: 42, Payload: []byte{0x40, 0x41}, Binary: true}},
		{"binary welcome seq 65535", true, "\xff\xff\x1e", wire.Message{Op: wire.OpDAVEMLSWelcome, Seq: 65535, Payload: []byte{}, Binary: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := wire.ParseServerMessage(tt.binary, []byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
			// Round trip through the server encoder.
			b, err := got.MarshalServer()
			if err != nil {
				t.Fatal(err)
			}
			again, err := wire.ParseServerMessage(tt.binary, b)
			if err != nil || !reflect.DeepEqual(again, got) {
				t.Fatalf("round trip: %+v, %v", again, err)
			}
		})
	}
}

func TestParseMessageErrors(t *testing.T) {
	for _, tt := range []struct {
		server, binary bool
		in             string
	}{
		{true, true, "\x00\x01"},
		{false, true, ""},
		{true, false, `{"d":{}}`},
		{true, false, `{"op":300,"d":{}}`},
		{true, false, `not json`},
		{false, false, `{"op":-1}`},
	} {
		var err error
		if tt.server {
			_, err = wire.ParseServerMessage(tt.binary, []byte(tt.in))
		} else {
			_, err = wire.ParseClientMessage(tt.binary, []byte(tt.in))
		}
		if err == nil {
			t.Errorf("%q parsed without error", tt.in)
		}
	}
}

func TestClientMessages(t *testing.T) {
	id, err := wire.NewMessage(wire.OpIdentify, wire.Identify{ServerID: "1", UserID: "2", SessionID: "3", Token: "4", MaxDAVEProtocolVersion: 1})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := id.MarshalClient()
	if want := `{"op":0,"d":{"server_id":"1","user_id":"2","session_id":"3","token":"4","max_dave_protocol_version":1}}`; string(b) != want {
		t.Fatalf("identify = %s\nwant %s", b, want)
	}
	hb, _ := wire.NewMessage(wire.OpHeartbeat, wire.Heartbeat{T: 1700000000000, SeqAck: -1})
	b, _ = hb.MarshalClient()
	if want := `{"op":3,"d":{"t":1700000000000,"seq_ack":-1}}`; string(b) != want {
		t.Fatalf("heartbeat = %s", b)
	}
	kp := wire.Message{Op: wire.OpDAVEMLSKeyPackage, Binary: true, Payload: []byte{0, 1, 0, 2}}
	b, _ = kp.MarshalClient()
	if !bytes.Equal(b, []byte{0x1a, 0, 1, 0, 2}) {
		t.Fatalf("op 26 = % x", b)
	}
	got, err := wire.ParseClientMessage(true, b)
	if err != nil || got.Op != wire.OpDAVEMLSKeyPackage || !bytes.Equal(got.Payload, kp.Payload) {
		t.Fatalf("parse op 26: %+v %v", got, err)
	}
	if _, err := (wire.Message{Op: wire.OpDAVEMLSWelcome, Binary: true, Seq: -1}).MarshalServer(); err == nil {
		t.Fatal("binary server frame without seq marshalled")
	}
	for op := wire.Op(0); op < 40; op++ {
		if op.IsBinary() != (op >= 25 && op <= 30) || op.IsDAVE() != (op >= 21 && op <= 31) {
			t.Fatalf("op %d: binary %v dave %v", op, op.IsBinary(), op.IsDAVE())
		}
	}
}

func TestSessionDescriptionSecretKeyIsNumberArray(t *testing.T) {
	var key wire.SecretKey
	for i := range key {
		key[i] = byte(i * 7)
	}
	b, err := json.Marshal(wire.SessionDescription{Mode: wire.ModeAES256GCM, SecretKey: key, DAVEProtocolVersion: 1})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"secret_key":[0,7,14,`) {
		t.Fatalf("secret_key not a number array: %s", b)
	}
	var d wire.SessionDescription
	if err := json.Unmarshal(b, &d); err != nil || d.SecretKey != key {
		t.Fatalf("round trip: %v", err)
	}
	for _, bad := range []string{`{"secret_key":[1,2,3]}`, `{"secret_key":"AAAA"}`, `{"secret_key":[` + strings.Repeat("1,", 31) + `256]}`} {
		if err := json.Unmarshal([]byte(bad), &d); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}

func TestCloseCodeTable(t *testing.T) {
	for _, tt := range []struct {
		code int
		want wire.Action
	}{
		{1000, wire.ActionResume}, {1006, wire.ActionResume}, {-1, wire.ActionResume},
		{4015, wire.ActionResume},
		{4006, wire.ActionNewSession}, {4009, wire.ActionNewSession}, {4011, wire.ActionNewSession}, {4099, wire.ActionNewSession},
		{4004, wire.ActionStop}, {4014, wire.ActionStop}, {4016, wire.ActionStop}, {4017, wire.ActionStop}, {4021, wire.ActionStop}, {4022, wire.ActionStop},
	} {
		if got := wire.LookupClose(websocketCode(tt.code)).Action; got != tt.want {
			t.Errorf("%d: %v, want %v", tt.code, got, tt.want)
		}
	}
}

func TestDiscovery(t *testing.T) {
	req, _ := wire.Discovery{SSRC: 42}.Marshal()
	if want := "00010046" + "0000002a" + strings.Repeat("00", 66); hex.EncodeToString(req) != want {
		t.Fatalf("request = %x", req)
	}
	addr := netip.MustParseAddrPort("203.0.113.9:50123")
	resp, _ := wire.Discovery{Response: true, SSRC: 42, Addr: addr}.Marshal()
	if resp[1] != 2 || string(resp[8:19]) != "203.0.113.9" || resp[19] != 0 || resp[72] != 0xc3 || resp[73] != 0xcb {
		t.Fatalf("response = %x", resp)
	}
	var d wire.Discovery
	if err := d.Unmarshal(resp); err != nil || d != (wire.Discovery{Response: true, SSRC: 42, Addr: addr}) {
		t.Fatalf("unmarshal = %+v, %v", d, err)
	}
	if err := d.Unmarshal(req); err != nil || d.Response || d.SSRC != 42 {
		t.Fatalf("unmarshal request = %+v, %v", d, err)
	}
	bad := bytes.Clone(resp)
	bad[3] = 71
	for _, b := range [][]byte{resp[:73], bad, append(bytes.Clone(resp[:8]), make([]byte, 66)...)} {
		if err := d.Unmarshal(b); err == nil {
			t.Errorf("% x accepted", b[:8])
		}
	}
}

func testKey() wire.SecretKey {
	var k wire.SecretKey
	for i := range k {
		k[i] = byte(i + 1)
	}
	return k
}

func TestTransportSealOpen(t *testing.T) {
	for _, mode := range wire.SupportedModes {
		t.Run(mode, func(t *testing.T) {
			c, err := wire.NewCipher(mode, testKey())
			if err != nil {
				t.Fatal(err)
			}
			h := rtp.Header{Version: 2, PayloadType: 120, SequenceNumber: 513, Timestamp: 96000, SSRC: 42}
			pkt, err := c.Seal(nil, &h, []byte("opus!"), 0x01020304)
			if err != nil {
				t.Fatal(err)
			}
			if want := "8078020100017700" + "0000002a"; hex.EncodeToString(pkt[:12]) != want {
				t.Fatalf("header %x", pkt[:12])
			}
			if len(pkt) != 12+5+16+4 || !bytes.Equal(pkt[len(pkt)-4:], []byte{1, 2, 3, 4}) {
				t.Fatalf("packet %x", pkt)
			}
			p, _, err := c.Open(nil, pkt)
			if err != nil || string(p.Payload) != "opus!" || p.Header.SSRC != 42 || p.Header.SequenceNumber != 513 {
				t.Fatalf("open: %+v %v", p, err)
			}
			// The header is authenticated, the nonce bytes select the nonce.
			for _, i := range []int{3, 12, len(pkt) - 1} {
				bad := bytes.Clone(pkt)
				bad[i] ^= 1
				if _, _, err := c.Open(nil, bad); err == nil {
					t.Errorf("tampered byte %d accepted", i)
				}
			}
		})
	}
}

// TestTransportOpenExtensionAndCSRC builds a packet as Discord clients do
// when they add a header extension: the 0xBEDE preamble is in the AAD, its
// body is encrypted at the start of the plaintext and must be stripped.
func TestTransportOpenExtensionAndCSRC(t *testing.T) {
	c, _ := wire.NewCipher(wire.ModeAES256GCM, testKey())
	aead := gcm(t, testKey())
	hdr := []byte{0x91, 0x78, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 9, 0xbe, 0xde, 0, 1}
	plain := append([]byte{0x10, 0xff, 0, 0}, []byte("payload")...)
	nonce := make([]byte, 12)
	copy(nonce, []byte{0, 0, 0, 5})
	pkt := aead.Seal(bytes.Clone(hdr), nonce, plain, hdr)
	pkt = append(pkt, 0, 0, 0, 5)
	p, _, err := c.Open(nil, pkt)
	if err != nil {
		t.Fatal(err)
	}
	if string(p.Payload) != "payload" || len(p.Header.CSRC) != 1 || p.Header.CSRC[0] != 9 || !p.Header.Extension || p.Header.ExtensionProfile != 0xbede {
		t.Fatalf("got %+v payload %q", p.Header, p.Payload)
	}
}

func TestChooseMode(t *testing.T) {
	if m, _ := wire.ChooseMode([]string{"xsalsa20_poly1305", wire.ModeXChaCha20Poly1305, wire.ModeAES256GCM}); m != wire.ModeAES256GCM {
		t.Fatalf("chose %q", m)
	}
	if m, _ := wire.ChooseMode([]string{wire.ModeXChaCha20Poly1305}); m != wire.ModeXChaCha20Poly1305 {
		t.Fatalf("chose %q", m)
	}
	if _, err := wire.ChooseMode([]string{"xsalsa20_poly1305"}); err == nil {
		t.Fatal("retired mode accepted")
	}
}

func FuzzParseServerMessage(f *testing.F) {
	f.Add(false, []byte(`{"op":2,"d":{"ssrc":1,"ip":"127.0.0.1","port":5,"modes":["aead_aes256_gcm_rtpsize"]}}`))
	f.Add(false, []byte(`{"op":4,"d":{"mode":"aead_aes256_gcm_rtpsize","secret_key":[1,2,3]},"seq":2}`))
	f.Add(true, []byte{0, 1, 25, 0x40, 0x41})
	f.Add(true, []byte{0, 1})
	f.Fuzz(func(t *testing.T, binary bool, b []byte) {
		m, err := wire.ParseServerMessage(binary, b)
		if err != nil {
			return
		}
		var anyv struct {
			Ready wire.Ready
			Desc  wire.SessionDescription
		}
		m.Decode(&anyv.Ready)
		m.Decode(&anyv.Desc)
		if out, err := m.MarshalServer(); err == nil {
			if _, err := wire.ParseServerMessage(binary, out); err != nil {
				t.Fatalf("re-parse of %q: %v", out, err)
			}
		}
	})
}

func FuzzParseClientMessage(f *testing.F) {
	f.Add(false, []byte(`{"op":0,"d":{"server_id":"1","user_id":"2","session_id":"3","token":"4"}}`))
	f.Add(false, []byte(`{"op":1,"d":{"protocol":"udp","data":{"address":"1.2.3.4","port":1,"mode":"x"}}}`))
	f.Add(true, []byte{26, 0, 1, 0, 2})
	f.Fuzz(func(t *testing.T, binary bool, b []byte) {
		m, err := wire.ParseClientMessage(binary, b)
		if err != nil {
			return
		}
		var id wire.Identify
		m.Decode(&id)
		var sp wire.SelectProtocol
		m.Decode(&sp)
		m.MarshalClient()
	})
}

func FuzzDiscovery(f *testing.F) {
	req, _ := wire.Discovery{SSRC: 1}.Marshal()
	resp, _ := wire.Discovery{Response: true, SSRC: 1, Addr: netip.MustParseAddrPort("127.0.0.1:9")}.Marshal()
	f.Add(req)
	f.Add(resp)
	f.Add([]byte{0, 2, 0, 70})
	f.Fuzz(func(t *testing.T, b []byte) {
		var d wire.Discovery
		if d.Unmarshal(b) != nil {
			return
		}
		out, err := d.Marshal()
		if err != nil {
			return
		}
		var again wire.Discovery
		if err := again.Unmarshal(out); err != nil || again != d {
			t.Fatalf("round trip %+v -> %+v (%v)", d, again, err)
		}
	})
}

func FuzzTransportOpen(f *testing.F) {
	c, _ := wire.NewCipher(wire.ModeAES256GCM, testKey())
	x, _ := wire.NewCipher(wire.ModeXChaCha20Poly1305, testKey())
	h := rtp.Header{Version: 2, PayloadType: 120, SequenceNumber: 1, Timestamp: 2, SSRC: 3}
	p1, _ := c.Seal(nil, &h, []byte("abc"), 1)
	p2, _ := x.Seal(nil, &h, []byte("abc"), 1)
	f.Add(p1)
	f.Add(p2)
	f.Add([]byte{0x90, 0x78, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xbe, 0xde, 0xff, 0xff})
	f.Add([]byte{0xaf, 0x78})
	f.Fuzz(func(t *testing.T, b []byte) {
		wire.IsOpusRTP(b)
		for _, ci := range []*wire.Cipher{c, x} {
			p, _, err := ci.Open(nil, b)
			if err == nil && len(p.Payload) > len(b) {
				t.Fatalf("payload longer than packet")
			}
		}
	})
}

func websocketCode(c int) websocket.StatusCode { return websocket.StatusCode(c) }

func gcm(t *testing.T, k wire.SecretKey) cipher.AEAD {
	t.Helper()
	b, err := aes.NewCipher(k[:])
	if err != nil {
		t.Fatal(err)
	}
	a, err := cipher.NewGCM(b)
	if err != nil {
		t.Fatal(err)
	}
	return a
}
