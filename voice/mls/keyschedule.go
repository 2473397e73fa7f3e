package mls

// epochSecrets holds the secrets RFC 9420 §8 derives for one epoch. DAVE needs
// no application messages, so the encryption and sender-data secrets are
// derived only for the vectors.
type epochSecrets struct {
	joiner         []byte
	welcome        []byte
	epoch          []byte
	senderData     []byte
	encryption     []byte
	exporter       []byte
	authentication []byte
	external       []byte
	confirmation   []byte
	membership     []byte
	resumption     []byte
	init           []byte
}

// joinerSecret is ExpandWithLabel(Extract(init_secret, commit_secret), "joiner", ctx).
func joinerSecret(initSecret, commitSecret []byte, ctx []byte) []byte {
	return expandWithLabel(extract(initSecret, commitSecret), "joiner", ctx, nh)
}

// deriveEpochSecrets runs the key schedule from the joiner secret; ctx is the
// serialized GroupContext of the new epoch and pskSecret is 0^Nh without PSKs.
func deriveEpochSecrets(joiner, pskSecret, ctx []byte) *epochSecrets {
	if pskSecret == nil {
		pskSecret = make([]byte, nh)
	}
	member := extract(joiner, pskSecret)
	e := secretsFromEpoch(expandWithLabel(member, "epoch", ctx, nh))
	e.joiner = joiner
	e.welcome = deriveSecret(member, "welcome")
	return e
}

// secretsFromEpoch derives the per-epoch secrets from epoch_secret.
func secretsFromEpoch(epochSecret []byte) *epochSecrets {
	e := &epochSecrets{epoch: epochSecret}
	e.senderData = deriveSecret(e.epoch, "sender data")
	e.encryption = deriveSecret(e.epoch, "encryption")
	e.exporter = deriveSecret(e.epoch, "exporter")
	e.authentication = deriveSecret(e.epoch, "authentication")
	e.external = deriveSecret(e.epoch, "external")
	e.confirmation = deriveSecret(e.epoch, "confirm")
	e.membership = deriveSecret(e.epoch, "membership")
	e.resumption = deriveSecret(e.epoch, "resumption")
	e.init = deriveSecret(e.epoch, "init")
	return e
}

// welcomeKeyNonce derives the GroupInfo AEAD key and nonce (§12.4.3.1).
func welcomeKeyNonce(welcomeSecret []byte) (key, nonce []byte) {
	return expandWithLabel(welcomeSecret, "key", nil, nk), expandWithLabel(welcomeSecret, "nonce", nil, nn)
}

// exporter is MLS-Exporter (§8.5).
func exporter(exporterSecret []byte, label string, context []byte, length int) []byte {
	return expandWithLabel(deriveSecret(exporterSecret, label), "exported", hash(context), length)
}

// pskSecret combines pre-shared keys (§8.4); psks[i] is the key for ids[i].
func pskSecret(ids []preSharedKeyID, psks [][]byte) []byte {
	secret := make([]byte, nh)
	for i := range ids {
		extracted := extract(make([]byte, nh), psks[i])
		var w writer
		ids[i].marshal(&w)
		w.u16(uint16(i))
		w.u16(uint16(len(ids)))
		input := expandWithLabel(extracted, "derived psk", w.b, nh)
		secret = extract(input, secret)
	}
	return secret
}

// confirmedTranscriptHash is §8.2: Hash(interim || ConfirmedTranscriptHashInput).
func confirmedTranscriptHash(interim []byte, pm *publicMessage) []byte {
	var w writer
	w.b = append(w.b, interim...)
	w.u16(wireFormatPublic)
	pm.content.marshal(&w)
	w.vec(pm.signature)
	return hash(w.b)
}

// interimTranscriptHash is §8.2: Hash(confirmed || InterimTranscriptHashInput).
func interimTranscriptHash(confirmed, confirmationTag []byte) []byte {
	return hash(append(clone(confirmed), vecBytes(confirmationTag)...))
}
