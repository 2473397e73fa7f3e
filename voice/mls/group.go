package mls

import (
	"bytes"
	"crypto/hmac"
	"errors"
	"fmt"
	"math"
	"slices"
)

// ProposalType identifies an MLS proposal (RFC 9420 §17.4).
type ProposalType uint16

// Proposal types this package can process. DAVE uses only Add and Remove.
const (
	ProposalAdd                    ProposalType = proposalAdd
	ProposalUpdate                 ProposalType = proposalUpdate
	ProposalRemove                 ProposalType = proposalRemove
	ProposalPreSharedKey           ProposalType = proposalPSK
	ProposalGroupContextExtensions ProposalType = proposalGroupCtxExt
)

// ErrRemoved is returned by ProcessCommit when the commit removes this member;
// the Group must then be discarded.
var ErrRemoved = errors.New("mls: this member was removed from the group")

// KeyPackageOptions tunes NewKeyPackage. The zero value gives DAVE's exact
// parameters: infinite lifetime, no extensions, minimal capabilities, no GREASE.
type KeyPackageOptions struct {
	Lifetime   *Lifetime   // nil: not_before 0, not_after 2^64-1
	Extensions []Extension // KeyPackage.extensions
}

// KeyPackagePrivate is a key package with the private keys needed to join by
// Welcome. Use each one for a single join.
type KeyPackagePrivate struct {
	kp   *KeyPackage
	init hpkeKey
	enc  hpkeKey
	sig  *SigningKey
}

// KeyPackage returns the public key package.
func (p *KeyPackagePrivate) KeyPackage() *KeyPackage { return p.kp }

// NewKeyPackage creates a key package for a basic credential with the given
// identity (DAVE: the 8-byte big-endian user ID), signed with sig.
func NewKeyPackage(identity []byte, sig *SigningKey, opts KeyPackageOptions) (*KeyPackage, *KeyPackagePrivate, error) {
	initKey, err := generateHPKEKey()
	if err != nil {
		return nil, nil, err
	}
	encKey, err := generateHPKEKey()
	if err != nil {
		return nil, nil, err
	}
	life := Lifetime{NotBefore: 0, NotAfter: math.MaxUint64}
	if opts.Lifetime != nil {
		life = *opts.Lifetime
	}
	kp := &KeyPackage{
		version:     ProtocolVersion,
		cipherSuite: CipherSuite,
		initKey:     initKey.pub,
		leaf: leafNode{
			encryptionKey: encKey.pub,
			signatureKey:  sig.pub,
			cred:          credential{credType: credentialBasic, identity: clone(identity)},
			caps:          defaultCapabilities(),
			source:        leafSourceKeyPackage,
			lifetime:      life,
		},
		extensions: slices.Clone(opts.Extensions),
	}
	if err := kp.leaf.sign(sig, nil, 0); err != nil {
		return nil, nil, err
	}
	var w writer
	kp.marshalTBS(&w)
	if kp.signature, err = sig.signWithLabel("KeyPackageTBS", w.b); err != nil {
		return nil, nil, err
	}
	return kp, &KeyPackagePrivate{kp: kp, init: initKey, enc: encKey, sig: sig}, nil
}

// defaultCapabilities are DAVE's leaf capabilities (no GREASE).
func defaultCapabilities() capabilities {
	return capabilities{
		versions:     []uint16{ProtocolVersion},
		cipherSuites: []uint16{CipherSuite},
		extensions:   []uint16{},
		proposals:    []uint16{},
		credentials:  []uint16{credentialBasic},
	}
}

// Member is one occupied leaf of the ratchet tree.
type Member struct {
	Leaf         uint32
	Identity     []byte // basic credential identity
	SignatureKey []byte
}

// Proposal describes a proposal accepted by ProcessProposal.
type Proposal struct {
	Ref        []byte // ProposalRef, as a commit references it
	Type       ProposalType
	KeyPackage *KeyPackage // Add
	Removed    uint32      // Remove: leaf index
	External   bool        // sent by an external sender
	Sender     uint32      // external sender index or member leaf index
}

// Policy holds optional checks stricter than RFC 9420 that DAVE requires.
type Policy struct {
	// AddRemoveOnly rejects proposals other than Add and Remove.
	AddRemoveOnly bool
	// ByReferenceOnly rejects commits that carry proposals by value.
	ByReferenceOnly bool
	// UniqueIdentities rejects commits whose resulting roster repeats a
	// credential identity.
	UniqueIdentities bool
}

// state is one epoch of group state; it is never mutated after construction
// so a failed commit leaves the group untouched.
type state struct {
	ctx     groupContext
	tree    *ratchetTree
	interim []byte
	secrets *epochSecrets
	own     uint32
	privs   map[uint32]hpkeKey // node index -> private key
}

func (s *state) clone() *state {
	n := *s
	n.ctx.extensions = slices.Clone(s.ctx.extensions)
	n.tree = s.tree.clone()
	n.privs = make(map[uint32]hpkeKey, len(s.privs))
	for k, v := range s.privs {
		n.privs[k] = v
	}
	return &n
}

// prunePrivs drops private keys whose node changed or vanished.
func (s *state) prunePrivs() {
	for x, k := range s.privs {
		if x >= uint32(len(s.tree.nodes)) || !bytes.Equal(s.tree.nodes[x].encryptionKey(), k.pub) {
			delete(s.privs, x)
		}
	}
}

type cachedProposal struct {
	ref    []byte
	prop   *proposal
	sender sender
}

type pendingCommit struct {
	msg     []byte
	welcome []byte
	next    *state
}

// Group is one member's view of an MLS group. It is not safe for concurrent use.
type Group struct {
	st        *state
	sig       *SigningKey
	proposals []cachedProposal
	pending   *pendingCommit
	policy    Policy
	psks      map[string][]byte
	// resumption keeps recent epochs' resumption PSKs (RFC 9420 §8.6).
	resumption map[uint64][]byte
	// forgePath, set only by tests, rewrites the public keys of our next
	// UpdatePath (leaf, then path nodes) before it is hashed and signed: a
	// committer that publishes keys it cannot hold.
	forgePath func(leaf []byte, nodes [][]byte) ([]byte, [][]byte)
}

// maxResumptionEpochs bounds the resumption PSKs kept for past epochs.
const maxResumptionEpochs = 8

// setState installs a new epoch and remembers its resumption PSK.
func (g *Group) setState(st *state) {
	g.st = st
	if g.resumption == nil {
		g.resumption = map[uint64][]byte{}
	}
	g.resumption[st.ctx.epoch] = st.secrets.resumption
	for e := range g.resumption {
		if e+maxResumptionEpochs <= st.ctx.epoch {
			delete(g.resumption, e)
		}
	}
	g.proposals = nil
	g.pending = nil
}

func (g *Group) lookupPSK(id *preSharedKeyID) ([]byte, bool) {
	switch id.pskType {
	case pskExternal:
		k, ok := g.psks[string(id.pskID)]
		return k, ok
	case pskResumption:
		if g.st == nil || id.usage != 1 || !bytes.Equal(id.pskGroupID, g.st.ctx.groupID) {
			return nil, false
		}
		k, ok := g.resumption[id.pskEpoch]
		return k, ok
	}
	return nil, false
}

// NewGroup creates a one-member group at epoch 0 with a random epoch secret.
// ext, when non-empty, becomes the external_senders extension (DAVE: the op-25
// voice gateway), the only group context extension.
func NewGroup(groupID []byte, own *KeyPackagePrivate, ext []ExternalSender) (*Group, error) {
	tree := &ratchetTree{}
	leaf := own.kp.leaf
	tree.addLeaf(&leaf)
	st := &state{
		ctx: groupContext{
			version:                 ProtocolVersion,
			cipherSuite:             CipherSuite,
			groupID:                 clone(groupID),
			treeHash:                tree.rootHash(),
			confirmedTranscriptHash: []byte{},
		},
		tree:  tree,
		privs: map[uint32]hpkeKey{0: own.enc},
	}
	if len(ext) > 0 {
		st.ctx.extensions = []Extension{{Type: extExternalSenders, Data: marshalExternalSenders(ext)}}
	}
	st.secrets = secretsFromEpoch(randomBytes(nh))
	tag := mac(st.secrets.confirmation, st.ctx.confirmedTranscriptHash)
	st.interim = interimTranscriptHash(st.ctx.confirmedTranscriptHash, tag)
	g := &Group{sig: own.sig}
	g.setState(st)
	return g, nil
}

// SetPolicy installs the optional DAVE checks.
func (g *Group) SetPolicy(p Policy) { g.policy = p }

// SetExternalPSK registers an external pre-shared key by ID (unused by DAVE;
// needed by the conformance vectors).
func (g *Group) SetExternalPSK(id, psk []byte) {
	if g.psks == nil {
		g.psks = map[string][]byte{}
	}
	g.psks[string(id)] = clone(psk)
}

// Epoch returns the current epoch.
func (g *Group) Epoch() uint64 { return g.st.ctx.epoch }

// GroupID returns the group ID.
func (g *Group) GroupID() []byte { return clone(g.st.ctx.groupID) }

// OwnLeaf returns this member's leaf index.
func (g *Group) OwnLeaf() uint32 { return g.st.own }

// EpochAuthenticator returns the epoch authenticator (§8.7), which DAVE uses
// for the voice privacy code.
func (g *Group) EpochAuthenticator() []byte { return clone(g.st.secrets.authentication) }

// Export is MLS-Exporter(label, context, length) for the current epoch.
func (g *Group) Export(label string, context []byte, length int) ([]byte, error) {
	if length < 0 || length > 255*nh {
		return nil, fmt.Errorf("mls: export length %d out of range", length)
	}
	return exporter(g.st.secrets.exporter, label, context, length), nil
}

// Members lists the occupied leaves in index order.
func (g *Group) Members() []Member {
	var out []Member
	for _, i := range g.st.tree.members() {
		l := g.st.tree.leafAt(i)
		out = append(out, Member{Leaf: i, Identity: clone(l.cred.identity), SignatureKey: clone(l.signatureKey)})
	}
	return out
}

// ExternalSenders returns the group's external_senders extension.
func (g *Group) ExternalSenders() ([]ExternalSender, error) {
	data, ok := findExtension(g.st.ctx.extensions, extExternalSenders)
	if !ok {
		return nil, nil
	}
	return unmarshalExternalSenders(data)
}

// Proposals lists the proposals cached for the next commit, in arrival order.
func (g *Group) Proposals() []Proposal {
	out := make([]Proposal, 0, len(g.proposals))
	for _, c := range g.proposals {
		out = append(out, describeProposal(c))
	}
	return out
}

func describeProposal(c cachedProposal) Proposal {
	p := Proposal{Ref: clone(c.ref), Type: ProposalType(c.prop.typ), External: c.sender.typ == senderExternal, Sender: c.sender.index}
	switch c.prop.typ {
	case proposalAdd:
		p.KeyPackage = c.prop.keyPackage
	case proposalRemove:
		p.Removed = c.prop.removed
	}
	return p
}

// RevokeProposal drops a cached proposal by reference (DAVE op 27 revoke).
func (g *Group) RevokeProposal(ref []byte) error {
	for i, c := range g.proposals {
		if bytes.Equal(c.ref, ref) {
			g.proposals = slices.Delete(g.proposals, i, i+1)
			return nil
		}
	}
	return errors.New("mls: revoke: unknown proposal reference")
}

// ProposalRef computes the ProposalRef of an MLSMessage(PublicMessage) carrying
// a proposal, without verifying it (for an external sender or emulator).
func ProposalRef(msg []byte) ([]byte, error) {
	m, err := parseMLSMessage(msg)
	if err != nil {
		return nil, err
	}
	if m.public == nil || m.public.content.contentType != contentProposal {
		return nil, errors.New("mls: proposal ref: not a PublicMessage proposal")
	}
	return refHash("MLS 1.0 Proposal Reference", m.public.authenticatedContent()), nil
}

// verifyPublic checks group, epoch, membership tag and signature of a
// PublicMessage against the current epoch.
func (g *Group) verifyPublic(pm *publicMessage) error {
	st := g.st
	c := &pm.content
	if !bytes.Equal(c.groupID, st.ctx.groupID) {
		return errors.New("mls: message for another group")
	}
	if c.epoch != st.ctx.epoch {
		return fmt.Errorf("mls: message for epoch %d, group is at %d", c.epoch, st.ctx.epoch)
	}
	switch c.sender.typ {
	case senderMember:
		leaf := st.tree.leafAt(c.sender.index)
		if leaf == nil {
			return fmt.Errorf("mls: sender leaf %d is not a member", c.sender.index)
		}
		if !hmac.Equal(pm.membershipTag, mac(st.secrets.membership, pm.membershipTagInput(&st.ctx))) {
			return errors.New("mls: invalid membership tag")
		}
		return verifyWithLabel(leaf.signatureKey, "FramedContentTBS", pm.tbs(&st.ctx), pm.signature)
	case senderExternal:
		if c.contentType != contentProposal {
			return errors.New("mls: external sender may only send proposals")
		}
		senders, err := g.ExternalSenders()
		if err != nil {
			return err
		}
		if int64(c.sender.index) >= int64(len(senders)) {
			return fmt.Errorf("mls: unknown external sender %d", c.sender.index)
		}
		return verifyWithLabel(senders[c.sender.index].SignatureKey, "FramedContentTBS", pm.tbs(nil), pm.signature)
	default:
		return fmt.Errorf("mls: unsupported sender type %d", c.sender.typ)
	}
}

// ProcessProposal verifies an MLSMessage(PublicMessage) proposal from an
// external sender or a member and caches it for the next commit.
func (g *Group) ProcessProposal(msg []byte) (*Proposal, error) {
	m, err := parseMLSMessage(msg)
	if err != nil {
		return nil, err
	}
	if m.public == nil || m.public.content.contentType != contentProposal {
		return nil, errors.New("mls: process proposal: not a PublicMessage proposal")
	}
	pm := m.public
	if err := g.verifyPublic(pm); err != nil {
		return nil, fmt.Errorf("mls: process proposal: %w", err)
	}
	p := pm.content.proposal
	if g.policy.AddRemoveOnly && p.typ != proposalAdd && p.typ != proposalRemove {
		return nil, fmt.Errorf("mls: process proposal: type %d not allowed", p.typ)
	}
	if err := g.checkProposal(g.st, p, pm.content.sender); err != nil {
		return nil, fmt.Errorf("mls: process proposal: %w", err)
	}
	c := cachedProposal{ref: refHash("MLS 1.0 Proposal Reference", pm.authenticatedContent()), prop: p, sender: pm.content.sender}
	g.proposals = append(g.proposals, c)
	d := describeProposal(c)
	return &d, nil
}

// checkProposal validates a proposal against the epoch it was sent in.
func (g *Group) checkProposal(st *state, p *proposal, from sender) error {
	switch p.typ {
	case proposalAdd:
		return p.keyPackage.verify()
	case proposalRemove:
		if st.tree.leafAt(p.removed) == nil {
			return fmt.Errorf("mls: remove of blank leaf %d", p.removed)
		}
	case proposalUpdate:
		if from.typ != senderMember {
			return errors.New("mls: update from a non-member")
		}
		if p.leaf.source != leafSourceUpdate {
			return errors.New("mls: update leaf source is not update")
		}
		return p.leaf.verify(st.ctx.groupID, from.index)
	case proposalPSK:
		if _, ok := g.lookupPSK(p.psk); !ok {
			return errors.New("mls: unknown PSK")
		}
	case proposalGroupCtxExt:
	default:
		return fmt.Errorf("mls: unsupported proposal type %d", p.typ)
	}
	return nil
}

type added struct {
	leaf uint32
	kp   *KeyPackage
}

// applyProposals applies proposals to next in RFC 9420 §12.3 order and
// reports added members, the PSK IDs and whether a path is required.
func (g *Group) applyProposals(next *state, props []cachedProposal, committer uint32) (adds []added, psks []preSharedKeyID, pathRequired bool, err error) {
	pathRequired = len(props) == 0
	updated := map[uint32]bool{}
	removed := map[uint32]bool{}
	for _, c := range props {
		if err := g.checkProposal(next, c.prop, c.sender); err != nil {
			return nil, nil, false, err
		}
		switch c.prop.typ {
		case proposalGroupCtxExt:
			pathRequired = true
			next.ctx.extensions = slices.Clone(c.prop.extensions)
		case proposalUpdate:
			if c.sender.index == committer {
				return nil, nil, false, errors.New("mls: committer cannot update itself by proposal")
			}
			pathRequired = true
		case proposalRemove:
			if c.prop.removed == committer {
				return nil, nil, false, errors.New("mls: committer cannot remove itself")
			}
			if removed[c.prop.removed] {
				return nil, nil, false, errors.New("mls: duplicate remove")
			}
			removed[c.prop.removed] = true
			pathRequired = true
		}
	}
	for _, c := range props {
		if c.prop.typ == proposalUpdate {
			if updated[c.sender.index] || removed[c.sender.index] {
				return nil, nil, false, errors.New("mls: conflicting update")
			}
			updated[c.sender.index] = true
			next.tree.updateLeaf(c.sender.index, c.prop.leaf)
		}
	}
	for _, c := range props {
		if c.prop.typ == proposalRemove {
			next.tree.removeLeaf(c.prop.removed)
		}
	}
	for _, c := range props {
		switch c.prop.typ {
		case proposalAdd:
			leaf := c.prop.keyPackage.leaf
			adds = append(adds, added{leaf: next.tree.addLeaf(&leaf), kp: c.prop.keyPackage})
		case proposalPSK:
			psks = append(psks, *c.prop.psk)
		}
	}
	return adds, psks, pathRequired, nil
}

func (g *Group) pskSecret(ids []preSharedKeyID) ([]byte, error) {
	keys := make([][]byte, len(ids))
	for i := range ids {
		k, ok := g.lookupPSK(&ids[i])
		if !ok {
			return nil, errors.New("mls: unknown PSK")
		}
		keys[i] = k
	}
	return pskSecret(ids, keys), nil
}

func checkUniqueIdentities(t *ratchetTree) error {
	seen := map[string]bool{}
	for _, i := range t.members() {
		id := string(t.leafAt(i).cred.identity)
		if seen[id] {
			return errors.New("mls: duplicate identity in roster")
		}
		seen[id] = true
	}
	return nil
}

func excludeLeaves(adds []added) func(uint32) bool {
	return func(l uint32) bool {
		for _, a := range adds {
			if a.leaf == l {
				return true
			}
		}
		return false
	}
}

// ProcessCommit applies a commit sent by another member (an MLSMessage with a
// PublicMessage), resolving by-reference proposals from ProcessProposal's
// cache. A commit byte-equal to this member's own pending commit merges it
// instead. On error the group is unchanged; ErrRemoved means we were removed.
func (g *Group) ProcessCommit(msg []byte) error {
	if g.pending != nil && bytes.Equal(msg, g.pending.msg) {
		return g.MergePending()
	}
	m, err := parseMLSMessage(msg)
	if err != nil {
		return fmt.Errorf("mls: process commit: %w", err)
	}
	if m.public == nil || m.public.content.contentType != contentCommit {
		return errors.New("mls: process commit: not a PublicMessage commit")
	}
	pm := m.public
	if pm.content.sender.typ != senderMember {
		return errors.New("mls: process commit: sender is not a member")
	}
	if err := g.verifyPublic(pm); err != nil {
		return fmt.Errorf("mls: process commit: %w", err)
	}
	next, err := g.applyCommit(pm)
	if err != nil {
		return fmt.Errorf("mls: process commit: %w", err)
	}
	if next == nil {
		return ErrRemoved
	}
	g.setState(next)
	return nil
}

func (g *Group) applyCommit(pm *publicMessage) (*state, error) {
	st := g.st
	committer := pm.content.sender.index
	c := pm.content.commit
	var props []cachedProposal
	for _, por := range c.proposals {
		if por.prop != nil {
			if g.policy.ByReferenceOnly {
				return nil, errors.New("proposal by value not allowed")
			}
			props = append(props, cachedProposal{prop: por.prop, sender: pm.content.sender})
			continue
		}
		i := slices.IndexFunc(g.proposals, func(cp cachedProposal) bool { return bytes.Equal(cp.ref, por.ref) })
		if i < 0 {
			return nil, errors.New("unknown proposal reference")
		}
		props = append(props, g.proposals[i])
	}
	next := st.clone()
	adds, pskIDs, pathRequired, err := g.applyProposals(next, props, committer)
	if err != nil {
		return nil, err
	}
	if next.tree.leafAt(st.own) == nil {
		return nil, nil
	}
	next.prunePrivs()
	if g.policy.UniqueIdentities {
		if err := checkUniqueIdentities(next.tree); err != nil {
			return nil, err
		}
	}
	if pathRequired && c.path == nil {
		return nil, errors.New("commit requires a path")
	}
	next.ctx.epoch = st.ctx.epoch + 1
	commitSecret := make([]byte, nh)
	if c.path != nil {
		commitSecret, err = processPath(next, committer, c.path, adds)
		if err != nil {
			return nil, err
		}
	} else {
		next.ctx.treeHash = next.tree.rootHash()
	}
	next.prunePrivs()
	if len(pm.confirmationTag) != nh {
		return nil, errors.New("bad confirmation tag length")
	}
	return g.finishEpoch(st, next, pm, commitSecret, pskIDs, pm.confirmationTag)
}

// finishEpoch updates the transcript and key schedule for next, checking
// the confirmation tag when want is non-nil.
func (g *Group) finishEpoch(st, next *state, pm *publicMessage, commitSecret []byte, pskIDs []preSharedKeyID, want []byte) (*state, error) {
	psk, err := g.pskSecret(pskIDs)
	if err != nil {
		return nil, err
	}
	next.ctx.confirmedTranscriptHash = confirmedTranscriptHash(st.interim, pm)
	ctxBytes := next.ctx.bytes()
	next.secrets = deriveEpochSecrets(joinerSecret(st.secrets.init, commitSecret, ctxBytes), psk, ctxBytes)
	tag := mac(next.secrets.confirmation, next.ctx.confirmedTranscriptHash)
	if want != nil && !hmac.Equal(tag, want) {
		return nil, errors.New("invalid confirmation tag")
	}
	pm.confirmationTag = tag
	next.interim = interimTranscriptHash(next.ctx.confirmedTranscriptHash, tag)
	return next, nil
}

// processPath merges a received UpdatePath into next (whose proposals are
// applied) and returns the commit secret (§7.5, §12.4.2).
func processPath(next *state, committer uint32, up *updatePath, adds []added) ([]byte, error) {
	if up.leaf.source != leafSourceCommit {
		return nil, errors.New("update path leaf source is not commit")
	}
	if err := up.leaf.verify(next.ctx.groupID, committer); err != nil {
		return nil, fmt.Errorf("update path leaf: %w", err)
	}
	// Every node key enters our tree, also those below the node whose
	// secret we decrypt and so never derive ourselves (RFC 9420 §12.4.2).
	for i, n := range up.nodes {
		if err := validateHPKEKey(fmt.Sprintf("update path node %d", i), n.encryptionKey); err != nil {
			return nil, err
		}
	}
	excl := excludeLeaves(adds)
	path, copathChildren := next.tree.filteredDirectPath(committer)
	if len(path) != len(up.nodes) {
		return nil, fmt.Errorf("update path has %d nodes, want %d", len(up.nodes), len(path))
	}
	keys := make([][]byte, len(path))
	for i, n := range up.nodes {
		keys[i] = n.encryptionKey
	}
	ph := next.tree.mergePath(committer, path, keys)
	if !bytes.Equal(ph, up.leaf.parentHash) {
		return nil, errors.New("update path parent hash mismatch")
	}
	leaf := up.leaf
	next.tree.nodes[2*committer] = treeNode{leaf: &leaf}
	next.ctx.treeHash = next.tree.rootHash()
	ctx := next.ctx.bytes() // provisional: new epoch and tree hash, old transcript
	own := 2 * next.own
	j := slices.IndexFunc(path, func(p uint32) bool { return isInSubtree(p, own) })
	if j < 0 {
		return nil, errors.New("update path does not cover this member")
	}
	res := next.tree.resolution(copathChildren[j], excl)
	if len(res) != len(up.nodes[j].secrets) {
		return nil, errors.New("update path node has wrong ciphertext count")
	}
	var secret []byte
	for k, x := range res {
		if key, ok := next.privs[x]; ok {
			var err error
			if secret, err = decryptWithLabel(key.priv, "UpdatePathNode", ctx, up.nodes[j].secrets[k]); err != nil {
				return nil, err
			}
			break
		}
	}
	if secret == nil {
		return nil, errors.New("no private key for update path")
	}
	// Keys below the overlap on our side are blanked by mergePath; prune later.
	for ; j < len(path); j++ {
		k, err := nodeKey(secret)
		if err != nil {
			return nil, err
		}
		if !bytes.Equal(k.pub, keys[j]) {
			return nil, errors.New("derived path key does not match update path")
		}
		next.privs[path[j]] = k
		secret = deriveSecret(secret, "path")
	}
	return secret, nil
}

// Commit commits all cached proposals by reference, with an UpdatePath when
// required (Remove, Update, GroupContextExtensions, or no proposals). It
// returns the MLSMessage(PublicMessage) commit and, when members are added, a
// bare Welcome carrying the ratchet tree. The new epoch is held pending until
// MergePending (or ProcessCommit with the same bytes).
func (g *Group) Commit() (commitMsg, welcomeMsg []byte, err error) {
	st := g.st
	next := st.clone()
	adds, pskIDs, pathRequired, err := g.applyProposals(next, g.proposals, st.own)
	if err != nil {
		return nil, nil, fmt.Errorf("mls: commit: %w", err)
	}
	if g.policy.UniqueIdentities {
		if err := checkUniqueIdentities(next.tree); err != nil {
			return nil, nil, fmt.Errorf("mls: commit: %w", err)
		}
	}
	next.ctx.epoch = st.ctx.epoch + 1
	c := &commit{}
	for _, p := range g.proposals {
		c.proposals = append(c.proposals, proposalOrRef{ref: p.ref})
	}
	commitSecret := make([]byte, nh)
	var path []uint32
	var pathSecrets [][]byte
	if pathRequired {
		c.path, path, pathSecrets, commitSecret, err = g.createPath(next, adds)
		if err != nil {
			return nil, nil, fmt.Errorf("mls: commit: %w", err)
		}
	} else {
		next.ctx.treeHash = next.tree.rootHash()
	}
	next.prunePrivs()
	pm := &publicMessage{content: framedContent{
		groupID:           st.ctx.groupID,
		epoch:             st.ctx.epoch,
		sender:            sender{typ: senderMember, index: st.own},
		authenticatedData: []byte{},
		contentType:       contentCommit,
		commit:            c,
	}}
	if pm.signature, err = g.sig.signWithLabel("FramedContentTBS", pm.tbs(&st.ctx)); err != nil {
		return nil, nil, fmt.Errorf("mls: commit: %w", err)
	}
	if next, err = g.finishEpoch(st, next, pm, commitSecret, pskIDs, nil); err != nil {
		return nil, nil, fmt.Errorf("mls: commit: %w", err)
	}
	pm.membershipTag = mac(st.secrets.membership, pm.membershipTagInput(&st.ctx))
	commitMsg = (&mlsMessage{wireFormat: wireFormatPublic, public: pm}).bytes()
	if len(adds) > 0 {
		if welcomeMsg, err = g.createWelcome(next, adds, path, pathSecrets, pskIDs); err != nil {
			return nil, nil, fmt.Errorf("mls: commit: %w", err)
		}
	}
	g.pending = &pendingCommit{msg: commitMsg, welcome: welcomeMsg, next: next}
	return clone(commitMsg), clone(welcomeMsg), nil
}

// createPath builds an UpdatePath for our leaf in next (§7.5), installing the
// new keys, and returns it with the filtered direct path, the path secret of
// each of its nodes, and the commit secret.
func (g *Group) createPath(next *state, adds []added) (*updatePath, []uint32, [][]byte, []byte, error) {
	own := next.own
	leafKey, err := generateHPKEKey()
	if err != nil {
		return nil, nil, nil, nil, err
	}
	excl := excludeLeaves(adds)
	path, copathChildren := next.tree.filteredDirectPath(own)
	secret := randomBytes(nh)
	secrets := make([][]byte, len(path))
	keys := make([]hpkeKey, len(path))
	pubs := make([][]byte, len(path))
	for i := range path {
		secret = deriveSecret(secret, "path")
		secrets[i] = secret
		if keys[i], err = nodeKey(secret); err != nil {
			return nil, nil, nil, nil, err
		}
		pubs[i] = keys[i].pub
	}
	commitSecret := deriveSecret(secret, "path")
	leafPub := leafKey.pub
	if g.forgePath != nil {
		leafPub, pubs = g.forgePath(clone(leafPub), pubs)
	}
	ph := next.tree.mergePath(own, path, pubs)
	leaf := *next.tree.leafAt(own)
	leaf.encryptionKey = leafPub
	leaf.source = leafSourceCommit
	leaf.lifetime = Lifetime{}
	leaf.parentHash = ph
	if err := leaf.sign(g.sig, next.ctx.groupID, own); err != nil {
		return nil, nil, nil, nil, err
	}
	next.tree.nodes[2*own] = treeNode{leaf: &leaf}
	next.privs[2*own] = leafKey
	for i, p := range path {
		next.privs[p] = keys[i]
	}
	next.ctx.treeHash = next.tree.rootHash()
	ctx := next.ctx.bytes()
	up := &updatePath{leaf: leaf}
	for i := range path {
		n := updatePathNode{encryptionKey: pubs[i]}
		for _, x := range next.tree.resolution(copathChildren[i], excl) {
			ct, err := encryptWithLabel(next.tree.nodes[x].encryptionKey(), "UpdatePathNode", ctx, secrets[i])
			if err != nil {
				return nil, nil, nil, nil, err
			}
			n.secrets = append(n.secrets, ct)
		}
		up.nodes = append(up.nodes, n)
	}
	return up, path, secrets, commitSecret, nil
}

// createWelcome builds a bare Welcome for the added members of next.
func (g *Group) createWelcome(next *state, adds []added, path []uint32, pathSecrets [][]byte, pskIDs []preSharedKeyID) ([]byte, error) {
	gi := &groupInfo{
		ctx:             next.ctx,
		extensions:      []Extension{{Type: extRatchetTree, Data: next.tree.marshal()}},
		confirmationTag: mac(next.secrets.confirmation, next.ctx.confirmedTranscriptHash),
		signer:          next.own,
	}
	var w writer
	gi.marshalTBS(&w)
	sig, err := g.sig.signWithLabel("GroupInfoTBS", w.b)
	if err != nil {
		return nil, err
	}
	gi.signature = sig
	w = writer{}
	gi.marshal(&w)
	key, nonce := welcomeKeyNonce(next.secrets.welcome)
	wl := &welcome{cipherSuite: CipherSuite, encryptedGroupInfo: gcmSeal(key, nonce, w.b)}
	for _, a := range adds {
		gs := groupSecrets{joinerSecret: next.secrets.joiner, psks: pskIDs}
		for i, p := range path {
			if isInSubtree(p, 2*a.leaf) {
				gs.pathSecret = pathSecrets[i]
				break
			}
		}
		var gw writer
		gs.marshal(&gw)
		ct, err := encryptWithLabel(a.kp.initKey, "Welcome", wl.encryptedGroupInfo, gw.b)
		if err != nil {
			return nil, err
		}
		wl.secrets = append(wl.secrets, encryptedGroupSecrets{newMember: a.kp.Ref(), secrets: ct})
	}
	w = writer{}
	wl.marshal(&w)
	return w.b, nil
}

// MergePending adopts the epoch created by Commit.
func (g *Group) MergePending() error {
	if g.pending == nil {
		return errors.New("mls: no pending commit")
	}
	g.setState(g.pending.next)
	return nil
}

// ClearPending discards the epoch created by Commit (a lost commit race).
func (g *Group) ClearPending() { g.pending = nil }

// JoinFromWelcome joins a group from a bare Welcome (DAVE op 30) using the key
// package the Welcome was made for. tree is the serialized ratchet tree when
// it is not carried in the GroupInfo's ratchet_tree extension, else nil.
func JoinFromWelcome(welcomeMsg []byte, own *KeyPackagePrivate, tree []byte) (*Group, error) {
	r := reader{b: clone(welcomeMsg)}
	var wl welcome
	wl.unmarshal(&r)
	if err := r.finish(); err != nil {
		return nil, fmt.Errorf("mls: decode welcome: %w", err)
	}
	g := &Group{sig: own.sig}
	if err := g.join(&wl, own, tree); err != nil {
		return nil, fmt.Errorf("mls: join: %w", err)
	}
	return g, nil
}

func (g *Group) join(wl *welcome, own *KeyPackagePrivate, treeBytes []byte) error {
	if wl.cipherSuite != CipherSuite {
		return fmt.Errorf("cipher suite %d unsupported", wl.cipherSuite)
	}
	ref := own.kp.Ref()
	i := slices.IndexFunc(wl.secrets, func(e encryptedGroupSecrets) bool { return bytes.Equal(e.newMember, ref) })
	if i < 0 {
		return errors.New("welcome has no secrets for our key package")
	}
	pt, err := decryptWithLabel(own.init.priv, "Welcome", wl.encryptedGroupInfo, wl.secrets[i].secrets)
	if err != nil {
		return err
	}
	var gs groupSecrets
	gr := reader{b: pt}
	gs.unmarshal(&gr)
	if err := gr.finish(); err != nil {
		return fmt.Errorf("decode group secrets: %w", err)
	}
	psk, err := g.pskSecret(gs.psks)
	if err != nil {
		return err
	}
	member := extract(gs.joinerSecret, psk)
	key, nonce := welcomeKeyNonce(deriveSecret(member, "welcome"))
	giBytes, err := gcmOpen(key, nonce, wl.encryptedGroupInfo)
	if err != nil {
		return fmt.Errorf("decrypt group info: %w", err)
	}
	var gi groupInfo
	ir := reader{b: giBytes}
	gi.unmarshal(&ir)
	if err := ir.finish(); err != nil {
		return fmt.Errorf("decode group info: %w", err)
	}
	if gi.ctx.version != ProtocolVersion || gi.ctx.cipherSuite != CipherSuite {
		return errors.New("group info version or suite unsupported")
	}
	if treeBytes == nil {
		var ok bool
		if treeBytes, ok = findExtension(gi.extensions, extRatchetTree); !ok {
			return errors.New("no ratchet tree")
		}
	}
	tree, err := unmarshalTree(treeBytes)
	if err != nil {
		return err
	}
	signer := tree.leafAt(gi.signer)
	if signer == nil {
		return errors.New("group info signer is not a member")
	}
	var w writer
	gi.marshalTBS(&w)
	if err := verifyWithLabel(signer.signatureKey, "GroupInfoTBS", w.b, gi.signature); err != nil {
		return err
	}
	if !bytes.Equal(tree.rootHash(), gi.ctx.treeHash) {
		return errors.New("ratchet tree hash mismatch")
	}
	if err := tree.validate(gi.ctx.groupID); err != nil {
		return err
	}
	ownLeaf := own.kp.leaf.bytes()
	st := &state{ctx: gi.ctx, tree: tree, privs: map[uint32]hpkeKey{}}
	found := false
	for _, l := range tree.members() {
		if bytes.Equal(tree.leafAt(l).bytes(), ownLeaf) {
			st.own, found = l, true
			break
		}
	}
	if !found {
		return errors.New("our leaf is not in the ratchet tree")
	}
	st.privs[2*st.own] = own.enc
	if gs.pathSecret != nil {
		secret := gs.pathSecret
		started := false
		for _, p := range directPath(2*gi.signer, tree.leaves()) {
			if !started && !isInSubtree(p, 2*st.own) {
				continue
			}
			if tree.nodes[p].blank() {
				continue
			}
			started = true
			k, err := nodeKey(secret)
			if err != nil {
				return err
			}
			if !bytes.Equal(k.pub, tree.nodes[p].encryptionKey()) {
				return errors.New("path secret does not match the tree")
			}
			st.privs[p] = k
			secret = deriveSecret(secret, "path")
		}
	}
	st.secrets = deriveEpochSecrets(gs.joinerSecret, psk, gi.ctx.bytes())
	if !hmac.Equal(mac(st.secrets.confirmation, gi.ctx.confirmedTranscriptHash), gi.confirmationTag) {
		return errors.New("invalid confirmation tag")
	}
	st.interim = interimTranscriptHash(gi.ctx.confirmedTranscriptHash, gi.confirmationTag)
	g.setState(st)
	return nil
}

// ExternalAddProposal builds the MLSMessage(PublicMessage) an external sender
// (DAVE: the voice gateway, sender index 0) uses to propose adding kp.
func ExternalAddProposal(groupID []byte, epoch uint64, signer *SigningKey, kp *KeyPackage) ([]byte, error) {
	return externalProposal(groupID, epoch, signer, &proposal{typ: proposalAdd, keyPackage: kp})
}

// ExternalRemoveProposal builds an external sender's proposal to remove leaf.
func ExternalRemoveProposal(groupID []byte, epoch uint64, signer *SigningKey, leaf uint32) ([]byte, error) {
	return externalProposal(groupID, epoch, signer, &proposal{typ: proposalRemove, removed: leaf})
}

func externalProposal(groupID []byte, epoch uint64, signer *SigningKey, p *proposal) ([]byte, error) {
	pm := &publicMessage{content: framedContent{
		groupID:           clone(groupID),
		epoch:             epoch,
		sender:            sender{typ: senderExternal, index: 0},
		authenticatedData: []byte{},
		contentType:       contentProposal,
		proposal:          p,
	}}
	var err error
	if pm.signature, err = signer.signWithLabel("FramedContentTBS", pm.tbs(nil)); err != nil {
		return nil, err
	}
	return (&mlsMessage{wireFormat: wireFormatPublic, public: pm}).bytes(), nil
}
