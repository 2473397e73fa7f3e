package mls

import (
	"errors"
	"fmt"
)

// Wire enums (RFC 9420 §17).
const (
	credentialBasic = 1
	credentialX509  = 2

	leafSourceKeyPackage = 1
	leafSourceUpdate     = 2
	leafSourceCommit     = 3

	extApplicationID       = 1
	extRatchetTree         = 2
	extRequiredCaps        = 3
	extExternalPub         = 4
	extExternalSenders     = 5
	wireFormatPublic       = 1
	wireFormatPrivate      = 2
	wireFormatWelcome      = 3
	wireFormatGroupInfo    = 4
	wireFormatKeyPackage   = 5
	senderMember           = 1
	senderExternal         = 2
	senderNewMemberProp    = 3
	senderNewMemberCommit  = 4
	contentApplication     = 1
	contentProposal        = 2
	contentCommit          = 3
	proposalAdd            = 1
	proposalUpdate         = 2
	proposalRemove         = 3
	proposalPSK            = 4
	proposalReInit         = 5
	proposalExternalInit   = 6
	proposalGroupCtxExt    = 7
	proposalOrRefProposal  = 1
	proposalOrRefReference = 2
	pskExternal            = 1
	pskResumption          = 2
	nodeTypeLeaf           = 1
	nodeTypeParent         = 2
)

// Credential is an MLS credential. Only basic credentials are used by DAVE;
// x509 chains are carried opaquely so foreign messages still round-trip.
type credential struct {
	credType uint16
	identity []byte   // basic
	certs    [][]byte // x509
}

func (c *credential) marshal(w *writer) {
	w.u16(c.credType)
	switch c.credType {
	case credentialBasic:
		w.vec(c.identity)
	case credentialX509:
		w.nested(func(w *writer) {
			for _, cert := range c.certs {
				w.vec(cert)
			}
		})
	}
}

func (c *credential) unmarshal(r *reader) {
	c.credType = r.u16()
	switch c.credType {
	case credentialBasic:
		c.identity = r.vec()
	case credentialX509:
		s := r.sub()
		for s.err == nil && len(s.b) > 0 {
			c.certs = append(c.certs, s.vec())
		}
		r.join(s)
	default:
		r.fail(fmt.Errorf("mls: unsupported credential type %d", c.credType))
	}
}

// capabilities is RFC 9420 Capabilities.
type capabilities struct {
	versions, cipherSuites, extensions, proposals, credentials []uint16
}

func (c *capabilities) marshal(w *writer) {
	w.u16s(c.versions)
	w.u16s(c.cipherSuites)
	w.u16s(c.extensions)
	w.u16s(c.proposals)
	w.u16s(c.credentials)
}

func (c *capabilities) unmarshal(r *reader) {
	c.versions = r.u16s()
	c.cipherSuites = r.u16s()
	c.extensions = r.u16s()
	c.proposals = r.u16s()
	c.credentials = r.u16s()
}

// Lifetime bounds a key package's validity in Unix seconds.
type Lifetime struct {
	NotBefore, NotAfter uint64
}

// Extension is an MLS extension (type and opaque data).
type Extension struct {
	Type uint16
	Data []byte
}

func marshalExtensions(w *writer, exts []Extension) {
	w.nested(func(w *writer) {
		for _, e := range exts {
			w.u16(e.Type)
			w.vec(e.Data)
		}
	})
}

func unmarshalExtensions(r *reader) []Extension {
	s := r.sub()
	var out []Extension
	seen := map[uint16]bool{}
	for s.err == nil && len(s.b) > 0 {
		e := Extension{Type: s.u16(), Data: s.vec()}
		if seen[e.Type] {
			s.fail(errors.New("mls: duplicate extension"))
		}
		seen[e.Type] = true
		out = append(out, e)
	}
	r.join(s)
	return out
}

func findExtension(exts []Extension, t uint16) ([]byte, bool) {
	for _, e := range exts {
		if e.Type == t {
			return e.Data, true
		}
	}
	return nil, false
}

// leafNode is RFC 9420 LeafNode.
type leafNode struct {
	encryptionKey []byte
	signatureKey  []byte
	cred          credential
	caps          capabilities
	source        uint8
	lifetime      Lifetime // source key_package
	parentHash    []byte   // source commit
	extensions    []Extension
	signature     []byte
}

func (l *leafNode) marshalTBSBody(w *writer) {
	w.vec(l.encryptionKey)
	w.vec(l.signatureKey)
	l.cred.marshal(w)
	l.caps.marshal(w)
	w.u8(l.source)
	switch l.source {
	case leafSourceKeyPackage:
		w.u64(l.lifetime.NotBefore)
		w.u64(l.lifetime.NotAfter)
	case leafSourceCommit:
		w.vec(l.parentHash)
	}
	marshalExtensions(w, l.extensions)
}

func (l *leafNode) marshal(w *writer) {
	l.marshalTBSBody(w)
	w.vec(l.signature)
}

func (l *leafNode) unmarshal(r *reader) {
	l.encryptionKey = r.vec()
	l.signatureKey = r.vec()
	l.cred.unmarshal(r)
	l.caps.unmarshal(r)
	l.source = r.u8()
	switch l.source {
	case leafSourceKeyPackage:
		l.lifetime.NotBefore = r.u64()
		l.lifetime.NotAfter = r.u64()
	case leafSourceUpdate:
	case leafSourceCommit:
		l.parentHash = r.vec()
	default:
		r.fail(fmt.Errorf("mls: invalid leaf node source %d", l.source))
	}
	l.extensions = unmarshalExtensions(r)
	l.signature = r.vec()
}

// tbs is LeafNodeTBS; group context applies to update and commit leaves.
func (l *leafNode) tbs(groupID []byte, leafIndex uint32) []byte {
	var w writer
	l.marshalTBSBody(&w)
	if l.source == leafSourceUpdate || l.source == leafSourceCommit {
		w.vec(groupID)
		w.u32(leafIndex)
	}
	return w.b
}

func (l *leafNode) sign(k *SigningKey, groupID []byte, leafIndex uint32) error {
	sig, err := k.signWithLabel("LeafNodeTBS", l.tbs(groupID, leafIndex))
	if err != nil {
		return err
	}
	l.signature = sig
	return nil
}

// verify checks a leaf node's keys and signature (RFC 9420 §7.3): both of
// its public keys must be valid points before the leaf may enter a tree.
func (l *leafNode) verify(groupID []byte, leafIndex uint32) error {
	if err := validateHPKEKey("leaf encryption key", l.encryptionKey); err != nil {
		return err
	}
	if err := validateSignatureKey("leaf signature key", l.signatureKey); err != nil {
		return err
	}
	return verifyWithLabel(l.signatureKey, "LeafNodeTBS", l.tbs(groupID, leafIndex), l.signature)
}

func (l *leafNode) bytes() []byte {
	var w writer
	l.marshal(&w)
	return w.b
}

// KeyPackage is an RFC 9420 KeyPackage. DAVE sends it bare (op 26).
type KeyPackage struct {
	version     uint16
	cipherSuite uint16
	initKey     []byte
	leaf        leafNode
	extensions  []Extension
	signature   []byte
}

func (kp *KeyPackage) marshalTBS(w *writer) {
	w.u16(kp.version)
	w.u16(kp.cipherSuite)
	w.vec(kp.initKey)
	kp.leaf.marshal(w)
	marshalExtensions(w, kp.extensions)
}

func (kp *KeyPackage) marshal(w *writer) {
	kp.marshalTBS(w)
	w.vec(kp.signature)
}

func (kp *KeyPackage) unmarshal(r *reader) {
	kp.version = r.u16()
	kp.cipherSuite = r.u16()
	kp.initKey = r.vec()
	kp.leaf.unmarshal(r)
	kp.extensions = unmarshalExtensions(r)
	kp.signature = r.vec()
}

// Marshal returns the bare TLS encoding of the key package.
func (kp *KeyPackage) Marshal() ([]byte, error) {
	var w writer
	kp.marshal(&w)
	return w.b, nil
}

// UnmarshalKeyPackage decodes a bare KeyPackage. It checks structure only;
// signatures are verified when the key package is used in a proposal.
func UnmarshalKeyPackage(b []byte) (*KeyPackage, error) {
	r := reader{b: clone(b)}
	kp := new(KeyPackage)
	kp.unmarshal(&r)
	if err := r.finish(); err != nil {
		return nil, fmt.Errorf("mls: decode key package: %w", err)
	}
	return kp, nil
}

// Identity returns the basic-credential identity of the key package's leaf.
func (kp *KeyPackage) Identity() []byte { return clone(kp.leaf.cred.identity) }

// SignatureKey returns the leaf's signature public key.
func (kp *KeyPackage) SignatureKey() []byte { return clone(kp.leaf.signatureKey) }

// Ref returns the KeyPackageRef (RefHash "MLS 1.0 KeyPackage Reference").
func (kp *KeyPackage) Ref() []byte {
	var w writer
	kp.marshal(&w)
	return refHash("MLS 1.0 KeyPackage Reference", w.b)
}

// verify checks the key package as RFC 9420 §10.1 requires (except lifetime,
// which DAVE members do not check).
func (kp *KeyPackage) verify() error {
	if kp.version != ProtocolVersion || kp.cipherSuite != CipherSuite {
		return fmt.Errorf("mls: key package version %d suite %d unsupported", kp.version, kp.cipherSuite)
	}
	if kp.leaf.source != leafSourceKeyPackage {
		return errors.New("mls: key package leaf source is not key_package")
	}
	if err := validateHPKEKey("key package init key", kp.initKey); err != nil {
		return err
	}
	if err := kp.leaf.verify(nil, 0); err != nil {
		return fmt.Errorf("mls: key package leaf: %w", err)
	}
	var w writer
	kp.marshalTBS(&w)
	if err := verifyWithLabel(kp.leaf.signatureKey, "KeyPackageTBS", w.b, kp.signature); err != nil {
		return fmt.Errorf("mls: key package: %w", err)
	}
	if string(kp.initKey) == string(kp.leaf.encryptionKey) {
		return errors.New("mls: key package init key equals leaf encryption key")
	}
	return nil
}

// ExternalSender is an entry of the external_senders group context extension
// (DAVE op 25: the voice gateway). Only basic credentials are supported.
type ExternalSender struct {
	SignatureKey []byte // 65-byte uncompressed P-256 point
	Identity     []byte // basic credential identity
}

func (e *ExternalSender) marshal(w *writer) {
	w.vec(e.SignatureKey)
	c := credential{credType: credentialBasic, identity: e.Identity}
	c.marshal(w)
}

func (e *ExternalSender) unmarshal(r *reader) {
	e.SignatureKey = r.vec()
	var c credential
	c.unmarshal(r)
	if r.err == nil && c.credType != credentialBasic {
		r.fail(errors.New("mls: external sender credential is not basic"))
	}
	e.Identity = c.identity
}

// Marshal encodes the ExternalSender (the op-25 payload).
func (e *ExternalSender) Marshal() []byte {
	var w writer
	e.marshal(&w)
	return w.b
}

// UnmarshalExternalSender decodes an ExternalSender (the op-25 payload).
func UnmarshalExternalSender(b []byte) (*ExternalSender, error) {
	r := reader{b: clone(b)}
	e := new(ExternalSender)
	e.unmarshal(&r)
	if err := r.finish(); err != nil {
		return nil, fmt.Errorf("mls: decode external sender: %w", err)
	}
	if err := validateSignatureKey("external sender signature key", e.SignatureKey); err != nil {
		return nil, err
	}
	return e, nil
}

func marshalExternalSenders(s []ExternalSender) []byte {
	var w writer
	w.nested(func(w *writer) {
		for i := range s {
			s[i].marshal(w)
		}
	})
	return w.b
}

func unmarshalExternalSenders(b []byte) ([]ExternalSender, error) {
	r := reader{b: b}
	s := r.sub()
	var out []ExternalSender
	for s.err == nil && len(s.b) > 0 {
		var e ExternalSender
		e.unmarshal(s)
		out = append(out, e)
	}
	r.join(s)
	if err := r.finish(); err != nil {
		return nil, fmt.Errorf("mls: decode external senders: %w", err)
	}
	return out, nil
}

// groupContext is RFC 9420 GroupContext.
type groupContext struct {
	version                 uint16
	cipherSuite             uint16
	groupID                 []byte
	epoch                   uint64
	treeHash                []byte
	confirmedTranscriptHash []byte
	extensions              []Extension
}

func (g *groupContext) marshal(w *writer) {
	w.u16(g.version)
	w.u16(g.cipherSuite)
	w.vec(g.groupID)
	w.u64(g.epoch)
	w.vec(g.treeHash)
	w.vec(g.confirmedTranscriptHash)
	marshalExtensions(w, g.extensions)
}

func (g *groupContext) unmarshal(r *reader) {
	g.version = r.u16()
	g.cipherSuite = r.u16()
	g.groupID = r.vec()
	g.epoch = r.u64()
	g.treeHash = r.vec()
	g.confirmedTranscriptHash = r.vec()
	g.extensions = unmarshalExtensions(r)
}

func (g *groupContext) bytes() []byte {
	var w writer
	g.marshal(&w)
	return w.b
}

// preSharedKeyID is RFC 9420 PreSharedKeyID.
type preSharedKeyID struct {
	pskType    uint8
	pskID      []byte // external
	usage      uint8  // resumption
	pskGroupID []byte
	pskEpoch   uint64
	nonce      []byte
}

func (p *preSharedKeyID) marshal(w *writer) {
	w.u8(p.pskType)
	switch p.pskType {
	case pskExternal:
		w.vec(p.pskID)
	case pskResumption:
		w.u8(p.usage)
		w.vec(p.pskGroupID)
		w.u64(p.pskEpoch)
	}
	w.vec(p.nonce)
}

func (p *preSharedKeyID) unmarshal(r *reader) {
	p.pskType = r.u8()
	switch p.pskType {
	case pskExternal:
		p.pskID = r.vec()
	case pskResumption:
		p.usage = r.u8()
		p.pskGroupID = r.vec()
		p.pskEpoch = r.u64()
	default:
		r.fail(fmt.Errorf("mls: invalid psk type %d", p.pskType))
	}
	p.nonce = r.vec()
}

// proposal is RFC 9420 Proposal. Types DAVE never sends are still decoded so
// vectors and foreign messages round-trip.
type proposal struct {
	typ        uint16
	keyPackage *KeyPackage     // add
	leaf       *leafNode       // update
	removed    uint32          // remove
	psk        *preSharedKeyID // psk
	reinit     *reInit         // reinit
	kemOutput  []byte          // external_init
	extensions []Extension     // group_context_extensions
}

type reInit struct {
	groupID     []byte
	version     uint16
	cipherSuite uint16
	extensions  []Extension
}

func (p *proposal) marshal(w *writer) {
	w.u16(p.typ)
	p.marshalBody(w)
}

func (p *proposal) marshalBody(w *writer) {
	switch p.typ {
	case proposalAdd:
		p.keyPackage.marshal(w)
	case proposalUpdate:
		p.leaf.marshal(w)
	case proposalRemove:
		w.u32(p.removed)
	case proposalPSK:
		p.psk.marshal(w)
	case proposalReInit:
		w.vec(p.reinit.groupID)
		w.u16(p.reinit.version)
		w.u16(p.reinit.cipherSuite)
		marshalExtensions(w, p.reinit.extensions)
	case proposalExternalInit:
		w.vec(p.kemOutput)
	case proposalGroupCtxExt:
		marshalExtensions(w, p.extensions)
	}
}

func (p *proposal) unmarshal(r *reader) {
	p.typ = r.u16()
	p.unmarshalBody(r)
}

func (p *proposal) unmarshalBody(r *reader) {
	switch p.typ {
	case proposalAdd:
		p.keyPackage = new(KeyPackage)
		p.keyPackage.unmarshal(r)
	case proposalUpdate:
		p.leaf = new(leafNode)
		p.leaf.unmarshal(r)
	case proposalRemove:
		p.removed = r.u32()
	case proposalPSK:
		p.psk = new(preSharedKeyID)
		p.psk.unmarshal(r)
	case proposalReInit:
		p.reinit = &reInit{groupID: r.vec(), version: r.u16(), cipherSuite: r.u16()}
		p.reinit.extensions = unmarshalExtensions(r)
	case proposalExternalInit:
		p.kemOutput = r.vec()
	case proposalGroupCtxExt:
		p.extensions = unmarshalExtensions(r)
	default:
		r.fail(fmt.Errorf("mls: unsupported proposal type %d", p.typ))
	}
}

// proposalOrRef is RFC 9420 ProposalOrRef.
type proposalOrRef struct {
	prop *proposal // by value when non-nil
	ref  []byte
}

// updatePathNode and updatePath are RFC 9420 §7.6.
type updatePathNode struct {
	encryptionKey []byte
	secrets       []hpkeCiphertext
}

type updatePath struct {
	leaf  leafNode
	nodes []updatePathNode
}

func (u *updatePath) marshal(w *writer) {
	u.leaf.marshal(w)
	w.nested(func(w *writer) {
		for _, n := range u.nodes {
			w.vec(n.encryptionKey)
			w.nested(func(w *writer) {
				for i := range n.secrets {
					n.secrets[i].marshal(w)
				}
			})
		}
	})
}

func (u *updatePath) unmarshal(r *reader) {
	u.leaf.unmarshal(r)
	s := r.sub()
	for s.err == nil && len(s.b) > 0 {
		n := updatePathNode{encryptionKey: s.vec()}
		c := s.sub()
		for c.err == nil && len(c.b) > 0 {
			var ct hpkeCiphertext
			ct.unmarshal(c)
			n.secrets = append(n.secrets, ct)
		}
		s.join(c)
		u.nodes = append(u.nodes, n)
	}
	r.join(s)
}

// commit is RFC 9420 Commit.
type commit struct {
	proposals []proposalOrRef
	path      *updatePath
}

func (c *commit) marshal(w *writer) {
	w.nested(func(w *writer) {
		for _, p := range c.proposals {
			if p.prop != nil {
				w.u8(proposalOrRefProposal)
				p.prop.marshal(w)
			} else {
				w.u8(proposalOrRefReference)
				w.vec(p.ref)
			}
		}
	})
	w.optional(c.path != nil)
	if c.path != nil {
		c.path.marshal(w)
	}
}

func (c *commit) unmarshal(r *reader) {
	s := r.sub()
	for s.err == nil && len(s.b) > 0 {
		switch s.u8() {
		case proposalOrRefProposal:
			p := new(proposal)
			p.unmarshal(s)
			c.proposals = append(c.proposals, proposalOrRef{prop: p})
		case proposalOrRefReference:
			c.proposals = append(c.proposals, proposalOrRef{ref: s.vec()})
		default:
			s.fail(errors.New("mls: invalid ProposalOrRef type"))
		}
	}
	r.join(s)
	if r.optional() {
		c.path = new(updatePath)
		c.path.unmarshal(r)
	}
}

// sender is RFC 9420 Sender.
type sender struct {
	typ   uint8
	index uint32 // leaf index (member) or external sender index
}

func (s *sender) marshal(w *writer) {
	w.u8(s.typ)
	if s.typ == senderMember || s.typ == senderExternal {
		w.u32(s.index)
	}
}

func (s *sender) unmarshal(r *reader) {
	s.typ = r.u8()
	switch s.typ {
	case senderMember, senderExternal:
		s.index = r.u32()
	case senderNewMemberProp, senderNewMemberCommit:
	default:
		r.fail(fmt.Errorf("mls: invalid sender type %d", s.typ))
	}
}

// framedContent is RFC 9420 FramedContent.
type framedContent struct {
	groupID           []byte
	epoch             uint64
	sender            sender
	authenticatedData []byte
	contentType       uint8
	application       []byte
	proposal          *proposal
	commit            *commit
}

func (f *framedContent) marshal(w *writer) {
	w.vec(f.groupID)
	w.u64(f.epoch)
	f.sender.marshal(w)
	w.vec(f.authenticatedData)
	w.u8(f.contentType)
	switch f.contentType {
	case contentApplication:
		w.vec(f.application)
	case contentProposal:
		f.proposal.marshal(w)
	case contentCommit:
		f.commit.marshal(w)
	}
}

func (f *framedContent) unmarshal(r *reader) {
	f.groupID = r.vec()
	f.epoch = r.u64()
	f.sender.unmarshal(r)
	f.authenticatedData = r.vec()
	f.contentType = r.u8()
	switch f.contentType {
	case contentApplication:
		f.application = r.vec()
	case contentProposal:
		f.proposal = new(proposal)
		f.proposal.unmarshal(r)
	case contentCommit:
		f.commit = new(commit)
		f.commit.unmarshal(r)
	default:
		r.fail(fmt.Errorf("mls: invalid content type %d", f.contentType))
	}
}

// publicMessage is RFC 9420 PublicMessage (content, auth data, membership tag).
type publicMessage struct {
	content         framedContent
	signature       []byte
	confirmationTag []byte // commits only
	membershipTag   []byte // member senders only
}

func (p *publicMessage) marshalAuth(w *writer) {
	w.vec(p.signature)
	if p.content.contentType == contentCommit {
		w.vec(p.confirmationTag)
	}
}

func (p *publicMessage) marshal(w *writer) {
	p.content.marshal(w)
	p.marshalAuth(w)
	if p.content.sender.typ == senderMember {
		w.vec(p.membershipTag)
	}
}

func (p *publicMessage) unmarshal(r *reader) {
	p.content.unmarshal(r)
	p.signature = r.vec()
	if p.content.contentType == contentCommit {
		p.confirmationTag = r.vec()
	}
	if p.content.sender.typ == senderMember {
		p.membershipTag = r.vec()
	}
}

// tbs is FramedContentTBS; ctx is nil for external and new-member-proposal senders.
func (p *publicMessage) tbs(ctx *groupContext) []byte {
	var w writer
	w.u16(ProtocolVersion)
	w.u16(wireFormatPublic)
	p.content.marshal(&w)
	if p.content.sender.typ == senderMember || p.content.sender.typ == senderNewMemberCommit {
		ctx.marshal(&w)
	}
	return w.b
}

// authenticatedContent is the AuthenticatedContent encoding (for ProposalRef
// and transcript-hash tests).
func (p *publicMessage) authenticatedContent() []byte {
	var w writer
	w.u16(wireFormatPublic)
	p.content.marshal(&w)
	p.marshalAuth(&w)
	return w.b
}

// membershipTagInput is AuthenticatedContentTBM.
func (p *publicMessage) membershipTagInput(ctx *groupContext) []byte {
	var w writer
	w.b = p.tbs(ctx)
	p.marshalAuth(&w)
	return w.b
}

// privateMessage is carried opaquely (DAVE uses PublicMessage only).
type privateMessage struct {
	groupID, authenticatedData, encryptedSenderData, ciphertext []byte
	epoch                                                       uint64
	contentType                                                 uint8
}

// groupInfo is RFC 9420 GroupInfo.
type groupInfo struct {
	ctx             groupContext
	extensions      []Extension
	confirmationTag []byte
	signer          uint32
	signature       []byte
}

func (g *groupInfo) marshalTBS(w *writer) {
	g.ctx.marshal(w)
	marshalExtensions(w, g.extensions)
	w.vec(g.confirmationTag)
	w.u32(g.signer)
}

func (g *groupInfo) marshal(w *writer) {
	g.marshalTBS(w)
	w.vec(g.signature)
}

func (g *groupInfo) unmarshal(r *reader) {
	g.ctx.unmarshal(r)
	g.extensions = unmarshalExtensions(r)
	g.confirmationTag = r.vec()
	g.signer = r.u32()
	g.signature = r.vec()
}

// groupSecrets is RFC 9420 GroupSecrets.
type groupSecrets struct {
	joinerSecret []byte
	pathSecret   []byte // nil when absent
	psks         []preSharedKeyID
}

func (g *groupSecrets) marshal(w *writer) {
	w.vec(g.joinerSecret)
	w.optional(g.pathSecret != nil)
	if g.pathSecret != nil {
		w.vec(g.pathSecret)
	}
	w.nested(func(w *writer) {
		for i := range g.psks {
			g.psks[i].marshal(w)
		}
	})
}

func (g *groupSecrets) unmarshal(r *reader) {
	g.joinerSecret = r.vec()
	if r.optional() {
		g.pathSecret = r.vec()
	}
	s := r.sub()
	for s.err == nil && len(s.b) > 0 {
		var p preSharedKeyID
		p.unmarshal(s)
		g.psks = append(g.psks, p)
	}
	r.join(s)
}

// encryptedGroupSecrets and welcome are RFC 9420 §12.4.3.
type encryptedGroupSecrets struct {
	newMember []byte
	secrets   hpkeCiphertext
}

type welcome struct {
	cipherSuite        uint16
	secrets            []encryptedGroupSecrets
	encryptedGroupInfo []byte
}

func (wl *welcome) marshal(w *writer) {
	w.u16(wl.cipherSuite)
	w.nested(func(w *writer) {
		for i := range wl.secrets {
			w.vec(wl.secrets[i].newMember)
			wl.secrets[i].secrets.marshal(w)
		}
	})
	w.vec(wl.encryptedGroupInfo)
}

func (wl *welcome) unmarshal(r *reader) {
	wl.cipherSuite = r.u16()
	s := r.sub()
	for s.err == nil && len(s.b) > 0 {
		var e encryptedGroupSecrets
		e.newMember = s.vec()
		e.secrets.unmarshal(s)
		wl.secrets = append(wl.secrets, e)
	}
	r.join(s)
	wl.encryptedGroupInfo = r.vec()
}

// mlsMessage is RFC 9420 MLSMessage.
type mlsMessage struct {
	wireFormat uint16
	public     *publicMessage
	private    *privateMessage
	welcome    *welcome
	groupInfo  *groupInfo
	keyPackage *KeyPackage
}

func (m *mlsMessage) marshal(w *writer) {
	w.u16(ProtocolVersion)
	w.u16(m.wireFormat)
	switch m.wireFormat {
	case wireFormatPublic:
		m.public.marshal(w)
	case wireFormatPrivate:
		p := m.private
		w.vec(p.groupID)
		w.u64(p.epoch)
		w.u8(p.contentType)
		w.vec(p.authenticatedData)
		w.vec(p.encryptedSenderData)
		w.vec(p.ciphertext)
	case wireFormatWelcome:
		m.welcome.marshal(w)
	case wireFormatGroupInfo:
		m.groupInfo.marshal(w)
	case wireFormatKeyPackage:
		m.keyPackage.marshal(w)
	}
}

func (m *mlsMessage) bytes() []byte {
	var w writer
	m.marshal(&w)
	return w.b
}

func (m *mlsMessage) unmarshal(r *reader) {
	if v := r.u16(); r.err == nil && v != ProtocolVersion {
		r.fail(fmt.Errorf("mls: unsupported protocol version %d", v))
	}
	m.wireFormat = r.u16()
	switch m.wireFormat {
	case wireFormatPublic:
		m.public = new(publicMessage)
		m.public.unmarshal(r)
	case wireFormatPrivate:
		p := new(privateMessage)
		p.groupID = r.vec()
		p.epoch = r.u64()
		p.contentType = r.u8()
		p.authenticatedData = r.vec()
		p.encryptedSenderData = r.vec()
		p.ciphertext = r.vec()
		m.private = p
	case wireFormatWelcome:
		m.welcome = new(welcome)
		m.welcome.unmarshal(r)
	case wireFormatGroupInfo:
		m.groupInfo = new(groupInfo)
		m.groupInfo.unmarshal(r)
	case wireFormatKeyPackage:
		m.keyPackage = new(KeyPackage)
		m.keyPackage.unmarshal(r)
	default:
		r.fail(fmt.Errorf("mls: invalid wire format %d", m.wireFormat))
	}
}

// parseMLSMessage decodes exactly one MLSMessage.
func parseMLSMessage(b []byte) (*mlsMessage, error) {
	r := reader{b: clone(b)}
	m := new(mlsMessage)
	m.unmarshal(&r)
	if err := r.finish(); err != nil {
		return nil, fmt.Errorf("mls: decode message: %w", err)
	}
	return m, nil
}

// SplitMessage decodes the first MLSMessage in b and returns its encoding and
// the remaining bytes. DAVE concatenates messages without framing (op 27
// proposal vectors; op 28 commit followed by a bare Welcome).
func SplitMessage(b []byte) (msg, rest []byte, err error) {
	r := reader{b: b}
	var m mlsMessage
	m.unmarshal(&r)
	if r.err != nil {
		return nil, nil, fmt.Errorf("mls: split message: %w", r.err)
	}
	n := len(b) - len(r.b)
	return b[:n:n], r.b, nil
}
