package voice_test

import (
	"context"
	"testing"

	"github.com/livecord/livecord/voice/internal/wire"

	"github.com/livecord/livecord/voice"
	"github.com/livecord/livecord/voice/dave/davetest"
)

type discardWriter struct{ n int }

func (w *discardWriter) WriteMessage(context.Context, wire.Message) error { w.n++; return nil }

// FuzzDAVEMessage feeds the DAVE layer gateway messages as the voice server
// could send them (any op, JSON or binary, after a real op 4 and op 25) and
// received frames from any sender: it must never panic.
func FuzzDAVEMessage(f *testing.F) {
	gw, err := davetest.New(42)
	if err != nil {
		f.Fatal(err)
	}
	ext := gw.ExternalSender()
	f.Add(byte(11), false, []byte(`{"user_ids":["7","8"]}`), "7", []byte{0xf8, 0xff, 0xfe})
	f.Add(byte(13), false, []byte(`{"user_id":"x"}`), "x", []byte{1, 2, 0xfa, 0xfa})
	f.Add(byte(21), false, []byte(`{"protocol_version":0,"transition_id":3}`), "8", []byte{})
	f.Add(byte(22), false, []byte(`{"transition_id":0}`), "8", []byte{0, 12, 0xfa, 0xfa})
	f.Add(byte(24), false, []byte(`{"protocol_version":1,"epoch":1}`), "", []byte{})
	f.Add(byte(25), true, ext, "1", []byte{})
	f.Add(byte(27), true, []byte{0, 0}, "1", []byte{})
	f.Add(byte(29), true, []byte{0, 1, 0, 1, 0, 1}, "1", []byte{})
	f.Add(byte(30), true, []byte{0, 0, 0, 2}, "1", []byte{})
	f.Fuzz(func(t *testing.T, op byte, binary bool, payload []byte, user string, frame []byte) {
		d, err := voice.NewDAVE(7, 42, nil)
		if err != nil {
			t.Fatal(err)
		}
		w := &discardWriter{}
		ctx := context.Background()
		d.HandleMessage(ctx, wire.Message{Op: wire.OpSessionDescription, Data: []byte(`{"dave_protocol_version":1}`)}, w)
		d.HandleMessage(ctx, wire.Message{Op: wire.OpDAVEMLSExternalSender, Binary: true, Payload: ext}, w)
		m := wire.Message{Op: wire.Op(op), Binary: binary}
		if binary {
			m.Payload = payload
		} else {
			m.Data = payload
		}
		d.HandleMessage(ctx, m, w)
		d.DecryptOpus(nil, user, frame)
		d.EncryptOpus(nil, frame)
		if w.n == 0 {
			t.Fatal("op 4 with DAVE sent no key package")
		}
	})
}
