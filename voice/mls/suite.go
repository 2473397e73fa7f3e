package mls

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/hpke"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
)

// Cipher suite 2, MLS_128_DHKEMP256_AES128GCM_SHA256_P256: the only suite DAVE uses.
const (
	// CipherSuite is the MLS cipher suite identifier this package implements.
	CipherSuite uint16 = 2
	// ProtocolVersion is mls10.
	ProtocolVersion uint16 = 1

	nh = sha256.Size // hash and KDF output length
	nk = 16          // AES-128-GCM key
	nn = 12          // AES-128-GCM nonce
)

var (
	kem  = hpke.DHKEM(ecdh.P256())
	kdf  = hpke.HKDFSHA256()
	aead = hpke.AES128GCM()
)

func hash(b []byte) []byte {
	s := sha256.Sum256(b)
	return s[:]
}

func mac(key, data []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(data)
	return m.Sum(nil)
}

func extract(salt, ikm []byte) []byte {
	if ikm == nil {
		ikm = []byte{}
	}
	prk, err := hkdf.Extract(sha256.New, ikm, salt)
	if err != nil {
		panic("mls: hkdf extract: " + err.Error()) // cannot fail for SHA-256
	}
	return prk
}

// expandWithLabel is RFC 9420 §8 ExpandWithLabel.
func expandWithLabel(secret []byte, label string, context []byte, length int) []byte {
	var w writer
	w.u16(uint16(length))
	w.vec([]byte("MLS 1.0 " + label))
	w.vec(context)
	out, err := hkdf.Expand(sha256.New, secret, string(w.b), length)
	if err != nil {
		panic("mls: hkdf expand: " + err.Error()) // lengths are constants ≤ 255·Nh
	}
	return out
}

func deriveSecret(secret []byte, label string) []byte {
	return expandWithLabel(secret, label, nil, nh)
}

// deriveTreeSecret is RFC 9420 §9 DeriveTreeSecret.
func deriveTreeSecret(secret []byte, label string, generation uint32, length int) []byte {
	var w writer
	w.u32(generation)
	return expandWithLabel(secret, label, w.b, length)
}

// refHash is RFC 9420 §5.2 RefHash; label is used verbatim.
func refHash(label string, value []byte) []byte {
	var w writer
	w.vec([]byte(label))
	w.vec(value)
	return hash(w.b)
}

func signContent(label string, content []byte) []byte {
	var w writer
	w.vec([]byte("MLS 1.0 " + label))
	w.vec(content)
	return w.b
}

// SigningKey is an ECDSA P-256 signature key pair (MLS SignaturePrivateKey).
type SigningKey struct {
	priv *ecdsa.PrivateKey
	pub  []byte
}

// GenerateSignatureKey makes a fresh ECDSA P-256 signature key.
func GenerateSignatureKey() (*SigningKey, error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("mls: generate signature key: %w", err)
	}
	return newSigningKey(k)
}

// ParseSigningKey loads a signature key from its 32-byte big-endian scalar.
func ParseSigningKey(raw []byte) (*SigningKey, error) {
	k, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), raw)
	if err != nil {
		return nil, fmt.Errorf("mls: parse signature key: %w", err)
	}
	return newSigningKey(k)
}

func newSigningKey(k *ecdsa.PrivateKey) (*SigningKey, error) {
	pub, err := k.PublicKey.Bytes()
	if err != nil {
		return nil, fmt.Errorf("mls: signature public key: %w", err)
	}
	return &SigningKey{priv: k, pub: pub}, nil
}

// PublicKey returns the 65-byte uncompressed SEC1 public key.
func (k *SigningKey) PublicKey() []byte { return clone(k.pub) }

// signWithLabel is RFC 9420 §5.1.2 SignWithLabel (DER ECDSA over SHA-256).
func (k *SigningKey) signWithLabel(label string, content []byte) ([]byte, error) {
	d := sha256.Sum256(signContent(label, content))
	sig, err := ecdsa.SignASN1(rand.Reader, k.priv, d[:])
	if err != nil {
		return nil, fmt.Errorf("mls: sign %s: %w", label, err)
	}
	return sig, nil
}

var errSignature = errors.New("mls: invalid signature")

// verifyWithLabel is RFC 9420 §5.1.2 VerifyWithLabel.
func verifyWithLabel(pub []byte, label string, content, sig []byte) error {
	pk, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), pub)
	if err != nil {
		return fmt.Errorf("mls: signature key: %w", err)
	}
	d := sha256.Sum256(signContent(label, content))
	if !ecdsa.VerifyASN1(pk, d[:], sig) {
		return fmt.Errorf("%w (%s)", errSignature, label)
	}
	return nil
}

func encryptContext(label string, context []byte) []byte {
	var w writer
	w.vec([]byte("MLS 1.0 " + label))
	w.vec(context)
	return w.b
}

// hpkeCiphertext is RFC 9420 HPKECiphertext.
type hpkeCiphertext struct {
	kemOutput  []byte
	ciphertext []byte
}

func (c *hpkeCiphertext) marshal(w *writer) {
	w.vec(c.kemOutput)
	w.vec(c.ciphertext)
}

func (c *hpkeCiphertext) unmarshal(r *reader) {
	c.kemOutput = r.vec()
	c.ciphertext = r.vec()
}

// encryptWithLabel is RFC 9420 §5.1.3 EncryptWithLabel (HPKE base mode, empty AAD).
func encryptWithLabel(pub []byte, label string, context, plaintext []byte) (hpkeCiphertext, error) {
	pk, err := kem.NewPublicKey(pub)
	if err != nil {
		return hpkeCiphertext{}, fmt.Errorf("mls: hpke public key: %w", err)
	}
	enc, s, err := hpke.NewSender(pk, kdf, aead, encryptContext(label, context))
	if err != nil {
		return hpkeCiphertext{}, fmt.Errorf("mls: hpke setup: %w", err)
	}
	ct, err := s.Seal(nil, plaintext)
	if err != nil {
		return hpkeCiphertext{}, fmt.Errorf("mls: hpke seal: %w", err)
	}
	return hpkeCiphertext{kemOutput: enc, ciphertext: ct}, nil
}

// decryptWithLabel is RFC 9420 §5.1.3 DecryptWithLabel.
func decryptWithLabel(priv hpke.PrivateKey, label string, context []byte, ct hpkeCiphertext) ([]byte, error) {
	r, err := hpke.NewRecipient(ct.kemOutput, priv, kdf, aead, encryptContext(label, context))
	if err != nil {
		return nil, fmt.Errorf("mls: hpke setup: %w", err)
	}
	pt, err := r.Open(nil, ct.ciphertext)
	if err != nil {
		return nil, fmt.Errorf("mls: hpke open %s: %w", label, err)
	}
	return pt, nil
}

// hpkeKey is an HPKE key pair with its serialized public key.
type hpkeKey struct {
	priv hpke.PrivateKey
	pub  []byte
}

func newHPKEKey(priv hpke.PrivateKey) hpkeKey {
	return hpkeKey{priv: priv, pub: priv.PublicKey().Bytes()}
}

// errInvalidKey marks a public key that is not a valid point of the suite's
// curve (RFC 9420 §5.1.1 defers to RFC 9180 §7.1.4: a P-256 key must be
// on the curve and not the identity).
var errInvalidKey = errors.New("mls: invalid public key")

// validateHPKEKey checks an HPKE (encryption or init) public key the way
// RFC 9180 DeserializePublicKey must, so a bad key is refused where it
// arrives rather than failing a later commit or Welcome that encrypts to it.
func validateHPKEKey(what string, pub []byte) error {
	if _, err := kem.NewPublicKey(pub); err != nil {
		return fmt.Errorf("%w: %s: %w", errInvalidKey, what, err)
	}
	return nil
}

// validateSignatureKey checks an ECDSA P-256 public key is a point on the curve.
func validateSignatureKey(what string, pub []byte) error {
	if _, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), pub); err != nil {
		return fmt.Errorf("%w: %s: %w", errInvalidKey, what, err)
	}
	return nil
}

func generateHPKEKey() (hpkeKey, error) {
	k, err := kem.GenerateKey()
	if err != nil {
		return hpkeKey{}, fmt.Errorf("mls: generate hpke key: %w", err)
	}
	return newHPKEKey(k), nil
}

func parseHPKEKey(raw []byte) (hpkeKey, error) {
	k, err := kem.NewPrivateKey(raw)
	if err != nil {
		return hpkeKey{}, fmt.Errorf("mls: parse hpke key: %w", err)
	}
	return newHPKEKey(k), nil
}

// nodeKey derives a node's key pair from its path secret (RFC 9420 §7.4).
func nodeKey(pathSecret []byte) (hpkeKey, error) {
	k, err := kem.DeriveKeyPair(deriveSecret(pathSecret, "node"))
	if err != nil {
		return hpkeKey{}, fmt.Errorf("mls: derive node key: %w", err)
	}
	return newHPKEKey(k), nil
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

func gcmSeal(key, nonce, plaintext []byte) []byte {
	c, _ := aes.NewCipher(key)
	g, _ := cipher.NewGCM(c)
	return g.Seal(nil, nonce, plaintext, nil)
}

func gcmOpen(key, nonce, ciphertext []byte) ([]byte, error) {
	c, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	g, err := cipher.NewGCM(c)
	if err != nil {
		return nil, err
	}
	return g.Open(nil, nonce, ciphertext, nil)
}
