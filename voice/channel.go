package voice

import (
	"cmp"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/livecord/livecord/internal/tasks"
	"github.com/livecord/livecord/voice/inbound"
	"github.com/livecord/livecord/voice/player"
)

// DefaultJoinTimeout bounds the wait for the main gateway's two voice events
// after an op 4.
const DefaultJoinTimeout = 10 * time.Second

// daveReadyTimeout bounds the wait for the DAVE group after a dial.
const daveReadyTimeout = 2 * time.Second

// ChannelConfig configures NewChannel.
type ChannelConfig struct {
	// GuildID is the guild whose voice channel this is; UserID the bot's.
	GuildID, UserID string
	// SendOp4 writes the main gateway's op 4 (voice state update) for the
	// guild: channelID "" leaves. [Op4] is the discordgo one. The Channel
	// collects the answers through StateUpdate and ServerUpdate.
	SendOp4 func(channelID string) error
	// TLSConfig dials wss:// (nil: the system roots; tests trust the emulator's CA).
	TLSConfig *tls.Config
	// NoDAVE joins without end-to-end encryption (max_dave_protocol_version
	// 0): only for Stage channels and tests. DAVE is on by default.
	NoDAVE bool
	// Bitrate of the Opus encoder when Join is given none (default 64 kbit/s).
	Bitrate int
	// IdleTimeout leaves the channel after this long without speech
	// (0: stay until Leave, Close or an empty channel).
	IdleTimeout time.Duration
	// JoinTimeout bounds the wait for the gateway's events when the join's
	// context has no deadline (default DefaultJoinTimeout).
	JoinTimeout time.Duration
	// Logger receives the connection's logs; nil discards them.
	Logger *slog.Logger
	// Hooks receive what metrics need.
	Hooks Hooks
	// Receive tunes the listening pipeline (Listen); the zero value takes
	// package inbound's defaults.
	Receive inbound.Config
	// Hearing makes Join send op 4 without self-deafening (Op4Hearing):
	// Discord sends a self-deafened client no audio, so a bot that listens
	// needs it. A Channel built with NewChannel chooses through SendOp4.
	Hearing bool
}

// Hooks are optional callbacks for metrics and logs; each may be nil.
type Hooks struct {
	// FirstPacket: a turn's first Write → its first audio packet sent.
	FirstPacket func(time.Duration)
	// Underrun: the player's queue ran dry in the middle of a turn.
	Underrun func()
	// Joined and Left bracket each voice connection (why: "leave", "idle",
	// "alone", "moved", "ended", "closed").
	Joined func(channelID string)
	Left   func(channelID, why string)
}

// Channel is the bot's life in one guild's voice channel: it sends op 4
// through the caller's function, takes VOICE_STATE_UPDATE and
// VOICE_SERVER_UPDATE in either order (a null endpoint waits for the next;
// a later one while connected is a failover), rejoins on close codes that
// need a new session (4006…), speaks through its player, and leaves when
// idle or alone. Its methods are safe for concurrent use.
type Channel struct {
	cfg  ChannelConfig
	log  *slog.Logger
	ctx  context.Context
	stop context.CancelFunc
	bg   tasks.Group // connection watchers
	ears *ears       // the listener, ignore list and receive counters, shared by every connection

	joinMu sync.Mutex // one join, leave or drop at a time
	wake   chan struct{}

	mu         sync.Mutex
	want       string // the channel of the last op 4 join
	sessionID  string // from our VOICE_STATE_UPDATE in want
	token      string
	endpoint   string
	haveState  bool
	haveServer bool
	requesting bool  // a join waits for events: they are not a failover
	cur        *link // nil when not connected
}

// link is one voice connection and its player.
type link struct {
	channelID string
	conn      *Conn
	player    *player.Player
	gone      chan struct{} // closed when the link is dropped
	idle      *time.Timer   // nil without IdleTimeout
	busy      int           // Speech values not yet ended; guarded by Channel.mu
	last      time.Time     // last join or end of speech; guarded by Channel.mu
}

// NewChannel returns a Channel that is not connected; Join connects it.
func NewChannel(cfg ChannelConfig) *Channel {
	cfg.JoinTimeout = cmp.Or(cfg.JoinTimeout, DefaultJoinTimeout)
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &Channel{cfg: cfg, log: log.With("guild", cfg.GuildID), wake: make(chan struct{}, 1)}
	c.ears = newEars(cfg.Receive, c.log)
	c.ctx, c.stop = context.WithCancel(context.Background())
	return c
}

// StateUpdate hands over the bot's own VOICE_STATE_UPDATE in this guild
// (channelID "" when it left). Only one for the channel last joined counts:
// a stale one (a previous channel, a leave) that a concurrent dispatcher
// delivers late must not hide it.
func (c *Channel) StateUpdate(channelID, sessionID string) {
	c.mu.Lock()
	if channelID != "" && channelID == c.want {
		c.sessionID, c.haveState = sessionID, true
	}
	c.mu.Unlock()
	c.poke()
}

// ServerUpdate hands over the guild's VOICE_SERVER_UPDATE. An empty
// endpoint (null: a server is being allocated, or going away) is ignored:
// the next one counts. Ignoring it, rather than recording it, also keeps a
// null event that a concurrent event dispatcher (discordgo runs each
// handler on its own goroutine) delivers after the real one from hiding
// it. A new endpoint while connected moves the connection there.
func (c *Channel) ServerUpdate(endpoint, token string) {
	if endpoint == "" {
		return
	}
	c.mu.Lock()
	c.token, c.endpoint, c.haveServer = token, endpoint, true
	l, requesting := c.cur, c.requesting
	srv := Server{Endpoint: endpoint, Token: token, SessionID: c.sessionID}
	c.mu.Unlock()
	if l != nil && !requesting {
		l.conn.ServerUpdate(srv)
	}
	c.poke()
}

func (c *Channel) poke() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// ChannelID returns the voice channel the bot is connected to, "" if none.
func (c *Channel) ChannelID() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cur == nil {
		return ""
	}
	return c.cur.channelID
}

// Join connects to channelID (moving from another channel of the guild),
// or keeps the connection already there. bitrate is the channel's own
// (0: the configured default).
func (c *Channel) Join(ctx context.Context, channelID string, bitrate int) error {
	_, err := c.join(ctx, channelID, bitrate)
	return err
}

func (c *Channel) join(ctx context.Context, channelID string, bitrate int) (*link, error) {
	if c.ctx.Err() != nil {
		return nil, ErrClosed
	}
	c.joinMu.Lock()
	defer c.joinMu.Unlock()
	c.mu.Lock()
	l := c.cur
	c.mu.Unlock()
	if l != nil && l.conn.Err() != nil {
		// Discord closed it for good (4014 kicked, 4022 call terminated…):
		// join afresh rather than speak into it.
		c.dropLocked(l, "ended", false)
		l = nil
	}
	if l != nil && l.channelID == channelID {
		c.mu.Lock()
		l.last = time.Now() // under joinMu, so the idle check sees the use
		c.mu.Unlock()
		return l, nil
	}
	if l != nil {
		c.dropLocked(l, "moved", false)
	}
	srv, err := c.request(ctx, channelID)
	if err != nil {
		return nil, err
	}
	l, err = c.dial(ctx, channelID, srv, bitrate)
	if err != nil {
		_ = c.sendOp4("")
		return nil, fmt.Errorf("voice: connect: %w", err)
	}
	c.mu.Lock()
	c.cur = l
	c.mu.Unlock()
	if c.cfg.Hooks.Joined != nil {
		c.cfg.Hooks.Joined(channelID)
	}
	c.log.Info("joined voice", "channel", channelID, "endpoint", srv.Endpoint, "bitrate", bitrate)
	c.bg.Go(func() { c.watch(l) })
	return l, nil
}

// dial opens the connection and its player.
func (c *Channel) dial(ctx context.Context, channelID string, srv Server, bitrate int) (*link, error) {
	cfg := Config{
		Server: srv, UserID: c.cfg.UserID, GuildID: c.cfg.GuildID, ChannelID: channelID,
		TLSConfig: c.cfg.TLSConfig, Logger: c.cfg.Logger, ears: c.ears,
		Rejoin: func(ctx context.Context) (Server, error) {
			if c.ctx.Err() != nil {
				return Server{}, errors.New("voice: the channel is closing")
			}
			return c.request(ctx, channelID)
		},
	}
	var d *DAVE
	if !c.cfg.NoDAVE {
		uid, err1 := strconv.ParseUint(c.cfg.UserID, 10, 64)
		cid, err2 := strconv.ParseUint(channelID, 10, 64)
		if err := errors.Join(err1, err2); err != nil {
			return nil, fmt.Errorf("voice: dave needs numeric user and channel ids: %w", err)
		}
		var err error
		if d, err = NewDAVE(uid, cid, c.cfg.Logger); err != nil {
			return nil, err
		}
		cfg.E2EE = d
	}
	conn, err := Dial(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if d != nil {
		// A bot the voice server never proposes for the group would stay
		// silent forever: after DAVE's watchdog (a fresh key package, then
		// another wait) only a new voice session can help.
		d.OnNotWelcomed(func() {
			c.mu.Lock()
			srv := Server{Endpoint: c.endpoint, Token: c.token, SessionID: c.sessionID}
			c.mu.Unlock()
			c.log.Warn("voice: never welcomed into the DAVE group; starting a new voice session", "channel", channelID)
			conn.ServerUpdate(srv)
		})
		// DAVE drops frames until the group has formed (a few gateway round
		// trips after the dial); wait for it, briefly, so the start of the
		// first reply is heard. Without other members it never forms, and
		// nobody is listening anyway.
		wctx, cancel := context.WithTimeout(ctx, daveReadyTimeout)
		_ = d.WaitReady(wctx)
		cancel()
	}
	p, err := player.New(context.Background(), conn, player.Config{
		Bitrate: cmp.Or(bitrate, c.cfg.Bitrate), Logger: c.cfg.Logger,
		OnFirstPacket: c.cfg.Hooks.FirstPacket, OnUnderrun: c.cfg.Hooks.Underrun,
	})
	if err != nil {
		_ = conn.Close()
		return nil, err
	}
	l := &link{channelID: channelID, conn: conn, player: p, gone: make(chan struct{}), last: time.Now()}
	if c.cfg.IdleTimeout > 0 {
		l.idle = time.NewTimer(c.cfg.IdleTimeout)
	}
	return l, nil
}

// request sends op 4 for channelID and waits for both events with a usable
// endpoint.
func (c *Channel) request(ctx context.Context, channelID string) (Server, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.cfg.JoinTimeout)
		defer cancel()
	}
	c.mu.Lock()
	c.haveState, c.haveServer, c.requesting, c.want = false, false, true, channelID
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.requesting = false
		c.mu.Unlock()
	}()
	if err := c.sendOp4(channelID); err != nil {
		return Server{}, err
	}
	for {
		c.mu.Lock()
		ok := c.haveState && c.haveServer
		srv := Server{Endpoint: c.endpoint, Token: c.token, SessionID: c.sessionID}
		c.mu.Unlock()
		if ok {
			return srv, nil
		}
		select {
		case <-c.wake:
		case <-ctx.Done():
			return Server{}, fmt.Errorf("voice: waiting for VOICE_STATE_UPDATE and VOICE_SERVER_UPDATE: %w", ctx.Err())
		}
	}
}

func (c *Channel) sendOp4(channelID string) error {
	if c.cfg.SendOp4 == nil {
		return errors.New("voice: no op 4 sender configured")
	}
	if err := c.cfg.SendOp4(channelID); err != nil {
		return fmt.Errorf("voice: op 4: %w", err)
	}
	return nil
}

// watch forgets the connection as soon as it ends on its own, and leaves
// after IdleTimeout without speech.
func (c *Channel) watch(l *link) {
	var idle <-chan time.Time
	if l.idle != nil {
		idle = l.idle.C
	}
	for {
		select {
		case <-l.conn.Done():
			c.drop(l, "ended", false)
			return
		case <-idle:
			if c.leaveIdle(l) {
				return
			}
		case <-l.gone:
			return
		case <-c.ctx.Done():
			return
		}
	}
}

// leaveIdle leaves if l is still the connection and has had no speech for
// IdleTimeout; it reports whether l is done with, otherwise its timer is
// armed again (or will be when the running speech ends).
func (c *Channel) leaveIdle(l *link) bool {
	c.joinMu.Lock()
	defer c.joinMu.Unlock()
	c.mu.Lock()
	if c.cur != l {
		c.mu.Unlock()
		return true
	}
	if l.busy > 0 {
		c.mu.Unlock()
		return false
	}
	if rest := c.cfg.IdleTimeout - time.Since(l.last); rest > 0 {
		l.idle.Reset(rest)
		c.mu.Unlock()
		return false
	}
	c.mu.Unlock()
	c.dropLocked(l, "idle", true)
	return true
}

// drop forgets l if it is still the connection.
func (c *Channel) drop(l *link, why string, leave bool) {
	c.joinMu.Lock()
	defer c.joinMu.Unlock()
	c.dropLocked(l, why, leave)
}

// dropLocked is drop for a caller holding joinMu; leave also sends op 4
// with no channel.
func (c *Channel) dropLocked(l *link, why string, leave bool) bool {
	c.mu.Lock()
	mine := c.cur == l
	if mine {
		c.cur = nil
	}
	c.mu.Unlock()
	if !mine {
		return false
	}
	close(l.gone)
	if l.idle != nil {
		l.idle.Stop()
	}
	err := errors.Join(l.player.Close(), l.conn.Close())
	if err != nil {
		c.log.Debug("voice: close", "err", err)
	}
	if leave {
		if err := c.sendOp4(""); err != nil {
			c.log.Warn("voice: leave", "err", err)
		}
	}
	c.log.Info("left voice", "channel", l.channelID, "why", why)
	if c.cfg.Hooks.Left != nil {
		c.cfg.Hooks.Left(l.channelID, why)
	}
	return true
}

// Leave disconnects and sends op 4 with no channel; it reports whether the
// bot was connected.
func (c *Channel) Leave() bool {
	c.joinMu.Lock()
	defer c.joinMu.Unlock()
	c.mu.Lock()
	l := c.cur
	c.mu.Unlock()
	return l != nil && c.dropLocked(l, "leave", true)
}

// Listeners reports how many people (bots aside) are in channelID; the
// Channel leaves when that is the channel it is in and nobody is left. A
// connection that has meanwhile moved elsewhere is kept.
func (c *Channel) Listeners(channelID string, people int) bool {
	if people > 0 {
		return false
	}
	c.joinMu.Lock()
	defer c.joinMu.Unlock()
	c.mu.Lock()
	l := c.cur
	c.mu.Unlock()
	return l != nil && l.channelID == channelID && c.dropLocked(l, "alone", true)
}

// Close leaves the channel and stops the Channel's goroutines.
func (c *Channel) Close() error {
	c.Leave()
	c.stop()
	c.bg.Close()
	c.ears.close()
	return nil
}

// Speech is one reply spoken in the channel: PCM in as it streams, then End.
type Speech struct {
	c       *Channel
	l       *link
	samples []int16
	once    sync.Once
}

// Speak joins channelID if needed (as Join) and starts a Speech there; the
// idle timer does not run until it ends.
func (c *Channel) Speak(ctx context.Context, channelID string, bitrate int) (*Speech, error) {
	l, err := c.join(ctx, channelID, bitrate)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	l.busy++
	c.mu.Unlock()
	return &Speech{c: c, l: l}, nil
}

// Write queues PCM16LE, 24 kHz mono (Live's format). It fails once the
// connection has gone (left, kicked, moved). One goroutine writes a Speech.
func (s *Speech) Write(pcm []byte) error {
	s.samples = s.samples[:0]
	for i := 0; i+1 < len(pcm); i += 2 {
		s.samples = append(s.samples, int16(binary.LittleEndian.Uint16(pcm[i:])))
	}
	return s.l.player.Write(s.samples)
}

// Interrupt drops queued audio and ends what is playing (with the silence tail).
func (s *Speech) Interrupt() { s.l.player.Interrupt() }

// End marks the end of the reply and waits until it has played or ctx
// ends; then the idle timer runs again.
func (s *Speech) End(ctx context.Context) error {
	defer s.once.Do(s.release)
	if err := s.l.player.EndTurn(); err != nil {
		return err
	}
	return s.l.player.Wait(ctx)
}

func (s *Speech) release() {
	c, l := s.c, s.l
	c.mu.Lock()
	defer c.mu.Unlock()
	l.busy--
	l.last = time.Now()
	if l.idle != nil && l.busy == 0 && c.cur == l {
		l.idle.Reset(c.cfg.IdleTimeout)
	}
}
