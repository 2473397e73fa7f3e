package discordtest

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
)

// Gateway intents the emulator filters dispatches by.
const (
	intentGuilds           = 1 << 0
	intentGuildVoiceStates = 1 << 7
	intentAny              = -1
)

// Gateway close codes (Discord's).
const (
	closeUnknownOpcode    = 4001
	closeDecodeError      = 4002
	closeNotAuthenticated = 4003
	closeAuthFailed       = 4004
	closeAlreadyAuthed    = 4005
	closeInvalidShard     = 4010
)

func shardOf(c *gwConn) []int {
	if c.shard[1] == 0 {
		return []int{0, 1}
	}
	return []int{c.shard[0], c.shard[1]}
}

type gwPayload struct {
	Op int             `json:"op"`
	D  json.RawMessage `json:"d"`
	S  *int64          `json:"s"`
	T  *string         `json:"t"`
}

// gwConn is one bot connection to the gateway; writes are serialized by mu so
// sequence numbers go out in order.
type gwConn struct {
	c         *websocket.Conn
	mu        sync.Mutex
	seq       int64
	sessionID string
	intents   int
	shard     [2]int // [id, count]; count 0 means unsharded
}

// serves reports whether the connection's shard receives guildID's events
// (DMs, guildID "", go to shard 0), by Discord's (id >> 22) % count rule.
func (c *gwConn) serves(guildID string) bool {
	if c.shard[1] <= 1 {
		return true
	}
	if guildID == "" {
		return c.shard[0] == 0
	}
	id, err := strconv.ParseUint(guildID, 10, 64)
	return err == nil && int((id>>22)%uint64(c.shard[1])) == c.shard[0]
}

func (c *gwConn) send(ctx context.Context, op int, t string, d any) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sendLocked(ctx, op, t, d)
}

func (c *gwConn) sendLocked(ctx context.Context, op int, t string, d any) error {
	p := map[string]any{"op": op, "d": d, "s": nil, "t": nil}
	if op == 0 {
		c.seq++
		p["s"], p["t"] = c.seq, t
	}
	b, err := json.Marshal(p)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	return c.c.Write(ctx, websocket.MessageText, b)
}

// broadcast dispatches an event about guildID ("" for DMs) to every
// identified connection whose intents include intent and whose shard serves
// the guild.
func (s *Server) broadcast(t, guildID string, d any, intent int) int {
	s.mu.Lock()
	conns := make([]*gwConn, 0, len(s.conns))
	for c := range s.conns {
		if (intent == intentAny || c.intents&intent != 0) && c.serves(guildID) {
			conns = append(conns, c)
		}
	}
	s.mu.Unlock()
	n := 0
	for _, c := range conns {
		if err := c.send(s.ctx, 0, t, d); err != nil {
			s.log.Debug("discordtest: dispatch failed", "event", t, "err", err)
			continue
		}
		n++
	}
	return n
}

// Connected reports how many bot connections have identified.
func (s *Server) Connected() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// WaitConnected waits until at least one bot connection is ready.
func (s *Server) WaitConnected(ctx context.Context) error {
	return s.waitFor(ctx, func() bool { return len(s.conns) > 0 })
}

func (s *Server) serveGateway(w http.ResponseWriter, r *http.Request) {
	// Hijacked connections are not the http.Server's to wait for.
	if !s.tasks.Enter() {
		http.Error(w, "closed", http.StatusServiceUnavailable)
		return
	}
	defer s.tasks.Leave()

	ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{CompressionMode: websocket.CompressionDisabled})
	if err != nil {
		return
	}
	ws.SetReadLimit(1 << 20)
	c := &gwConn{c: ws}
	ctx := s.ctx
	defer func() {
		s.mu.Lock()
		if _, ok := s.conns[c]; ok {
			delete(s.conns, c)
			s.notifyLocked()
		}
		s.mu.Unlock()
		_ = ws.CloseNow()
	}()
	if err := c.send(ctx, 10, "", map[string]any{"heartbeat_interval": s.opts.HeartbeatInterval.Milliseconds()}); err != nil {
		return
	}
	identified := false
	for {
		_, data, err := ws.Read(ctx)
		if err != nil {
			if ctx.Err() != nil {
				_ = ws.Close(websocket.StatusGoingAway, "emulator closing")
			}
			return
		}
		var p gwPayload
		if err := json.Unmarshal(data, &p); err != nil {
			_ = ws.Close(closeDecodeError, "Error while decoding payload.")
			return
		}
		switch {
		case p.Op == 1:
			err = c.send(ctx, 11, "", nil)
		case p.Op == 2 || p.Op == 6:
			if identified {
				_ = ws.Close(closeAlreadyAuthed, "Already authenticated.")
				return
			}
			var ok bool
			if p.Op == 2 {
				ok, err = s.identify(ctx, c, p.D)
			} else {
				ok, err = s.resume(ctx, c, p.D)
			}
			if !ok {
				return
			}
			identified = true
		case !identified:
			_ = ws.Close(closeNotAuthenticated, "Not authenticated.")
			return
		case p.Op == 3 || p.Op == 8:
			// Presence updates and member requests need no answer here.
		case p.Op == 4:
			err = s.voiceStateUpdate(ctx, c, p.D)
		default:
			_ = ws.Close(closeUnknownOpcode, "Unknown opcode.")
			return
		}
		if err != nil {
			s.log.Debug("discordtest: gateway write failed", "err", err)
			return
		}
	}
}

func (s *Server) checkToken(tok string) bool {
	return strings.TrimPrefix(tok, "Bot ") == s.opts.Token
}

func (s *Server) identify(ctx context.Context, c *gwConn, raw json.RawMessage) (bool, error) {
	var id struct {
		Token   string  `json:"token"`
		Intents *int    `json:"intents"`
		Shard   *[2]int `json:"shard"`
	}
	if err := json.Unmarshal(raw, &id); err != nil || id.Intents == nil {
		_ = c.c.Close(closeDecodeError, "Error while decoding payload.")
		return false, nil
	}
	if id.Shard != nil {
		if id.Shard[1] < 1 || id.Shard[0] < 0 || id.Shard[0] >= id.Shard[1] {
			_ = c.c.Close(closeInvalidShard, "Invalid shard.")
			return false, nil
		}
		c.shard = *id.Shard
	}
	if !s.checkToken(id.Token) {
		_ = c.c.Close(closeAuthFailed, "Authentication failed.")
		return false, nil
	}
	c.intents = *id.Intents
	s.mu.Lock()
	c.sessionID = randomHex(16)
	s.st.sessions[c.sessionID] = session{shard: c.shard, intents: c.intents}
	guilds := []map[string]any{}
	creates := []map[string]any{}
	for _, gid := range s.st.order {
		g := s.st.guilds[gid]
		if !c.serves(g.ID) {
			continue
		}
		guilds = append(guilds, map[string]any{"id": g.ID, "unavailable": true})
		creates = append(creates, s.guildCreateLocked(g))
	}
	ready := map[string]any{
		"v": 10, "user": s.userJSONLocked(s.st.bot.ID), "guilds": guilds, "session_id": c.sessionID,
		"resume_gateway_url": s.GatewayURL(), "shard": shardOf(c), "private_channels": []any{},
		"relationships": []any{}, "presences": []any{}, "user_settings": map[string]any{},
		"application": map[string]any{"id": s.st.bot.ID, "flags": 0},
	}
	s.mu.Unlock()
	// Registered before READY goes out, under the write lock, so a bot that
	// has READY is already reachable and no dispatch can overtake READY.
	c.mu.Lock()
	defer c.mu.Unlock()
	s.register(c)
	if err := c.sendLocked(ctx, 0, "READY", ready); err != nil {
		return false, err
	}
	if c.intents&intentGuilds != 0 {
		for _, g := range creates {
			if err := c.sendLocked(ctx, 0, "GUILD_CREATE", g); err != nil {
				return false, err
			}
		}
	}
	return true, nil
}

func (s *Server) resume(ctx context.Context, c *gwConn, raw json.RawMessage) (bool, error) {
	var r struct {
		Token     string `json:"token"`
		SessionID string `json:"session_id"`
		Seq       int64  `json:"seq"`
	}
	if err := json.Unmarshal(raw, &r); err != nil {
		_ = c.c.Close(closeDecodeError, "Error while decoding payload.")
		return false, nil
	}
	if !s.checkToken(r.Token) {
		_ = c.c.Close(closeAuthFailed, "Authentication failed.")
		return false, nil
	}
	s.mu.Lock()
	sess, known := s.st.sessions[r.SessionID]
	s.mu.Unlock()
	if !known {
		// Op 9 with d=false: the client must identify afresh.
		return false, c.send(ctx, 9, "", false)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sessionID, c.seq, c.intents, c.shard = r.SessionID, r.Seq, sess.intents, sess.shard
	s.mu.Lock()
	s.resumes++
	s.mu.Unlock()
	s.register(c)
	if err := c.sendLocked(ctx, 0, "RESUMED", map[string]any{}); err != nil {
		return false, err
	}
	return true, nil
}

func (s *Server) register(c *gwConn) {
	s.mu.Lock()
	s.conns[c] = struct{}{}
	s.notifyLocked()
	s.mu.Unlock()
}

// voiceStateUpdate handles op 4: the bot joins, moves or leaves a voice
// channel. It answers with VOICE_STATE_UPDATE and, when joining, with
// VOICE_SERVER_UPDATE from the VoiceServer hook.
func (s *Server) voiceStateUpdate(ctx context.Context, c *gwConn, raw json.RawMessage) error {
	var v struct {
		GuildID   string  `json:"guild_id"`
		ChannelID *string `json:"channel_id"`
		SelfMute  bool    `json:"self_mute"`
		SelfDeaf  bool    `json:"self_deaf"`
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		_ = c.c.Close(closeDecodeError, "Error while decoding payload.")
		return errors.New("bad op 4")
	}
	s.mu.Lock()
	g := s.st.guilds[v.GuildID]
	if g == nil {
		s.mu.Unlock()
		return nil // Discord ignores unknown guilds silently.
	}
	bot := s.st.bot.ID
	channel, left := "", ""
	if old := g.voice[bot]; old != nil {
		left = old.channelID
	}
	if v.ChannelID != nil {
		channel = *v.ChannelID
		if ch := s.st.channels[channel]; ch == nil || ch.GuildID != g.ID || ch.Type != ChannelVoice {
			s.mu.Unlock()
			return nil
		}
		g.voice[bot] = &voiceState{channelID: channel, sessionID: c.sessionID, selfMute: v.SelfMute, selfDeaf: v.SelfDeaf}
	} else {
		delete(g.voice, bot)
	}
	state := s.voiceStateLocked(g, bot)
	state["session_id"] = c.sessionID
	hook, leftHook := s.opts.VoiceServer, s.opts.VoiceLeft
	s.notifyLocked()
	s.mu.Unlock()
	if left != "" && left != channel && leftHook != nil {
		leftHook(g.ID, left, bot)
	}
	if channel == "" {
		return c.send(ctx, 0, "VOICE_STATE_UPDATE", state)
	}
	endpoint, token := "voice.emulator.invalid:443", randomHex(8)
	if hook != nil {
		endpoint, token = hook(g.ID, channel, bot, c.sessionID)
	}
	type event struct {
		name string
		data any
	}
	stateEv := event{"VOICE_STATE_UPDATE", state}
	serverEv := event{"VOICE_SERVER_UPDATE", map[string]any{"token": token, "guild_id": g.ID, "endpoint": endpoint}}
	var events []event
	if s.opts.VoicePending {
		events = append(events, event{"VOICE_SERVER_UPDATE", map[string]any{"token": randomHex(8), "guild_id": g.ID, "endpoint": nil}})
	}
	if s.opts.VoiceServerFirst {
		events = append(events, serverEv, stateEv)
	} else {
		events = append(events, stateEv, serverEv)
	}
	for _, e := range events {
		if err := c.send(ctx, 0, e.name, e.data); err != nil {
			return err
		}
	}
	return nil
}

// DropGateway cuts every bot's gateway connection without a close frame, as
// a network failure would; clients are expected to resume (op 6).
func (s *Server) DropGateway() {
	s.mu.Lock()
	conns := make([]*gwConn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
		delete(s.conns, c)
	}
	s.notifyLocked()
	s.mu.Unlock()
	for _, c := range conns {
		_ = c.c.CloseNow()
	}
}

// RequestReconnect sends op 7 (Reconnect) on every bot connection, as Discord
// does before it moves a session to another node, and stops dispatching on
// them: clients close the connection and resume (op 6) on a new one. It
// returns how many connections were asked.
func (s *Server) RequestReconnect() int {
	s.mu.Lock()
	conns := make([]*gwConn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	n := 0
	for _, c := range conns {
		c.mu.Lock() // no dispatch slips in after the op 7
		if err := c.sendLocked(s.ctx, 7, "", nil); err == nil {
			n++
		}
		s.mu.Lock()
		delete(s.conns, c)
		s.notifyLocked()
		s.mu.Unlock()
		c.mu.Unlock()
	}
	return n
}

// WaitResumed waits until at least n sessions have been resumed (op 6
// answered with RESUMED) since the server started.
func (s *Server) WaitResumed(ctx context.Context, n int) error {
	return s.waitFor(ctx, func() bool { return s.resumes >= n })
}
