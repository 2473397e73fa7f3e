package dave

import (
	"errors"
	"fmt"
	"slices"
	"time"
)

// Receiver limits, from libdave common.h.
const (
	cryptorExpiry     = 10 * time.Second // old generations and old epochs live this long
	maxGenerationGap  = 250
	maxMissingNonces  = 1000
	generationShift   = 24               // the top byte of the truncated nonce is the generation
	maxFramesPerSec   = 50 + 2*60        // audio + two 60 fps video streams
	passthroughExpiry = 10 * time.Second // plain frames accepted this long after an upgrade
	generationWrap    = 1 << (32 - generationShift)
)

var (
	errMissingKey = errors.New("dave: no key for this frame")
	errReplay     = errors.New("dave: nonce already used or too old")
	errPlainFrame = errors.New("dave: unencrypted frame while passthrough is off")
	errNoRatchet  = errors.New("dave: no sender key yet")
)

// wrappedGeneration makes the 8-bit generation in a nonce monotonic across the
// 2^32 nonce wrap, relative to the oldest generation still kept.
func wrappedGeneration(oldest, gen uint32) uint32 {
	factor := oldest / generationWrap
	if gen < oldest%generationWrap {
		factor++
	}
	return factor*generationWrap + gen
}

// bigNonce is the 64-bit, wrap-free sequence number of a frame.
func bigNonce(gen, nonce uint32) uint64 {
	return uint64(gen)<<generationShift | uint64(nonce&(1<<generationShift-1))
}

// encryptor seals outgoing frames with the sender's current key ratchet.
type encryptor struct {
	ratchet *keyRatchet
	cipher  *frameCipher
	gen     uint32
	nonce   uint32
}

// setRatchet switches to a new epoch's ratchet; the nonce restarts, so the first frame uses 1.
func (e *encryptor) setRatchet(r *keyRatchet) {
	*e = encryptor{ratchet: r}
}

// encrypt appends the DAVE frame for an Opus packet to dst.
func (e *encryptor) encrypt(dst, opus []byte) ([]byte, error) {
	if e.ratchet == nil {
		return dst, errNoRatchet
	}
	e.nonce++
	gen := wrappedGeneration(e.gen, e.nonce>>generationShift)
	if gen != e.gen || e.cipher == nil {
		key, err := e.ratchet.key(gen)
		if err != nil {
			return dst, err
		}
		if e.cipher, err = newFrameCipher(key); err != nil {
			return dst, err
		}
		if gen != e.gen {
			e.ratchet.erase(e.gen)
		}
		e.gen = gen
	}
	out, tag := e.cipher.seal(dst, opus, nil, e.nonce)
	t := trailer{tag: tag, nonce: e.nonce}
	return t.marshal(out)
}

// cryptorManager holds one sender's keys for one epoch, with the replay window.
type cryptorManager struct {
	ratchet *keyRatchet
	ciphers map[uint32]*expiringCipher
	created time.Time
	expiry  time.Time // zero: never
	oldest  uint32
	newest  uint32
	seen    bool
	newestN uint64
	missing []uint64 // nonces skipped over, oldest first
}

type expiringCipher struct {
	c      *frameCipher
	expiry time.Time // zero: never
}

func newCryptorManager(r *keyRatchet, now time.Time) *cryptorManager {
	return &cryptorManager{ratchet: r, ciphers: make(map[uint32]*expiringCipher), created: now}
}

func (m *cryptorManager) expired(now time.Time) bool {
	return !m.expiry.IsZero() && now.After(m.expiry)
}

func (m *cryptorManager) canProcess(gen, nonce uint32) bool {
	if !m.seen {
		return true
	}
	n := bigNonce(gen, nonce)
	return n > m.newestN || slices.Contains(m.missing, n)
}

func (m *cryptorManager) cipherFor(gen uint32, now time.Time) (*frameCipher, error) {
	m.cleanup(now)
	if gen < m.oldest {
		return nil, fmt.Errorf("%w: generation %d expired", errMissingKey, gen)
	}
	if gen > m.newest+maxGenerationGap {
		return nil, fmt.Errorf("%w: generation %d too far ahead of %d", errMissingKey, gen, m.newest)
	}
	// A sender cannot have used up 2^24 nonces faster than maxFramesPerSec.
	lifetime := int64(now.Sub(m.created) / time.Second)
	if int64(gen) > (maxFramesPerSec*lifetime)>>generationShift {
		return nil, fmt.Errorf("%w: generation %d beyond the ratchet's age", errMissingKey, gen)
	}
	if ec, ok := m.ciphers[gen]; ok {
		return ec.c, nil
	}
	key, err := m.ratchet.key(gen)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errMissingKey, err)
	}
	c, err := newFrameCipher(key)
	if err != nil {
		return nil, err
	}
	ec := &expiringCipher{c: c}
	if gen < m.newest {
		ec.expiry = now.Add(cryptorExpiry)
	}
	m.ciphers[gen] = ec
	return c, nil
}

func (m *cryptorManager) reportSuccess(gen, nonce uint32, now time.Time) {
	n := bigNonce(gen, nonce)
	switch {
	case !m.seen:
		m.seen, m.newestN = true, n
	case n > m.newestN:
		gap := min(n-m.newestN-1, maxMissingNonces)
		if drop := len(m.missing) + int(gap) - maxMissingNonces; drop > 0 {
			m.missing = m.missing[min(drop, len(m.missing)):]
		}
		for i := n - gap; i < n; i++ {
			m.missing = append(m.missing, i)
		}
		m.newestN = n
	default:
		if i := slices.Index(m.missing, n); i >= 0 {
			m.missing = slices.Delete(m.missing, i, i+1)
		}
	}
	if _, ok := m.ciphers[gen]; !ok || gen <= m.newest {
		return
	}
	m.newest = gen
	exp := now.Add(cryptorExpiry)
	for g, ec := range m.ciphers {
		if g < gen && (ec.expiry.IsZero() || exp.Before(ec.expiry)) {
			ec.expiry = exp
		}
	}
}

func (m *cryptorManager) cleanup(now time.Time) {
	for g, ec := range m.ciphers {
		if !ec.expiry.IsZero() && ec.expiry.Before(now) {
			delete(m.ciphers, g)
		}
	}
	for m.oldest < m.newest {
		if _, ok := m.ciphers[m.oldest]; ok {
			break
		}
		m.ratchet.erase(m.oldest)
		m.oldest++
	}
}

// decryptor opens one remote user's frames. It keeps the ratchets of recent
// epochs (newest last) so frames sent just before a transition still decrypt.
type decryptor struct {
	managers         []*cryptorManager
	passthroughUntil time.Time // plain frames are accepted before this instant
	passthroughOn    bool      // plain frames are accepted until further notice
}

// addRatchet installs a new epoch's ratchet; older ones expire after cryptorExpiry.
func (d *decryptor) addRatchet(r *keyRatchet, now time.Time) {
	d.expireManagers(now.Add(cryptorExpiry))
	if r != nil {
		d.managers = append(d.managers, newCryptorManager(r, now))
	}
}

func (d *decryptor) expireManagers(at time.Time) {
	for _, m := range d.managers {
		if m.expiry.IsZero() || at.Before(m.expiry) {
			m.expiry = at
		}
	}
}

// setPassthrough turns acceptance of plain frames on, or off after grace.
func (d *decryptor) setPassthrough(on bool, now time.Time, grace time.Duration) {
	if on {
		d.passthroughOn = true
		return
	}
	until := now.Add(grace)
	if d.passthroughOn || until.Before(d.passthroughUntil) {
		d.passthroughUntil = until
	}
	d.passthroughOn = false
}

func (d *decryptor) canPassthrough(now time.Time) bool {
	return d.passthroughOn || now.Before(d.passthroughUntil)
}

// decrypt appends the Opus packet carried by frame to dst.
func (d *decryptor) decrypt(dst, frame []byte, now time.Time) ([]byte, error) {
	if isSilence(frame) {
		return append(dst, frame...), nil
	}
	for len(d.managers) > 0 && d.managers[0].expired(now) {
		d.managers = d.managers[1:]
	}
	body, t, err := parseFrame(frame)
	if err != nil {
		if d.canPassthrough(now) {
			return append(dst, frame...), nil
		}
		return dst, fmt.Errorf("%w: %w", errPlainFrame, err)
	}
	err = errMissingKey
	for i := len(d.managers) - 1; i >= 0; i-- {
		var out []byte
		if out, err = d.decryptWith(d.managers[i], dst, body, &t, now); err == nil {
			return out, nil
		}
	}
	return dst, err
}

func (d *decryptor) decryptWith(m *cryptorManager, dst, body []byte, t *trailer, now time.Time) ([]byte, error) {
	gen := wrappedGeneration(m.oldest, t.nonce>>generationShift)
	if !m.canProcess(gen, t.nonce) {
		return dst, errReplay
	}
	c, err := m.cipherFor(gen, now)
	if err != nil {
		return dst, err
	}
	var out []byte
	if len(t.ranges) == 0 {
		out, err = c.open(dst, body, nil, t.tag, t.nonce)
	} else {
		out, err = openWithRanges(c, dst, body, t)
	}
	if err != nil {
		return dst, err
	}
	m.reportSuccess(gen, t.nonce, now)
	return out, nil
}

// openWithRanges handles frames with unencrypted ranges (video codecs): the
// ranges are the AAD and stay in place; the rest is the ciphertext.
func openWithRanges(c *frameCipher, dst, body []byte, t *trailer) ([]byte, error) {
	var aad, ct []byte
	var pos uint64
	for _, r := range t.ranges {
		ct = append(ct, body[pos:r.offset]...)
		aad = append(aad, body[r.offset:r.offset+r.size]...)
		pos = r.offset + r.size
	}
	ct = append(ct, body[pos:]...)
	pt, err := c.open(nil, ct, aad, t.tag, t.nonce)
	if err != nil {
		return dst, err
	}
	pos = 0
	for _, r := range t.ranges {
		n := r.offset - pos
		dst = append(dst, pt[:n]...)
		pt = pt[n:]
		dst = append(dst, body[r.offset:r.offset+r.size]...)
		pos = r.offset + r.size
	}
	return append(dst, pt...), nil
}
