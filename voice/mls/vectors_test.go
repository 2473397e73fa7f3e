package mls

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// Official RFC 9420 conformance vectors (testdata/README.md): only cipher
// suite 2 entries, or entries without a suite, are run.

type hexBytes []byte

func (h *hexBytes) UnmarshalJSON(b []byte) error {
	var s *string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	if s == nil {
		*h = nil
		return nil
	}
	d, err := hex.DecodeString(*s)
	if err != nil {
		return err
	}
	*h = append([]byte{}, d...)
	return nil
}

func loadVectors[T any](t testing.TB, name string) []T {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	var all []json.RawMessage
	if err := json.Unmarshal(raw, &all); err != nil {
		t.Fatal(err)
	}
	var out []T
	for _, m := range all {
		var cs struct {
			Suite *int `json:"cipher_suite"`
		}
		if err := json.Unmarshal(m, &cs); err != nil {
			t.Fatal(err)
		}
		if cs.Suite != nil && *cs.Suite != int(CipherSuite) {
			continue
		}
		var v T
		if err := json.Unmarshal(m, &v); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		out = append(out, v)
	}
	if len(out) == 0 {
		t.Fatalf("%s: no entries for suite 2", name)
	}
	return out
}

func eq(t *testing.T, what string, got, want []byte) {
	t.Helper()
	if !bytes.Equal(got, want) {
		t.Errorf("%s:\n got %x\nwant %x", what, got, want)
	}
}

func TestVectorDeserialization(t *testing.T) {
	vs := loadVectors[struct {
		Header hexBytes `json:"vlbytes_header"`
		Length int      `json:"length"`
	}](t, "deserialization.json")
	for _, v := range vs {
		r := reader{b: v.Header}
		n := r.varint()
		if err := r.finish(); err != nil || n != v.Length {
			t.Errorf("header %x: got %d, %v; want %d", v.Header, n, err, v.Length)
		}
		eq(t, "re-encoded header", appendVarint(nil, v.Length), v.Header)
	}
	t.Logf("ran %d deserialization entries", len(vs))
}

func TestVarintRejectsNonMinimal(t *testing.T) {
	for _, b := range [][]byte{{0x40, 0x3f}, {0x80, 0, 0x3f, 0xff}, {0xc0, 0, 0, 0, 0, 0, 0, 1}, {0x40}} {
		r := reader{b: b}
		r.varint()
		if r.err == nil {
			t.Errorf("varint %x accepted", b)
		}
	}
}

func TestVectorCryptoBasics(t *testing.T) {
	type entry struct {
		RefHash struct {
			Label      string
			Value, Out hexBytes
		} `json:"ref_hash"`
		ExpandWithLabel struct {
			Secret, Context, Out hexBytes
			Label                string
			Length               int
		} `json:"expand_with_label"`
		DeriveSecret struct {
			Secret, Out hexBytes
			Label       string
		} `json:"derive_secret"`
		DeriveTreeSecret struct {
			Secret, Out hexBytes
			Label       string
			Generation  uint32
			Length      int
		} `json:"derive_tree_secret"`
		SignWithLabel struct {
			Priv, Pub, Content, Signature hexBytes
			Label                         string
		} `json:"sign_with_label"`
		EncryptWithLabel struct {
			Priv, Pub, Context, Plaintext hexBytes
			KEMOutput                     hexBytes `json:"kem_output"`
			Ciphertext                    hexBytes
			Label                         string
		} `json:"encrypt_with_label"`
	}
	vs := loadVectors[entry](t, "crypto-basics.json")
	for _, v := range vs {
		eq(t, "RefHash", refHash(v.RefHash.Label, v.RefHash.Value), v.RefHash.Out)
		e := v.ExpandWithLabel
		eq(t, "ExpandWithLabel", expandWithLabel(e.Secret, e.Label, e.Context, e.Length), e.Out)
		eq(t, "DeriveSecret", deriveSecret(v.DeriveSecret.Secret, v.DeriveSecret.Label), v.DeriveSecret.Out)
		d := v.DeriveTreeSecret
		eq(t, "DeriveTreeSecret", deriveTreeSecret(d.Secret, d.Label, d.Generation, d.Length), d.Out)

		s := v.SignWithLabel
		if err := verifyWithLabel(s.Pub, s.Label, s.Content, s.Signature); err != nil {
			t.Errorf("VerifyWithLabel(vector): %v", err)
		}
		k, err := ParseSigningKey(s.Priv)
		if err != nil {
			t.Fatal(err)
		}
		eq(t, "signature public key", k.PublicKey(), s.Pub)
		sig, err := k.signWithLabel(s.Label, s.Content)
		if err != nil {
			t.Fatal(err)
		}
		if err := verifyWithLabel(s.Pub, s.Label, s.Content, sig); err != nil {
			t.Errorf("VerifyWithLabel(fresh): %v", err)
		}
		if verifyWithLabel(s.Pub, s.Label+"x", s.Content, sig) == nil {
			t.Error("signature verified under a different label")
		}

		x := v.EncryptWithLabel
		hk, err := parseHPKEKey(x.Priv)
		if err != nil {
			t.Fatal(err)
		}
		eq(t, "hpke public key", hk.pub, x.Pub)
		pt, err := decryptWithLabel(hk.priv, x.Label, x.Context, hpkeCiphertext{kemOutput: x.KEMOutput, ciphertext: x.Ciphertext})
		if err != nil {
			t.Fatalf("DecryptWithLabel(vector): %v", err)
		}
		eq(t, "DecryptWithLabel", pt, x.Plaintext)
		ct, err := encryptWithLabel(x.Pub, x.Label, x.Context, x.Plaintext)
		if err != nil {
			t.Fatal(err)
		}
		pt, err = decryptWithLabel(hk.priv, x.Label, x.Context, ct)
		if err != nil {
			t.Fatalf("DecryptWithLabel(fresh): %v", err)
		}
		eq(t, "round trip", pt, x.Plaintext)
	}
	t.Logf("ran %d crypto-basics entries", len(vs))
}

func TestVectorTreeMath(t *testing.T) {
	type entry struct {
		NLeaves uint32    `json:"n_leaves"`
		NNodes  uint32    `json:"n_nodes"`
		Root    uint32    `json:"root"`
		Left    []*uint32 `json:"left"`
		Right   []*uint32 `json:"right"`
		Parent  []*uint32 `json:"parent"`
		Sibling []*uint32 `json:"sibling"`
	}
	vs := loadVectors[entry](t, "tree-math.json")
	check := func(what string, n uint32, x uint32, got uint32, defined bool, want *uint32) {
		t.Helper()
		switch {
		case want == nil && defined:
			t.Errorf("n=%d %s(%d) = %d, want undefined", n, what, x, got)
		case want != nil && !defined:
			t.Errorf("n=%d %s(%d) undefined, want %d", n, what, x, *want)
		case want != nil && got != *want:
			t.Errorf("n=%d %s(%d) = %d, want %d", n, what, x, got, *want)
		}
	}
	for _, v := range vs {
		if nodeWidth(v.NLeaves) != v.NNodes || root(v.NLeaves) != v.Root {
			t.Errorf("n=%d: width %d root %d", v.NLeaves, nodeWidth(v.NLeaves), root(v.NLeaves))
		}
		r := root(v.NLeaves)
		for x := uint32(0); x < v.NNodes; x++ {
			isLeaf := level(x) == 0
			var l, rt, p, s uint32
			if !isLeaf {
				l, rt = left(x), right(x)
			}
			if x != r {
				p, s = parent(x), sibling(x)
			}
			check("left", v.NLeaves, x, l, !isLeaf, v.Left[x])
			check("right", v.NLeaves, x, rt, !isLeaf, v.Right[x])
			check("parent", v.NLeaves, x, p, x != r, v.Parent[x])
			check("sibling", v.NLeaves, x, s, x != r, v.Sibling[x])
		}
	}
	t.Logf("ran %d tree-math entries", len(vs))
}

func TestVectorKeySchedule(t *testing.T) {
	type epoch struct {
		TreeHash                hexBytes `json:"tree_hash"`
		CommitSecret            hexBytes `json:"commit_secret"`
		PSKSecret               hexBytes `json:"psk_secret"`
		ConfirmedTranscriptHash hexBytes `json:"confirmed_transcript_hash"`
		GroupContext            hexBytes `json:"group_context"`
		JoinerSecret            hexBytes `json:"joiner_secret"`
		WelcomeSecret           hexBytes `json:"welcome_secret"`
		InitSecret              hexBytes `json:"init_secret"`
		SenderDataSecret        hexBytes `json:"sender_data_secret"`
		EncryptionSecret        hexBytes `json:"encryption_secret"`
		ExporterSecret          hexBytes `json:"exporter_secret"`
		EpochAuthenticator      hexBytes `json:"epoch_authenticator"`
		ExternalSecret          hexBytes `json:"external_secret"`
		ConfirmationKey         hexBytes `json:"confirmation_key"`
		MembershipKey           hexBytes `json:"membership_key"`
		ResumptionPSK           hexBytes `json:"resumption_psk"`
		ExternalPub             hexBytes `json:"external_pub"`
		Exporter                struct {
			Label           string
			Context, Secret hexBytes
			Length          int
		}
	}
	type entry struct {
		GroupID     hexBytes `json:"group_id"`
		InitialInit hexBytes `json:"initial_init_secret"`
		Epochs      []epoch
	}
	vs := loadVectors[entry](t, "key-schedule.json")
	n := 0
	for _, v := range vs {
		init := v.InitialInit
		for i, e := range v.Epochs {
			n++
			ctx := groupContext{version: 1, cipherSuite: CipherSuite, groupID: v.GroupID, epoch: uint64(i),
				treeHash: e.TreeHash, confirmedTranscriptHash: e.ConfirmedTranscriptHash}
			cb := ctx.bytes()
			eq(t, "group_context", cb, e.GroupContext)
			s := deriveEpochSecrets(joinerSecret(init, e.CommitSecret, cb), e.PSKSecret, cb)
			eq(t, "joiner", s.joiner, e.JoinerSecret)
			eq(t, "welcome", s.welcome, e.WelcomeSecret)
			eq(t, "init", s.init, e.InitSecret)
			eq(t, "sender_data", s.senderData, e.SenderDataSecret)
			eq(t, "encryption", s.encryption, e.EncryptionSecret)
			eq(t, "exporter_secret", s.exporter, e.ExporterSecret)
			eq(t, "epoch_authenticator", s.authentication, e.EpochAuthenticator)
			eq(t, "external", s.external, e.ExternalSecret)
			eq(t, "confirmation_key", s.confirmation, e.ConfirmationKey)
			eq(t, "membership_key", s.membership, e.MembershipKey)
			eq(t, "resumption_psk", s.resumption, e.ResumptionPSK)
			k, err := kem.DeriveKeyPair(s.external)
			if err != nil {
				t.Fatal(err)
			}
			eq(t, "external_pub", k.PublicKey().Bytes(), e.ExternalPub)
			// The label is the literal 64-character string, not hex.
			eq(t, "exporter", exporter(s.exporter, e.Exporter.Label, e.Exporter.Context, e.Exporter.Length), e.Exporter.Secret)
			init = s.init
		}
	}
	t.Logf("ran %d key-schedule entries (%d epochs)", len(vs), n)
}

func TestVectorPSKSecret(t *testing.T) {
	type entry struct {
		PSKs []struct {
			ID    hexBytes `json:"psk_id"`
			PSK   hexBytes `json:"psk"`
			Nonce hexBytes `json:"psk_nonce"`
		} `json:"psks"`
		PSKSecret hexBytes `json:"psk_secret"`
	}
	vs := loadVectors[entry](t, "psk_secret.json")
	for _, v := range vs {
		var ids []preSharedKeyID
		var keys [][]byte
		for _, p := range v.PSKs {
			ids = append(ids, preSharedKeyID{pskType: pskExternal, pskID: p.ID, nonce: p.Nonce})
			keys = append(keys, p.PSK)
		}
		eq(t, "psk_secret", pskSecret(ids, keys), v.PSKSecret)
	}
	t.Logf("ran %d psk_secret entries", len(vs))
}

// parseAuthenticatedContent decodes AuthenticatedContent (PublicMessage wire format).
func parseAuthenticatedContent(t *testing.T, b []byte) *publicMessage {
	t.Helper()
	r := reader{b: b}
	if wf := r.u16(); wf != wireFormatPublic {
		t.Fatalf("wire format %d", wf)
	}
	pm := new(publicMessage)
	pm.content.unmarshal(&r)
	pm.signature = r.vec()
	if pm.content.contentType == contentCommit {
		pm.confirmationTag = r.vec()
	}
	if err := r.finish(); err != nil {
		t.Fatal(err)
	}
	eq(t, "AuthenticatedContent re-encoding", pm.authenticatedContent(), b)
	return pm
}

func TestVectorTranscriptHashes(t *testing.T) {
	type entry struct {
		ConfirmationKey hexBytes `json:"confirmation_key"`
		Content         hexBytes `json:"authenticated_content"`
		InterimBefore   hexBytes `json:"interim_transcript_hash_before"`
		ConfirmedAfter  hexBytes `json:"confirmed_transcript_hash_after"`
		InterimAfter    hexBytes `json:"interim_transcript_hash_after"`
	}
	vs := loadVectors[entry](t, "transcript-hashes.json")
	for _, v := range vs {
		pm := parseAuthenticatedContent(t, v.Content)
		confirmed := confirmedTranscriptHash(v.InterimBefore, pm)
		eq(t, "confirmed", confirmed, v.ConfirmedAfter)
		eq(t, "confirmation_tag", mac(v.ConfirmationKey, confirmed), pm.confirmationTag)
		eq(t, "interim", interimTranscriptHash(confirmed, pm.confirmationTag), v.InterimAfter)
	}
	t.Logf("ran %d transcript-hashes entries", len(vs))
}

func TestVectorWelcome(t *testing.T) {
	type entry struct {
		InitPriv   hexBytes `json:"init_priv"`
		SignerPub  hexBytes `json:"signer_pub"`
		KeyPackage hexBytes `json:"key_package"`
		Welcome    hexBytes `json:"welcome"`
	}
	vs := loadVectors[entry](t, "welcome.json")
	for _, v := range vs {
		kpm, err := parseMLSMessage(v.KeyPackage)
		if err != nil || kpm.keyPackage == nil {
			t.Fatalf("key package: %v", err)
		}
		wm, err := parseMLSMessage(v.Welcome)
		if err != nil || wm.welcome == nil {
			t.Fatalf("welcome: %v", err)
		}
		init, err := parseHPKEKey(v.InitPriv)
		if err != nil {
			t.Fatal(err)
		}
		eq(t, "init key", init.pub, kpm.keyPackage.initKey)
		ref := kpm.keyPackage.Ref()
		var found *encryptedGroupSecrets
		for i := range wm.welcome.secrets {
			if bytes.Equal(wm.welcome.secrets[i].newMember, ref) {
				found = &wm.welcome.secrets[i]
			}
		}
		if found == nil {
			t.Fatal("no secrets for our KeyPackageRef")
		}
		pt, err := decryptWithLabel(init.priv, "Welcome", wm.welcome.encryptedGroupInfo, found.secrets)
		if err != nil {
			t.Fatal(err)
		}
		var gs groupSecrets
		r := reader{b: pt}
		gs.unmarshal(&r)
		if err := r.finish(); err != nil {
			t.Fatal(err)
		}
		member := extract(gs.joinerSecret, make([]byte, nh))
		key, nonce := welcomeKeyNonce(deriveSecret(member, "welcome"))
		giBytes, err := gcmOpen(key, nonce, wm.welcome.encryptedGroupInfo)
		if err != nil {
			t.Fatal(err)
		}
		var gi groupInfo
		r = reader{b: giBytes}
		gi.unmarshal(&r)
		if err := r.finish(); err != nil {
			t.Fatal(err)
		}
		var w writer
		gi.marshalTBS(&w)
		if err := verifyWithLabel(v.SignerPub, "GroupInfoTBS", w.b, gi.signature); err != nil {
			t.Error(err)
		}
		s := deriveEpochSecrets(gs.joinerSecret, nil, gi.ctx.bytes())
		eq(t, "confirmation_tag", mac(s.confirmation, gi.ctx.confirmedTranscriptHash), gi.confirmationTag)
	}
	t.Logf("ran %d welcome entries", len(vs))
}

func TestVectorMessages(t *testing.T) {
	type entry map[string]hexBytes
	vs := loadVectors[entry](t, "messages.json")
	roundTrip := func(name string, b []byte, dec func(r *reader) func(w *writer)) {
		t.Helper()
		r := reader{b: b}
		enc := dec(&r)
		if err := r.finish(); err != nil {
			t.Errorf("%s: decode: %v", name, err)
			return
		}
		var w writer
		enc(&w)
		if !bytes.Equal(w.b, b) {
			t.Errorf("%s: re-encoding differs", name)
		}
	}
	msg := func(r *reader) func(w *writer) {
		var m mlsMessage
		m.unmarshal(r)
		return m.marshal
	}
	body := func(typ uint16) func(r *reader) func(w *writer) {
		return func(r *reader) func(w *writer) {
			p := proposal{typ: typ}
			p.unmarshalBody(r)
			return p.marshalBody
		}
	}
	n := 0
	for _, v := range vs {
		for _, k := range []string{"mls_welcome", "mls_group_info", "mls_key_package", "public_message_application",
			"public_message_proposal", "public_message_commit", "private_message"} {
			roundTrip(k, v[k], msg)
			n++
		}
		tree, err := unmarshalTree(v["ratchet_tree"])
		if err != nil {
			t.Errorf("ratchet_tree: %v", err)
		} else {
			eq(t, "ratchet_tree", tree.marshal(), v["ratchet_tree"])
		}
		roundTrip("group_secrets", v["group_secrets"], func(r *reader) func(w *writer) {
			var g groupSecrets
			g.unmarshal(r)
			return g.marshal
		})
		roundTrip("commit", v["commit"], func(r *reader) func(w *writer) {
			var c commit
			c.unmarshal(r)
			return c.marshal
		})
		for k, typ := range map[string]uint16{"add_proposal": proposalAdd, "update_proposal": proposalUpdate,
			"remove_proposal": proposalRemove, "pre_shared_key_proposal": proposalPSK, "re_init_proposal": proposalReInit,
			"external_init_proposal": proposalExternalInit, "group_context_extensions_proposal": proposalGroupCtxExt} {
			roundTrip(k, v[k], body(typ))
		}
		n += 10
	}
	t.Logf("ran %d messages entries (%d values decoded and re-encoded)", len(vs), n)
}

func TestVectorTreeValidation(t *testing.T) {
	type entry struct {
		Tree        hexBytes   `json:"tree"`
		GroupID     hexBytes   `json:"group_id"`
		Resolutions [][]uint32 `json:"resolutions"`
		TreeHashes  []hexBytes `json:"tree_hashes"`
	}
	vs := loadVectors[entry](t, "tree-validation.json")
	for i, v := range vs {
		tree, err := unmarshalTree(v.Tree)
		if err != nil {
			t.Fatalf("entry %d: %v", i, err)
		}
		if len(tree.nodes) != len(v.TreeHashes) {
			t.Fatalf("entry %d: %d nodes, want %d", i, len(tree.nodes), len(v.TreeHashes))
		}
		for x := range tree.nodes {
			res := tree.resolution(uint32(x), nil)
			if len(res) != len(v.Resolutions[x]) || (len(res) > 0 && !equalU32(res, v.Resolutions[x])) {
				t.Errorf("entry %d node %d: resolution %v, want %v", i, x, res, v.Resolutions[x])
			}
			eq(t, "tree hash", tree.treeHash(uint32(x), nil), v.TreeHashes[x])
		}
		if err := tree.validate(v.GroupID); err != nil {
			t.Errorf("entry %d: %v", i, err)
		}
		eq(t, "re-encoded tree", tree.marshal(), v.Tree)
	}
	t.Logf("ran %d tree-validation entries", len(vs))
}

func equalU32(a, b []uint32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestVectorTreeKEM(t *testing.T) {
	type pathSecret struct {
		Node       uint32
		PathSecret hexBytes `json:"path_secret"`
	}
	type entry struct {
		GroupID       hexBytes `json:"group_id"`
		Epoch         uint64   `json:"epoch"`
		Confirmed     hexBytes `json:"confirmed_transcript_hash"`
		RatchetTree   hexBytes `json:"ratchet_tree"`
		LeavesPrivate []struct {
			Index          uint32
			EncryptionPriv hexBytes     `json:"encryption_priv"`
			SignaturePriv  hexBytes     `json:"signature_priv"`
			PathSecrets    []pathSecret `json:"path_secrets"`
		} `json:"leaves_private"`
		UpdatePaths []struct {
			Sender        uint32
			UpdatePath    hexBytes   `json:"update_path"`
			PathSecrets   []hexBytes `json:"path_secrets"`
			CommitSecret  hexBytes   `json:"commit_secret"`
			TreeHashAfter hexBytes   `json:"tree_hash_after"`
		} `json:"update_paths"`
	}
	vs := loadVectors[entry](t, "treekem.json")
	paths, fresh := 0, 0
	for i, v := range vs {
		tree, err := unmarshalTree(v.RatchetTree)
		if err != nil {
			t.Fatalf("entry %d: %v", i, err)
		}
		states := map[uint32]*state{}
		sigs := map[uint32]*SigningKey{}
		for _, lp := range v.LeavesPrivate {
			st := &state{
				ctx:   groupContext{version: 1, cipherSuite: CipherSuite, groupID: v.GroupID, epoch: v.Epoch, confirmedTranscriptHash: v.Confirmed},
				tree:  tree,
				own:   lp.Index,
				privs: map[uint32]hpkeKey{},
			}
			k, err := parseHPKEKey(lp.EncryptionPriv)
			if err != nil {
				t.Fatal(err)
			}
			st.privs[2*lp.Index] = k
			for _, ps := range lp.PathSecrets {
				if st.privs[ps.Node], err = nodeKey(ps.PathSecret); err != nil {
					t.Fatal(err)
				}
			}
			st.prunePrivs()
			if len(st.privs) != 1+len(lp.PathSecrets) {
				t.Fatalf("entry %d leaf %d: private keys do not match the tree", i, lp.Index)
			}
			states[lp.Index] = st
			if sigs[lp.Index], err = ParseSigningKey(lp.SignaturePriv); err != nil {
				t.Fatal(err)
			}
		}
		for _, up := range v.UpdatePaths {
			paths++
			var path updatePath
			r := reader{b: up.UpdatePath}
			path.unmarshal(&r)
			if err := r.finish(); err != nil {
				t.Fatal(err)
			}
			for j, st := range states {
				if j == up.Sender {
					continue
				}
				next := st.clone()
				cs, err := processPath(next, up.Sender, &path, nil)
				if err != nil {
					t.Fatalf("entry %d sender %d receiver %d: %v", i, up.Sender, j, err)
				}
				eq(t, "commit_secret", cs, up.CommitSecret)
				eq(t, "tree_hash_after", next.ctx.treeHash, up.TreeHashAfter)
				if err := next.tree.verifyParentHashes(); err != nil {
					t.Errorf("entry %d: merged tree: %v", i, err)
				}
			}
			// A fresh UpdatePath from the same sender reaches every other member.
			sender := states[up.Sender].clone()
			g := &Group{sig: sigs[up.Sender]}
			created, _, _, cs, err := g.createPath(sender, nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := sender.tree.verifyParentHashes(); err != nil {
				t.Errorf("entry %d: fresh path: %v", i, err)
			}
			for j, st := range states {
				if j == up.Sender {
					continue
				}
				next := st.clone()
				got, err := processPath(next, up.Sender, created, nil)
				if err != nil {
					t.Fatalf("entry %d fresh path to %d: %v", i, j, err)
				}
				eq(t, "fresh commit secret", got, cs)
				eq(t, "fresh tree hash", next.ctx.treeHash, sender.ctx.treeHash)
			}
			fresh++
		}
	}
	t.Logf("ran %d treekem entries (%d update paths processed, %d fresh paths created)", len(vs), paths, fresh)
}

type passiveEntry struct {
	ExternalPSKs []struct {
		ID  hexBytes `json:"psk_id"`
		PSK hexBytes `json:"psk"`
	} `json:"external_psks"`
	KeyPackage     hexBytes `json:"key_package"`
	SignaturePriv  hexBytes `json:"signature_priv"`
	EncryptionPriv hexBytes `json:"encryption_priv"`
	InitPriv       hexBytes `json:"init_priv"`
	Welcome        hexBytes `json:"welcome"`
	RatchetTree    hexBytes `json:"ratchet_tree"`
	InitialAuth    hexBytes `json:"initial_epoch_authenticator"`
	Epochs         []struct {
		Proposals []hexBytes `json:"proposals"`
		Commit    hexBytes   `json:"commit"`
		Auth      hexBytes   `json:"epoch_authenticator"`
	} `json:"epochs"`
}

// usesPrivateMessages reports whether an entry carries PrivateMessage
// handshakes, which need the secret tree DAVE does not use.
func (e *passiveEntry) usesPrivateMessages() bool {
	for _, ep := range e.Epochs {
		for _, m := range append(slices.Clone(ep.Proposals), ep.Commit) {
			if len(m) >= 4 && m[3] == wireFormatPrivate {
				return true
			}
		}
	}
	return false
}

// runPassive joins by Welcome and follows every epoch, comparing epoch
// authenticators.
func runPassive(t *testing.T, i int, e *passiveEntry) {
	t.Helper()
	kpm, err := parseMLSMessage(e.KeyPackage)
	if err != nil || kpm.keyPackage == nil {
		t.Fatalf("entry %d: key package: %v", i, err)
	}
	own := &KeyPackagePrivate{kp: kpm.keyPackage}
	if own.init, err = parseHPKEKey(e.InitPriv); err != nil {
		t.Fatal(err)
	}
	if own.enc, err = parseHPKEKey(e.EncryptionPriv); err != nil {
		t.Fatal(err)
	}
	if own.sig, err = ParseSigningKey(e.SignaturePriv); err != nil {
		t.Fatal(err)
	}
	eq(t, "init key", own.init.pub, own.kp.initKey)
	eq(t, "encryption key", own.enc.pub, own.kp.leaf.encryptionKey)
	eq(t, "signature key", own.sig.pub, own.kp.leaf.signatureKey)
	wm, err := parseMLSMessage(e.Welcome)
	if err != nil || wm.welcome == nil {
		t.Fatalf("entry %d: welcome: %v", i, err)
	}
	g := &Group{sig: own.sig}
	for _, p := range e.ExternalPSKs {
		g.SetExternalPSK(p.ID, p.PSK)
	}
	if err := g.join(wm.welcome, own, e.RatchetTree); err != nil {
		t.Fatalf("entry %d: join: %v", i, err)
	}
	eq(t, "initial epoch authenticator", g.EpochAuthenticator(), e.InitialAuth)
	for n, ep := range e.Epochs {
		for _, p := range ep.Proposals {
			if _, err := g.ProcessProposal(p); err != nil {
				t.Fatalf("entry %d epoch %d: proposal: %v", i, n, err)
			}
		}
		if err := g.ProcessCommit(ep.Commit); err != nil {
			t.Fatalf("entry %d epoch %d: commit: %v", i, n, err)
		}
		eq(t, "epoch authenticator", g.EpochAuthenticator(), ep.Auth)
	}
}

func testPassive(t *testing.T, name string) {
	vs := loadVectors[passiveEntry](t, name)
	ran, skipped, epochs := 0, 0, 0
	for i := range vs {
		if vs[i].usesPrivateMessages() {
			skipped++
			continue
		}
		runPassive(t, i, &vs[i])
		ran++
		epochs += len(vs[i].Epochs)
	}
	t.Logf("ran %d %s entries (%d commits); skipped %d PrivateMessage entries", ran, name, epochs, skipped)
}

func TestVectorPassiveClientWelcome(t *testing.T) { testPassive(t, "passive-client-welcome.json") }

func TestVectorPassiveClientHandlingCommit(t *testing.T) {
	testPassive(t, "passive-client-handling-commit.json")
}

func TestVectorExternalProposals(t *testing.T) {
	testPassive(t, "interop-passive/external_proposals.json")
}

// TestVectorMessageProtection runs the PublicMessage half of
// message-protection.json (DAVE never uses PrivateMessage): verify the given
// proposal and commit, then protect the same content ourselves and verify it.
func TestVectorMessageProtection(t *testing.T) {
	type entry struct {
		GroupID       hexBytes `json:"group_id"`
		Epoch         uint64   `json:"epoch"`
		TreeHash      hexBytes `json:"tree_hash"`
		Confirmed     hexBytes `json:"confirmed_transcript_hash"`
		SignaturePriv hexBytes `json:"signature_priv"`
		SignaturePub  hexBytes `json:"signature_pub"`
		MembershipKey hexBytes `json:"membership_key"`
		Proposal      hexBytes `json:"proposal"`
		ProposalPub   hexBytes `json:"proposal_pub"`
		Commit        hexBytes `json:"commit"`
		CommitPub     hexBytes `json:"commit_pub"`
	}
	vs := loadVectors[entry](t, "message-protection.json")
	for _, v := range vs {
		ctx := &groupContext{version: 1, cipherSuite: CipherSuite, groupID: v.GroupID, epoch: v.Epoch,
			treeHash: v.TreeHash, confirmedTranscriptHash: v.Confirmed}
		sig, err := ParseSigningKey(v.SignaturePriv)
		if err != nil {
			t.Fatal(err)
		}
		verify := func(name string, msg []byte) *publicMessage {
			t.Helper()
			m, err := parseMLSMessage(msg)
			if err != nil || m.public == nil {
				t.Fatalf("%s: %v", name, err)
			}
			pm := m.public
			if !bytes.Equal(pm.membershipTag, mac(v.MembershipKey, pm.membershipTagInput(ctx))) {
				t.Errorf("%s: membership tag mismatch", name)
			}
			if err := verifyWithLabel(v.SignaturePub, "FramedContentTBS", pm.tbs(ctx), pm.signature); err != nil {
				t.Errorf("%s: %v", name, err)
			}
			return pm
		}
		for _, c := range []struct {
			name      string
			msg, body []byte
		}{{"proposal_pub", v.ProposalPub, v.Proposal}, {"commit_pub", v.CommitPub, v.Commit}} {
			pm := verify(c.name, c.msg)
			var w writer
			if pm.content.contentType == contentProposal {
				pm.content.proposal.marshal(&w)
			} else {
				pm.content.commit.marshal(&w)
			}
			eq(t, c.name+" content", w.b, c.body)
			// Protect the same content afresh and check it verifies.
			if pm.signature, err = sig.signWithLabel("FramedContentTBS", pm.tbs(ctx)); err != nil {
				t.Fatal(err)
			}
			pm.membershipTag = mac(v.MembershipKey, pm.membershipTagInput(ctx))
			verify(c.name+" (fresh)", (&mlsMessage{wireFormat: wireFormatPublic, public: pm}).bytes())
		}
	}
	t.Logf("ran %d message-protection entries (PublicMessage proposal and commit)", len(vs))
}

// TestVectorTreeOperations applies Add, Update and Remove to ratchet trees.
// The file has suite 1 only; tree operations use nothing suite-specific but
// SHA-256, which suite 2 shares, and signatures are not checked here.
func TestVectorTreeOperations(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("testdata", "tree-operations.json"))
	if err != nil {
		t.Fatal(err)
	}
	var vs []struct {
		TreeBefore     hexBytes `json:"tree_before"`
		Proposal       hexBytes `json:"proposal"`
		Sender         uint32   `json:"proposal_sender"`
		TreeHashBefore hexBytes `json:"tree_hash_before"`
		TreeAfter      hexBytes `json:"tree_after"`
		TreeHashAfter  hexBytes `json:"tree_hash_after"`
	}
	if err := json.Unmarshal(raw, &vs); err != nil {
		t.Fatal(err)
	}
	for i, v := range vs {
		tree, err := unmarshalTree(v.TreeBefore)
		if err != nil {
			t.Fatalf("entry %d: %v", i, err)
		}
		eq(t, "tree hash before", tree.rootHash(), v.TreeHashBefore)
		var p proposal
		r := reader{b: v.Proposal}
		p.unmarshal(&r)
		if err := r.finish(); err != nil {
			t.Fatal(err)
		}
		switch p.typ {
		case proposalAdd:
			leaf := p.keyPackage.leaf
			tree.addLeaf(&leaf)
		case proposalUpdate:
			tree.updateLeaf(v.Sender, p.leaf)
		case proposalRemove:
			tree.removeLeaf(p.removed)
		default:
			t.Fatalf("entry %d: proposal type %d", i, p.typ)
		}
		eq(t, "tree after", tree.marshal(), v.TreeAfter)
		eq(t, "tree hash after", tree.rootHash(), v.TreeHashAfter)
	}
	t.Logf("ran %d tree-operations entries (suite 1 data, suite-independent operations)", len(vs))
}
