package voice_test

import (
	"crypto/aes"
	"crypto/cipher"
	"testing"

	"github.com/coder/websocket"
	"github.com/livecord/livecord/voice"
)

func websocketCode(c int) websocket.StatusCode { return websocket.StatusCode(c) }

func gcm(t *testing.T, k voice.SecretKey) cipher.AEAD {
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
