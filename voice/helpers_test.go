package voice_test

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/x509"
	"encoding/pem"
	"testing"

	"github.com/coder/websocket"
	"github.com/livecord/livecord/voice"
	"github.com/livecord/livecord/voice/voicetest"
)

// bothPools trusts the certificates of several emulators.
func bothPools(srvs ...*voicetest.Server) *x509.CertPool {
	p := x509.NewCertPool()
	for _, s := range srvs {
		b, _ := pem.Decode(s.CertPEM())
		c, _ := x509.ParseCertificate(b.Bytes)
		p.AddCert(c)
	}
	return p
}

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
