package dave

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/livecord/livecord/voice/mls"
)

// Voice gateway v8 opcodes DAVE uses.
const (
	opReady               = 2
	opSessionDescription  = 4
	opClientsConnect      = 11
	opClientDisconnect    = 13
	opPrepareTransition   = 21
	opExecuteTransition   = 22
	opTransitionReady     = 23
	opPrepareEpoch        = 24
	opExternalSender      = 25
	opKeyPackage          = 26
	opProposals           = 27
	opCommitWelcome       = 28
	opAnnounceCommit      = 29
	opWelcome             = 30
	opInvalidCommitWelcom = 31
)

// MaxProtocolVersion is the highest DAVE protocol version this package
// speaks; send it as max_dave_protocol_version in Identify (op 0).
const MaxProtocolVersion = 1

// executeFallback bounds how long the sender waits for Execute Transition
// (op 22) before switching to the new epoch's key on its own: receivers drop
// the old epoch's key 10 s after the transition, and op 22 is reported to
// go missing at times (discordgo PR #1701).
const executeFallback = 5 * time.Second

// ErrNotReady is returned by [Session.Encrypt] while DAVE is on but no group
// key exists yet; the frame should be dropped, not sent in clear.
var ErrNotReady = errors.New("dave: no group key yet")

// ErrUnknownUser is returned by [Session.Decrypt] for a user who is not in the group.
var ErrUnknownUser = errors.New("dave: user not in the group")

// ErrNotWelcomed is returned by [Session.HandleOp] and [Session.Tick] when the
// session has waited twice [Config.WelcomeTimeout] for the others in the call
// to add it to their group, with a fresh key package (op 26) in between: the
// voice server has lost track of it. The caller should reconnect the voice
// connection (a new gateway session, op 0): that is the only way left to be
// proposed again.
var ErrNotWelcomed = errors.New("dave: never welcomed into the group")

// DefaultWelcomeTimeout is how long a session with others in the call waits
// to be added to their group before it sends a fresh key package, and then
// again before it reports [ErrNotWelcomed]. An add takes one proposal, one
// commit and one transition: well under a second on Discord, 2 s when a
// member that does not acknowledge must be timed out.
const DefaultWelcomeTimeout = 10 * time.Second

// downgradeKeyExpiry bounds how long receive keys of the last group live
// after a transition to protocol version 0 executes (as after an epoch change).
const downgradeKeyExpiry = cryptorExpiry

// Users is the set of users the voice server announced in the call (ops 11
// and 13), which are the only users a session lets the gateway add. It
// belongs to the voice connection, not to one DAVE session: @discordjs/voice
// keeps it from op 2 (Ready) on, and the voice server may announce the users
// already present (op 11) before it selects the protocol (op 4), which starts
// a new session. Share one Users between the sessions of a connection
// ([Config.Users]); it is safe for concurrent use.
type Users struct {
	mu  sync.Mutex
	ids map[uint64]struct{}
}

// NewUsers returns an empty set.
func NewUsers() *Users { return &Users{ids: map[uint64]struct{}{}} }

// Contains reports whether uid was announced and has not left.
func (u *Users) Contains(uid uint64) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	_, ok := u.ids[uid]
	return ok
}

func (u *Users) add(uid uint64) {
	u.mu.Lock()
	u.ids[uid] = struct{}{}
	u.mu.Unlock()
}

func (u *Users) remove(uid uint64) {
	u.mu.Lock()
	delete(u.ids, uid)
	u.mu.Unlock()
}

func (u *Users) clear() {
	u.mu.Lock()
	clear(u.ids)
	u.mu.Unlock()
}

// others reports whether anyone but self is in the set.
func (u *Users) others(self uint64) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	for id := range u.ids {
		if id != self {
			return true
		}
	}
	return false
}

// Outgoing is a voice gateway message the session asks the caller to send.
type Outgoing struct {
	Op int
	// Payload is the binary payload after the op byte when Binary is set
	// (ops 26 and 28), else the JSON value of "d" (ops 23 and 31).
	Payload []byte
	Binary  bool
}

// Config configures a [Session].
type Config struct {
	UserID    uint64 // the bot's user ID
	ChannelID uint64 // the voice channel: the MLS group ID
	// SigningKey is the MLS signature key; a fresh one is made when nil.
	SigningKey *mls.SigningKey
	// Now is the clock for key expiry; time.Now when nil.
	Now func() time.Time
	// Users is the connection's set of announced users; a new set when nil.
	// Pass the same one to every session of a voice connection.
	Users *Users
	// WelcomeTimeout overrides [DefaultWelcomeTimeout] when positive.
	WelcomeTimeout time.Duration
}

// Session is one voice connection's DAVE state. It is safe for concurrent use:
// the gateway reader calls HandleOp while audio goroutines call Encrypt and Decrypt.
type Session struct {
	mu  sync.Mutex
	cfg Config
	now func() time.Time

	version int    // protocol version in force (0 = transport encryption only)
	started bool   // a protocol version was selected (op 4 or op 24)
	users   *Users // users the gateway announced (ops 11/13), shared by the connection's sessions

	extSender []byte                 // op 25 payload
	kpp       *mls.KeyPackagePrivate // our leaf for this (re)join: pending group and Welcome
	pending   *mls.Group             // our epoch-0 group while we are not in an established one
	group     *mls.Group             // the established group
	ownCommit []byte                 // our last op-28 commit (its epoch is pending in current())
	// proposed is set once op 27 reached the current group this epoch:
	// only then can we follow a commit (libdave ignores one before).
	proposed bool

	// The welcome watchdog: since when we wait, with others in the call,
	// to be added to their group, and whether we sent a fresh key package.
	waitSince time.Time
	retried   bool

	transitions map[uint16]transition // prepared, awaiting op 22
	nextSeq     uint64

	sendPlain bool // sender passthrough
	enc       encryptor
	decs      map[uint64]*decryptor
}

// transition is a prepared protocol transition: its version, and for an MLS
// epoch change, the sender's new ratchet.
type transition struct {
	version  int
	ratchet  *keyRatchet
	prepared time.Time
	seq      uint64 // preparation order
}

// NewSession returns a session for one voice connection. It stays in
// passthrough (protocol version 0) until the voice server selects DAVE in
// Session Description (op 4) or Prepare Epoch (op 24).
func NewSession(cfg Config) (*Session, error) {
	if cfg.SigningKey == nil {
		k, err := mls.GenerateSignatureKey()
		if err != nil {
			return nil, fmt.Errorf("dave: new session: %w", err)
		}
		cfg.SigningKey = k
	}
	if cfg.Users == nil {
		cfg.Users = NewUsers()
	}
	if cfg.WelcomeTimeout <= 0 {
		cfg.WelcomeTimeout = DefaultWelcomeTimeout
	}
	s := &Session{
		cfg:         cfg,
		now:         cfg.Now,
		users:       cfg.Users,
		transitions: make(map[uint16]transition),
		decs:        make(map[uint64]*decryptor),
		sendPlain:   true,
	}
	if s.now == nil {
		s.now = time.Now
	}
	return s, nil
}

// ProtocolVersion returns the DAVE protocol version in force (0 = none).
func (s *Session) ProtocolVersion() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.version
}

// Epoch returns the established MLS group's epoch, and false before there is one.
func (s *Session) Epoch() (uint64, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.group == nil {
		return 0, false
	}
	return s.group.Epoch(), true
}

// Ready reports whether Encrypt would produce frames (encrypted, or in clear under version 0).
func (s *Session) Ready() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sendPlain || s.enc.ratchet != nil
}

// Encrypt appends to dst the frame to send for one Opus packet: its DAVE
// frame, or the packet unchanged under protocol version 0 and for Opus
// silence. It fails with [ErrNotReady] while DAVE has no key yet; the frame
// must then be dropped.
func (s *Session) Encrypt(dst, opus []byte) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sendPlain || isSilence(opus) {
		return append(dst, opus...), nil
	}
	s.maybeFallbackExecute()
	if s.enc.ratchet == nil {
		return dst, ErrNotReady
	}
	out, err := s.enc.encrypt(slices.Grow(dst, len(opus)+maxTrailer), opus)
	if err != nil {
		return dst, fmt.Errorf("dave: encrypt: %w", err)
	}
	return out, nil
}

// Decrypt appends to dst the Opus packet that userID sent as frame (silence
// and accepted unencrypted frames unchanged). A frame that fails (unknown
// sender, bad tag, replay, expired key) must be dropped.
func (s *Session) Decrypt(dst []byte, userID uint64, frame []byte) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	d, ok := s.decs[userID]
	if !ok {
		if isSilence(frame) || s.version == 0 {
			return append(dst, frame...), nil
		}
		return dst, fmt.Errorf("%w: %d", ErrUnknownUser, userID)
	}
	out, err := d.decrypt(slices.Grow(dst, len(frame)), frame, now)
	if err != nil {
		return dst, fmt.Errorf("dave: decrypt from %d: %w", userID, err)
	}
	return out, nil
}

// HandleOp processes one voice gateway message. payload is the JSON value of
// "d" for JSON ops, or the bytes after the sequence number and opcode for
// binary ops. The session reads ops 4 (dave_protocol_version), 11 and 13
// (the users DAVE may add), 21, 22 and 24 (JSON) and 25, 27, 29 and 30
// (binary); other ops are ignored, so a caller may pass everything. The
// returned messages must be sent in order, even when err is non-nil (a
// failed commit or welcome yields op 31 and a new key package); err is for
// logging, never a reason to drop the connection.
func (s *Session) HandleOp(op int, payload []byte) ([]Outgoing, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Outgoing
	err := s.handle(op, payload, &out)
	if err != nil {
		err = fmt.Errorf("dave: op %d: %w", op, err)
	}
	return out, errors.Join(err, s.tick(&out))
}

// Tick runs the welcome watchdog. Call it by [Session.WatchdogDeadline]
// (HandleOp runs it too): a session that waited [Config.WelcomeTimeout]
// with others in the call and is still in no group sends a fresh key
// package (op 26); after as long again it returns [ErrNotWelcomed].
func (s *Session) Tick() ([]Outgoing, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Outgoing
	err := s.tick(&out)
	return out, err
}

// WatchdogDeadline returns when [Session.Tick] has something to do, or the
// zero time while the session is not waiting to be welcomed.
func (s *Session) WatchdogDeadline() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.waitSince.IsZero() {
		return time.Time{}
	}
	return s.waitSince.Add(s.cfg.WelcomeTimeout)
}

// tick arms, disarms or fires the welcome watchdog.
func (s *Session) tick(out *[]Outgoing) error {
	waiting := s.version > 0 && s.kpp != nil && s.group == nil && s.users.others(s.cfg.UserID)
	if !waiting {
		s.waitSince, s.retried = time.Time{}, false
		return nil
	}
	now := s.now()
	if s.waitSince.IsZero() {
		s.waitSince = now
		return nil
	}
	if now.Sub(s.waitSince) < s.cfg.WelcomeTimeout {
		return nil
	}
	if !s.retried {
		// The gateway may have lost our key package: a fresh leaf and key
		// package, as libdave makes for every (re)join.
		if err := s.init(s.version, out); err != nil {
			return fmt.Errorf("dave: welcome watchdog: %w", err)
		}
		s.waitSince, s.retried = now, true
		return nil
	}
	s.waitSince, s.retried = now, false
	return fmt.Errorf("%w after %v and a fresh key package", ErrNotWelcomed, 2*s.cfg.WelcomeTimeout)
}

func (s *Session) handle(op int, payload []byte, out *[]Outgoing) error {
	switch op {
	case opReady:
		// A new gateway session: the server announces its users afresh
		// (discord.js starts its set here too).
		s.users.clear()
	case opSessionDescription:
		var d struct {
			Version int `json:"dave_protocol_version"`
		}
		if err := json.Unmarshal(payload, &d); err != nil {
			return err
		}
		return s.init(d.Version, out)
	case opClientsConnect:
		var d struct {
			UserIDs []string `json:"user_ids"`
		}
		if err := json.Unmarshal(payload, &d); err != nil {
			return err
		}
		for _, id := range d.UserIDs {
			uid, err := strconv.ParseUint(id, 10, 64)
			if err != nil {
				return fmt.Errorf("user id %q: %w", id, err)
			}
			s.users.add(uid)
		}
	case opClientDisconnect:
		var d struct {
			UserID string `json:"user_id"`
		}
		if err := json.Unmarshal(payload, &d); err != nil {
			return err
		}
		uid, err := strconv.ParseUint(d.UserID, 10, 64)
		if err != nil {
			return fmt.Errorf("user id %q: %w", d.UserID, err)
		}
		s.users.remove(uid)
	case opPrepareTransition:
		var d struct {
			Version      int    `json:"protocol_version"`
			TransitionID uint16 `json:"transition_id"`
		}
		if err := json.Unmarshal(payload, &d); err != nil {
			return err
		}
		s.prepareTransition(d.TransitionID, transition{version: d.Version, prepared: s.now()}, out)
	case opExecuteTransition:
		var d struct {
			TransitionID uint16 `json:"transition_id"`
		}
		if err := json.Unmarshal(payload, &d); err != nil {
			return err
		}
		s.execute(d.TransitionID)
	case opPrepareEpoch:
		var d struct {
			Version int    `json:"protocol_version"`
			Epoch   uint64 `json:"epoch"`
		}
		if err := json.Unmarshal(payload, &d); err != nil {
			return err
		}
		if d.Epoch == 1 { // a new group: start over with a new key package
			return s.init(d.Version, out)
		}
	case opExternalSender:
		return s.setExternalSender(payload)
	case opProposals:
		return s.proposals(payload, out)
	case opAnnounceCommit:
		if len(payload) < 2 {
			return errors.New("short payload")
		}
		return s.commit(binary.BigEndian.Uint16(payload), payload[2:], out)
	case opWelcome:
		if len(payload) < 2 {
			return errors.New("short payload")
		}
		return s.welcome(binary.BigEndian.Uint16(payload), payload[2:], out)
	}
	return nil
}

// init (re)starts DAVE at the given protocol version: for version > 0 a fresh
// leaf and key package (op 26) and, once the external sender is known, a new
// pending group.
func (s *Session) init(version int, out *[]Outgoing) error {
	if version < 0 || version > MaxProtocolVersion {
		return fmt.Errorf("unsupported DAVE protocol version %d", version)
	}
	now := s.now()
	if !s.started && version > 0 {
		// DAVE from the start: nothing may go out in clear. (An upgrade
		// later in the call keeps sending in clear until its transition.)
		s.sendPlain = false
	}
	s.started = true
	s.version = version
	s.resetMLS()
	// The group we leave is gone for us: send nothing under its key (a new
	// group's first transition installs the next one; until then frames
	// are dropped, as libdave's encryptor drops them without a ratchet).
	s.enc = encryptor{}
	if version == 0 {
		s.sendPlain = true
		s.expireReceiveKeys(now)
		for _, d := range s.decs {
			d.setPassthrough(true, now, 0)
		}
		return nil
	}
	// On an upgrade from version 0, receivers keep accepting plain frames
	// until the first encrypted transition executes (and 10 s beyond).
	var id [8]byte
	binary.BigEndian.PutUint64(id[:], s.cfg.UserID)
	// The zero options are DAVE's: infinite lifetime, no extensions, no GREASE.
	_, kpp, err := mls.NewKeyPackage(id[:], s.cfg.SigningKey, mls.KeyPackageOptions{})
	if err != nil {
		return fmt.Errorf("key package: %w", err)
	}
	kp, err := kpp.KeyPackage().Marshal()
	if err != nil {
		return fmt.Errorf("key package: %w", err)
	}
	s.kpp = kpp
	*out = append(*out, Outgoing{Op: opKeyPackage, Payload: kp, Binary: true})
	return s.createPendingGroup()
}

func (s *Session) resetMLS() {
	s.kpp, s.pending, s.group, s.ownCommit, s.proposed = nil, nil, nil, nil, false
	clear(s.transitions)
}

// expireReceiveKeys gives every sender's keys at most downgradeKeyExpiry
// more: after a downgrade nothing replaces them.
func (s *Session) expireReceiveKeys(now time.Time) {
	for _, d := range s.decs {
		d.expireManagers(now.Add(downgradeKeyExpiry))
	}
}

func (s *Session) setExternalSender(payload []byte) error {
	if s.group != nil {
		return nil // libdave ignores a new external sender once in a group
	}
	if _, err := mls.UnmarshalExternalSender(payload); err != nil {
		return err
	}
	s.extSender = bytes.Clone(payload)
	return s.createPendingGroup()
}

func (s *Session) createPendingGroup() error {
	if s.kpp == nil || s.extSender == nil || s.group != nil {
		return nil
	}
	ext, err := mls.UnmarshalExternalSender(s.extSender)
	if err != nil {
		return err
	}
	var gid [8]byte
	binary.BigEndian.PutUint64(gid[:], s.cfg.ChannelID)
	g, err := mls.NewGroup(gid[:], s.kpp, []mls.ExternalSender{*ext})
	if err != nil {
		return fmt.Errorf("pending group: %w", err)
	}
	g.SetPolicy(davePolicy)
	s.pending, s.ownCommit, s.proposed = g, nil, false
	return nil
}

// davePolicy is what DAVE demands beyond RFC 9420: only Add and Remove,
// commits by reference only, one leaf per user.
var davePolicy = mls.Policy{AddRemoveOnly: true, ByReferenceOnly: true, UniqueIdentities: true}

// current is the group proposals and commits apply to.
func (s *Session) current() *mls.Group {
	if s.group != nil {
		return s.group
	}
	return s.pending
}

func (s *Session) isRecognized(uid uint64) bool {
	return uid == s.cfg.UserID || s.users.Contains(uid)
}

// proposals handles op 27: queue (or revoke) the gateway's proposals, then
// commit to everything queued and send op 28.
func (s *Session) proposals(payload []byte, out *[]Outgoing) error {
	g := s.current()
	if g == nil {
		return nil // no group to apply them to yet (libdave ignores them too)
	}
	if len(payload) < 1 {
		return errors.New("empty proposals payload")
	}
	vec, err := readVector(payload[1:])
	if err != nil {
		return fmt.Errorf("proposals vector: %w", err)
	}
	s.proposed = true
	var rejected error
	switch payload[0] {
	case 0: // append
		for len(vec) > 0 {
			msg, rest, err := mls.SplitMessage(vec)
			if err != nil {
				return fmt.Errorf("proposal message: %w", err)
			}
			vec = rest
			// A proposal we refuse (bad signature or key, wrong epoch, a
			// user the gateway never announced) is left out alone: the
			// commit covers the rest of the batch, so one bad key package
			// cannot keep honest joiners out. (libdave drops the rest of
			// the op once one proposal fails, and so commits none of them.)
			p, err := g.ProcessProposal(msg)
			if err != nil {
				rejected = errors.Join(rejected, fmt.Errorf("proposal: %w", err))
				continue
			}
			if err := s.checkProposal(p); err != nil {
				if rerr := g.RevokeProposal(p.Ref); rerr != nil {
					return errors.Join(err, rerr)
				}
				rejected = errors.Join(rejected, err)
			}
		}
	case 1: // revoke
		for len(vec) > 0 {
			ref, rest, err := readVectorPrefix(vec)
			if err != nil {
				return fmt.Errorf("proposal ref: %w", err)
			}
			vec = rest
			if err := g.RevokeProposal(ref); err != nil {
				return fmt.Errorf("revoke %x: %w", ref, err)
			}
		}
	default:
		return fmt.Errorf("unknown proposals operation %d", payload[0])
	}
	g.ClearPending()
	s.ownCommit = nil
	if len(g.Proposals()) == 0 {
		return rejected
	}
	commit, welcome, err := g.Commit()
	if err != nil {
		return errors.Join(rejected, fmt.Errorf("commit: %w", err))
	}
	s.ownCommit = commit
	*out = append(*out, Outgoing{Op: opCommitWelcome, Payload: append(bytes.Clone(commit), welcome...), Binary: true})
	return rejected
}

// checkProposal applies DAVE's rules to a proposal the MLS layer accepted:
// from the gateway, Add or Remove, and an Add only for a user the gateway announced.
func (s *Session) checkProposal(p *mls.Proposal) error {
	if !p.External {
		return errors.New("proposal not from the external sender")
	}
	switch p.Type {
	case mls.ProposalAdd:
		uid, err := userID(p.KeyPackage.Identity())
		if err != nil {
			return fmt.Errorf("add proposal: %w", err)
		}
		if !s.isRecognized(uid) {
			return fmt.Errorf("add proposal for unrecognized user %d", uid)
		}
	case mls.ProposalRemove:
	default:
		return fmt.Errorf("unexpected proposal type %d", p.Type)
	}
	return nil
}

// userID decodes a DAVE credential identity: the 8-byte big-endian user ID.
func userID(identity []byte) (uint64, error) {
	if len(identity) != 8 {
		return 0, fmt.Errorf("credential identity of %d bytes, want 8", len(identity))
	}
	return binary.BigEndian.Uint64(identity), nil
}

// commit handles op 29, the gateway's winning commit for this epoch.
func (s *Session) commit(tid uint16, msg []byte, out *[]Outgoing) error {
	own := s.ownCommit != nil && bytes.Equal(msg, s.ownCommit)
	g := s.group
	switch {
	case own && g == nil:
		g = s.pending // we created the group: our epoch-0 group becomes it
	case own:
	case g == nil:
		return nil // not for us: a pending member joins by Welcome (libdave ignores it)
	case !s.proposed:
		// libdave (Session::CanProcessCommit) ignores a commit before any
		// proposals of the epoch: no op 31. Should we have fallen behind,
		// undecryptable frames flag the transition later.
		return nil
	}
	if h, err := mls.InspectCommit(msg); err == nil && !bytes.Equal(h.GroupID, g.GroupID()) {
		return nil // another group's commit: libdave ignores it too
	}
	// ProcessCommit merges our own pending commit when the bytes are ours
	// (we cannot decrypt our own UpdatePath).
	if err := g.ProcessCommit(msg); err != nil {
		if errors.Is(err, mls.ErrRemoved) {
			// Removed from the group: rejoin with a fresh key package.
			return errors.Join(err, s.init(s.version, out))
		}
		return s.recover(tid, fmt.Errorf("process commit: %w", err), out)
	}
	if err := s.adopt(g, tid, out); err != nil {
		return s.recover(tid, err, out)
	}
	return nil
}

// welcome handles op 30: join the group the winning commit created.
func (s *Session) welcome(tid uint16, msg []byte, out *[]Outgoing) error {
	if s.group != nil {
		return s.recover(tid, errors.New("welcome while already in a group"), out)
	}
	if s.kpp == nil || s.extSender == nil {
		return s.recover(tid, errors.New("welcome before key package and external sender"), out)
	}
	g, err := mls.JoinFromWelcome(msg, s.kpp, nil)
	if err != nil {
		return s.recover(tid, fmt.Errorf("process welcome: %w", err), out)
	}
	g.SetPolicy(davePolicy)
	ext, err := g.ExternalSenders()
	if err != nil {
		return s.recover(tid, fmt.Errorf("welcome external senders: %w", err), out)
	}
	if len(ext) != 1 || !bytes.Equal(ext[0].Marshal(), s.extSender) {
		return s.recover(tid, errors.New("welcome does not name exactly the gateway's external sender"), out)
	}
	if err := s.adopt(g, tid, out); err != nil {
		return s.recover(tid, err, out)
	}
	return nil
}

// recover answers a commit or welcome we cannot use: op 31 with its
// transition, then a fresh start (new key package) at the same version.
func (s *Session) recover(tid uint16, cause error, out *[]Outgoing) error {
	d, _ := json.Marshal(map[string]uint16{"transition_id": tid})
	*out = append(*out, Outgoing{Op: opInvalidCommitWelcom, Payload: d})
	if err := s.init(s.version, out); err != nil {
		return errors.Join(cause, err)
	}
	return cause
}

// adopt makes g the established group: new receive ratchets for every other
// member now, the sender's at Execute Transition (or now for transition 0).
func (s *Session) adopt(g *mls.Group, tid uint16, out *[]Outgoing) error {
	now := s.now()
	members := g.Members()
	ratchets := make(map[uint64]*keyRatchet, len(members))
	for _, m := range members {
		uid, err := userID(m.Identity)
		if err != nil {
			return fmt.Errorf("member at leaf %d: %w", m.Leaf, err)
		}
		if _, dup := ratchets[uid]; dup {
			return fmt.Errorf("user %d appears twice in the group", uid)
		}
		base, err := senderBaseSecret(g, uid)
		if err != nil {
			return err
		}
		ratchets[uid] = newKeyRatchet(base)
	}
	self, ok := ratchets[s.cfg.UserID]
	if !ok {
		return errors.New("we are not in the new group")
	}
	s.group, s.pending, s.ownCommit, s.proposed = g, nil, nil, false
	for uid, r := range ratchets {
		if uid == s.cfg.UserID {
			continue
		}
		d, ok := s.decs[uid]
		if !ok {
			d = &decryptor{}
			// Upgrading from version 0: this member may still send in clear.
			d.passthroughOn = s.sendPlain
			s.decs[uid] = d
		}
		d.addRatchet(r, now)
	}
	for uid := range s.decs {
		if _, ok := ratchets[uid]; !ok {
			delete(s.decs, uid)
		}
	}
	s.prepareTransition(tid, transition{version: s.version, ratchet: self, prepared: now}, out)
	return nil
}

// prepareTransition records a transition and acknowledges it with op 23, or
// executes it at once when its ID is 0.
func (s *Session) prepareTransition(tid uint16, t transition, out *[]Outgoing) {
	if t.version == 0 {
		for _, d := range s.decs {
			d.setPassthrough(true, t.prepared, 0)
		}
	}
	s.nextSeq++
	t.seq = s.nextSeq
	s.transitions[tid] = t
	if tid == 0 {
		s.execute(0)
		return
	}
	d, _ := json.Marshal(map[string]uint16{"transition_id": tid})
	*out = append(*out, Outgoing{Op: opTransitionReady, Payload: d})
}

// execute switches the sender to a prepared transition (op 22).
func (s *Session) execute(tid uint16) {
	t, ok := s.transitions[tid]
	if !ok {
		return
	}
	delete(s.transitions, tid)
	// An executed epoch supersedes any older one still waiting.
	if t.ratchet != nil {
		for id, o := range s.transitions {
			if o.ratchet != nil && o.seq < t.seq {
				delete(s.transitions, id)
			}
		}
	}
	s.version = t.version
	switch {
	case t.version == 0:
		s.resetMLS()
		s.sendPlain = true
		s.enc = encryptor{}
		s.expireReceiveKeys(s.now())
		return
	case t.ratchet != nil:
		s.enc.setRatchet(t.ratchet)
		// Encrypted from here on: plain frames in flight get passthroughExpiry.
		now := s.now()
		for _, d := range s.decs {
			if d.passthroughOn {
				d.setPassthrough(false, now, passthroughExpiry)
			}
		}
	case s.group == nil:
		// A gateway transition without a group (sole-member reset, or an
		// upgrade before the first commit): nothing to encrypt with yet.
		s.enc = encryptor{}
	}
	s.sendPlain = false
}

// maybeFallbackExecute switches the sender to the newest prepared epoch when
// op 22 is overdue.
func (s *Session) maybeFallbackExecute() {
	var best uint16
	var newest *transition
	for tid, t := range s.transitions {
		if t.ratchet != nil && (newest == nil || t.seq > newest.seq) {
			best, newest = tid, &t
		}
	}
	if newest != nil && s.now().Sub(newest.prepared) >= executeFallback {
		s.execute(best)
	}
}

// readVector decodes an MLS variable-length vector that must fill b.
func readVector(b []byte) ([]byte, error) {
	v, rest, err := readVectorPrefix(b)
	if err != nil {
		return nil, err
	}
	if len(rest) != 0 {
		return nil, fmt.Errorf("%d trailing bytes", len(rest))
	}
	return v, nil
}

// readVectorPrefix decodes an MLS variable-length vector at the start of b.
func readVectorPrefix(b []byte) (v, rest []byte, err error) {
	if len(b) == 0 {
		return nil, nil, errors.New("missing length")
	}
	var n, k int
	switch b[0] >> 6 {
	case 0:
		n, k = int(b[0]), 1
	case 1:
		if len(b) < 2 {
			return nil, nil, errors.New("short length")
		}
		n, k = int(binary.BigEndian.Uint16(b)&0x3fff), 2
		if n < 1<<6 {
			return nil, nil, errors.New("non-minimal length")
		}
	case 2:
		if len(b) < 4 {
			return nil, nil, errors.New("short length")
		}
		n, k = int(binary.BigEndian.Uint32(b)&0x3fffffff), 4
		if n < 1<<14 {
			return nil, nil, errors.New("non-minimal length")
		}
	default:
		return nil, nil, errors.New("invalid length prefix")
	}
	if len(b)-k < n {
		return nil, nil, fmt.Errorf("vector of %d bytes, %d left", n, len(b)-k)
	}
	return b[k : k+n], b[k+n:], nil
}
