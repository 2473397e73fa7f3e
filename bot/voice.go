package bot

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/bwmarrin/discordgo"
)

// VoiceServer is what the main gateway hands out for one voice connection
// (VOICE_STATE_UPDATE + VOICE_SERVER_UPDATE after the bot's op 4).
type VoiceServer struct {
	GuildID   string
	ChannelID string
	UserID    string // the bot's user ID
	SessionID string
	Endpoint  string // "host:port", without scheme
	Token     string
	// Bitrate is the voice channel's bitrate in bit/s, from the gateway's
	// channel cache (0: unknown).
	Bitrate int
}

// VoiceDialer opens voice connections ([NewVoiceDialer] is the voice
// package's). The bot does the main-gateway part (op 4 and collecting the two
// events) and hands the result over; rejoin repeats that part when the voice
// server demands a new session (close codes like 4006).
type VoiceDialer interface {
	DialVoice(ctx context.Context, vs VoiceServer, rejoin func(context.Context) (VoiceServer, error)) (Speaker, error)
}

// serverUpdater is implemented by Speakers that can follow a voice server
// failover (a VOICE_SERVER_UPDATE while connected).
type serverUpdater interface {
	ServerUpdate(VoiceServer)
}

// Speaker is one guild's voice connection as a conversation uses it: the
// reply's PCM goes in as it streams, one turn at a time.
type Speaker interface {
	// Audio queues PCM16LE, 24 kHz mono (Live's format). It must not block
	// for long: the conversation reads Live on the same goroutine.
	Audio(pcm []byte) error
	// Interrupt drops queued audio and ends what is playing (with the
	// silence tail).
	Interrupt()
	// EndOfTurn marks the end of the reply and waits until it has played
	// or ctx ends.
	EndOfTurn(ctx context.Context) error
	// Close disconnects from voice.
	Close() error
}

// voicePermError: the bot may not see, connect to or speak in the channel
// (checked before asking the gateway, which would stay silent). Missing
// names the permissions in Discord's words, for the message to the user.
type voicePermError struct{ missing []string }

func (e *voicePermError) Error() string {
	return "voice: missing permission " + strings.Join(e.missing, ", ")
}

// names is "**Connect**" or "**Connect** and **Speak**".
func (e *voicePermError) names() string {
	b := make([]string, len(e.missing))
	for i, m := range e.missing {
		b[i] = "**" + m + "**"
	}
	if len(b) == 1 {
		return b[0]
	}
	return strings.Join(b[:len(b)-1], ", ") + " and " + b[len(b)-1]
}

// voicePermissions lists what the bot lacks of View Channel, Connect and
// Speak in a channel (nil: nothing, or the cache cannot tell).
func (b *Bot) voicePermissions(channelID string) error {
	perms, err := b.dg.State.UserChannelPermissions(b.botUserID(), channelID)
	if err != nil {
		return nil // not cached: let the gateway decide
	}
	var missing []string
	for _, p := range []struct {
		bit  int64
		name string
	}{{discordgo.PermissionViewChannel, "View Channel"}, {discordgo.PermissionVoiceConnect, "Connect"}, {discordgo.PermissionVoiceSpeak, "Speak"}} {
		if perms&p.bit == 0 {
			missing = append(missing, p.name)
		}
	}
	if missing == nil {
		return nil
	}
	return &voicePermError{missing: missing}
}

// voiceJoinTimeout bounds waiting for the gateway's two voice events.
const voiceJoinTimeout = 10 * time.Second

// voiceState tracks the bot's voice connections and pending op 4 requests.
type voiceState struct {
	mu       sync.Mutex
	joins    map[string]*voiceJoin // guild → join in progress
	speakers map[string]*guildVoice
	guildMu  map[string]*sync.Mutex // one join/leave at a time per guild
}

type guildVoice struct {
	channelID string
	sessionID string
	sp        Speaker
	// idle fires VoiceIdleTimeout after the join or the last turn (nil when
	// disabled); busy and last are guarded by voiceState.mu.
	idle *time.Timer
	busy int       // turns speaking through sp now
	last time.Time // when the last turn ended (or the join)
	gone chan struct{}
	once sync.Once
}

// retire ends the connection's watcher; the caller has removed gv from the
// speakers map.
func (gv *guildVoice) retire() {
	gv.once.Do(func() {
		if gv.idle != nil {
			gv.idle.Stop()
		}
		close(gv.gone)
	})
}

// voiceJoin collects the two events of one op 4, in either order.
type voiceJoin struct {
	channelID string
	state     chan string      // session_id
	server    chan VoiceServer // token, endpoint
}

func (v *voiceState) init() {
	v.joins = map[string]*voiceJoin{}
	v.speakers = map[string]*guildVoice{}
	v.guildMu = map[string]*sync.Mutex{}
}

func (v *voiceState) lock(guildID string) func() {
	v.mu.Lock()
	m := v.guildMu[guildID]
	if m == nil {
		m = &sync.Mutex{}
		v.guildMu[guildID] = m
	}
	v.mu.Unlock()
	m.Lock()
	return m.Unlock
}

func (v *voiceState) onState(botID string, raw json.RawMessage) {
	var e struct {
		GuildID   string  `json:"guild_id"`
		UserID    string  `json:"user_id"`
		ChannelID *string `json:"channel_id"`
		SessionID string  `json:"session_id"`
	}
	if json.Unmarshal(raw, &e) != nil || e.UserID != botID || botID == "" {
		return
	}
	v.mu.Lock()
	j := v.joins[e.GuildID]
	v.mu.Unlock()
	if j != nil && e.ChannelID != nil && *e.ChannelID == j.channelID {
		select {
		case j.state <- e.SessionID:
		default:
		}
	}
}

func (v *voiceState) onServer(raw json.RawMessage) {
	var e struct {
		GuildID  string  `json:"guild_id"`
		Token    string  `json:"token"`
		Endpoint *string `json:"endpoint"`
	}
	if json.Unmarshal(raw, &e) != nil || e.Endpoint == nil || *e.Endpoint == "" {
		return // a null endpoint means the server is going away: wait for the next
	}
	vs := VoiceServer{GuildID: e.GuildID, Token: e.Token, Endpoint: *e.Endpoint}
	v.mu.Lock()
	j := v.joins[e.GuildID]
	gv := v.speakers[e.GuildID]
	v.mu.Unlock()
	switch {
	case j != nil:
		select {
		case j.server <- vs:
		default:
		}
	case gv != nil:
		if u, ok := gv.sp.(serverUpdater); ok {
			vs.ChannelID, vs.SessionID = gv.channelID, gv.sessionID
			u.ServerUpdate(vs)
		}
	}
}

// joinGateway sends op 4 for channelID and waits for both voice events.
func (b *Bot) joinGateway(ctx context.Context, guildID, channelID string) (VoiceServer, error) {
	j := &voiceJoin{channelID: channelID, state: make(chan string, 1), server: make(chan VoiceServer, 1)}
	b.voice.mu.Lock()
	b.voice.joins[guildID] = j
	b.voice.mu.Unlock()
	defer func() {
		b.voice.mu.Lock()
		delete(b.voice.joins, guildID)
		b.voice.mu.Unlock()
	}()
	if err := b.sendOp4(guildID, channelID); err != nil {
		return VoiceServer{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, voiceJoinTimeout)
	defer cancel()
	var vs VoiceServer
	var session string
	for session == "" || vs.Token == "" {
		select {
		case session = <-j.state:
		case vs = <-j.server:
		case <-ctx.Done():
			return VoiceServer{}, fmt.Errorf("voice: waiting for the voice server: %w", ctx.Err())
		}
	}
	vs.ChannelID, vs.SessionID, vs.UserID = channelID, session, b.botUserID()
	return vs, nil
}

// sendOp4 asks the gateway to move the bot to channelID ("" leaves). The
// Manual variant only writes op 4: discordgo's own (outdated) voice code
// stays idle because no VoiceConnection is registered. discordgo writes to
// its socket without a nil check, which panics while it reconnects; that
// becomes an error here.
func (b *Bot) sendOp4(guildID, channelID string) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = errors.New("voice: the gateway is reconnecting")
		}
	}()
	if err := b.dg.ChannelVoiceJoinManual(guildID, channelID, false, channelID != ""); err != nil {
		return fmt.Errorf("voice: send op 4: %w", err)
	}
	return nil
}

// speaker returns the guild's Speaker in channelID, joining (or moving)
// first when needed.
func (b *Bot) speaker(ctx context.Context, guildID, channelID string) (Speaker, error) {
	if b.cfg.Voice == nil {
		return nil, errors.New("voice: no voice dialer configured")
	}
	unlock := b.voice.lock(guildID)
	defer unlock()
	b.voice.mu.Lock()
	gv := b.voice.speakers[guildID]
	b.voice.mu.Unlock()
	if gv != nil && ended(gv.sp) {
		// Discord closed the connection for good (4014 kicked, 4022 call
		// terminated…): forget it and join afresh rather than speak into it.
		b.dropSpeaker(guildID, gv.sp)
		gv = nil
	}
	if gv != nil && gv.channelID == channelID {
		// Under the guild lock, so the idle timer's check sees the use.
		b.voice.mu.Lock()
		gv.last = time.Now()
		b.voice.mu.Unlock()
		return gv.sp, nil
	}
	if err := b.voicePermissions(channelID); err != nil {
		return nil, err
	}
	if gv != nil {
		_ = gv.sp.Close()
		b.voice.mu.Lock()
		delete(b.voice.speakers, guildID)
		b.voice.mu.Unlock()
		gv.retire()
		b.met.voiceConnections(-1)
	}
	vs, err := b.joinGateway(ctx, guildID, channelID)
	if err != nil {
		return nil, err
	}
	if ch, err := b.dg.State.Channel(channelID); err == nil {
		vs.Bitrate = ch.Bitrate // what the channel's listeners are set up for
	}
	rejoin := func(ctx context.Context) (VoiceServer, error) {
		if b.ctx.Err() != nil {
			return VoiceServer{}, errors.New("voice: the bot is shutting down")
		}
		return b.joinGateway(ctx, guildID, channelID)
	}
	sp, err := b.cfg.Voice.DialVoice(ctx, vs, rejoin)
	if err != nil {
		_ = b.sendOp4(guildID, "")
		return nil, fmt.Errorf("voice: connect: %w", err)
	}
	gv = &guildVoice{channelID: channelID, sessionID: vs.SessionID, sp: sp, last: time.Now(), gone: make(chan struct{})}
	var idle <-chan time.Time
	if b.cfg.VoiceIdleTimeout > 0 {
		gv.idle = time.NewTimer(b.cfg.VoiceIdleTimeout)
		idle = gv.idle.C
	}
	b.voice.mu.Lock()
	b.voice.speakers[guildID] = gv
	b.voice.mu.Unlock()
	b.met.voiceConnections(1)
	b.log.Info("joined voice", "guild", guildID, "channel", channelID, "endpoint", vs.Endpoint, "bitrate", vs.Bitrate)
	var done <-chan struct{}
	if d, ok := sp.(interface{ Done() <-chan struct{} }); ok {
		done = d.Done()
	}
	// The connection's watcher: forget it as soon as it ends on its own (so
	// the voice-connections gauge and /join see the truth), and leave after
	// VoiceIdleTimeout without a turn.
	b.wg.Go(func() {
		for {
			select {
			case <-done:
				unlock := b.voice.lock(guildID)
				b.dropSpeaker(guildID, sp)
				unlock()
				return
			case <-idle:
				if b.leaveIdle(guildID, gv) {
					return
				}
			case <-gv.gone:
				return
			case <-b.ctx.Done():
				return
			}
		}
	})
	return sp, nil
}

// speaking marks a turn speaking through sp, so the idle timer cannot leave
// under it; the returned func ends the turn and restarts the idle timer.
func (b *Bot) speaking(guildID string, sp Speaker) (done func()) {
	b.voice.mu.Lock()
	defer b.voice.mu.Unlock()
	gv := b.voice.speakers[guildID]
	if gv == nil || gv.sp != sp {
		return func() {}
	}
	gv.busy++
	return func() {
		b.voice.mu.Lock()
		defer b.voice.mu.Unlock()
		gv.busy--
		gv.last = time.Now()
		if gv.idle != nil && gv.busy == 0 && b.voice.speakers[guildID] == gv {
			gv.idle.Reset(b.cfg.VoiceIdleTimeout)
		}
	}
}

// leaveIdle leaves the guild's voice channel if gv is still its connection
// and has had no turn for VoiceIdleTimeout; it reports whether gv is done
// with (left or replaced), otherwise its timer is armed again (or will be
// when the running turn ends).
func (b *Bot) leaveIdle(guildID string, gv *guildVoice) bool {
	unlock := b.voice.lock(guildID)
	defer unlock()
	b.voice.mu.Lock()
	if b.voice.speakers[guildID] != gv {
		b.voice.mu.Unlock()
		return true
	}
	if gv.busy > 0 {
		b.voice.mu.Unlock()
		return false
	}
	if rest := b.cfg.VoiceIdleTimeout - time.Since(gv.last); rest > 0 {
		gv.idle.Reset(rest)
		b.voice.mu.Unlock()
		return false
	}
	b.voice.mu.Unlock()
	if b.leaveLocked(guildID) {
		b.log.Info("left voice: idle", "guild", guildID, "channel", gv.channelID, "after", b.cfg.VoiceIdleTimeout)
	}
	return true
}

// ended reports whether a Speaker's connection has closed for good.
func ended(sp Speaker) bool {
	d, ok := sp.(interface{ Done() <-chan struct{} })
	if !ok {
		return false
	}
	select {
	case <-d.Done():
		return true
	default:
		return false
	}
}

// dropSpeaker forgets sp if it is still the guild's speaker; the caller holds
// the guild's voice lock.
func (b *Bot) dropSpeaker(guildID string, sp Speaker) {
	b.voice.mu.Lock()
	gv := b.voice.speakers[guildID]
	mine := gv != nil && gv.sp == sp
	if mine {
		delete(b.voice.speakers, guildID)
	}
	b.voice.mu.Unlock()
	if mine {
		gv.retire()
		_ = sp.Close()
		b.met.voiceConnections(-1)
		b.log.Info("voice connection ended", "guild", guildID)
	}
}

// leave disconnects from the guild's voice channel; it reports whether the
// bot was connected.
func (b *Bot) leave(guildID string) bool {
	unlock := b.voice.lock(guildID)
	defer unlock()
	return b.leaveLocked(guildID)
}

// leaveLocked is leave for a caller holding the guild's voice lock.
func (b *Bot) leaveLocked(guildID string) bool {
	b.voice.mu.Lock()
	gv := b.voice.speakers[guildID]
	delete(b.voice.speakers, guildID)
	b.voice.mu.Unlock()
	if gv == nil {
		return false
	}
	gv.retire()
	b.met.voiceConnections(-1)
	if err := gv.sp.Close(); err != nil {
		b.log.Debug("close voice", "err", err)
	}
	if err := b.sendOp4(guildID, ""); err != nil {
		b.log.Warn("voice: leave", "err", err)
	}
	return true
}

func (b *Bot) leaveAllVoice() {
	b.voice.mu.Lock()
	var guilds []string
	for g := range b.voice.speakers {
		guilds = append(guilds, g)
	}
	b.voice.mu.Unlock()
	for _, g := range guilds {
		b.leave(g)
	}
}

// userVoiceChannel finds the user's voice channel from the gateway state
// cache, then from REST.
func (b *Bot) userVoiceChannel(guildID, userID string) string {
	// The cache is authoritative once the guild is in it (GUILD_CREATE
	// carries voice states, VOICE_STATE_UPDATE keeps them).
	// (State.VoiceState reads the list without the state lock: iterate here.)
	if g, err := b.dg.State.Guild(guildID); err == nil {
		b.dg.State.RLock()
		defer b.dg.State.RUnlock()
		for _, vs := range g.VoiceStates {
			if vs.UserID == userID {
				return vs.ChannelID
			}
		}
		return ""
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	// GET /guilds/{guild}/voice-states/{user} (discordgo v0.29.0 has no
	// wrapper for it).
	uri := discordgo.EndpointGuilds + guildID + "/voice-states/" + userID
	body, err := b.dg.RequestWithBucketID("GET", uri, nil, discordgo.EndpointGuilds+guildID+"/voice-states", discordgo.WithContext(ctx))
	if err != nil {
		return ""
	}
	var vs struct {
		ChannelID string `json:"channel_id"`
	}
	_ = json.Unmarshal(body, &vs)
	return vs.ChannelID
}

func (b *Bot) onJoin(ia *interaction, log *slog.Logger) {
	if b.cfg.Voice == nil {
		b.respond(ia, "🔇 Voice isn't set up on this bot: /ask answers come as text and a WAV file.", true)
		return
	}
	ch := b.userVoiceChannel(ia.GuildID, userOf(ia.Interaction).ID)
	if ch == "" {
		b.respond(ia, "🎧 Join a voice channel first, then run /join again.", true)
		return
	}
	if err := b.deferReply(ia, true); err != nil {
		log.Warn("could not acknowledge /join", "err", err)
		return
	}
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	msg := fmt.Sprintf("🔊 Joined <#%s>. Answers to /ask will be spoken here.", ch)
	var perm *voicePermError
	if _, err := b.speaker(ctx, ia.GuildID, ch); errors.As(err, &perm) {
		msg = fmt.Sprintf("🔒 I can't join <#%s>: I'm missing the %s permission there. Ask an admin to give me View Channel, Connect and Speak in that channel.", ch, perm.names())
	} else if err != nil {
		log.Warn("join failed", "err", err)
		msg = "⚠️ I couldn't join your voice channel. Please try again in a moment."
	}
	if err := b.edit(ia, msg); err != nil {
		log.Warn("could not report /join", "err", err)
	}
}

func (b *Bot) onLeave(ia *interaction, _ *slog.Logger) {
	if b.leave(ia.GuildID) {
		b.respond(ia, "👋 Left the voice channel.", true)
		return
	}
	b.respond(ia, "I'm not in a voice channel here.", true)
}

// leaveIfAlone leaves a guild's voice channel when its last human left.
// discordgo has already applied the event to its state cache when the raw
// event reaches us.
func (b *Bot) leaveIfAlone(raw json.RawMessage) {
	var e struct {
		GuildID string `json:"guild_id"`
		UserID  string `json:"user_id"`
	}
	if json.Unmarshal(raw, &e) != nil || e.UserID == b.botUserID() {
		return
	}
	b.voice.mu.Lock()
	gv := b.voice.speakers[e.GuildID]
	b.voice.mu.Unlock()
	if gv == nil {
		return
	}
	g, err := b.dg.State.Guild(e.GuildID)
	if err != nil {
		return
	}
	b.dg.State.RLock()
	humans := 0
	for _, vs := range g.VoiceStates {
		bot := vs.UserID == b.botUserID() || (vs.Member != nil && vs.Member.User != nil && vs.Member.User.Bot)
		if vs.ChannelID == gv.channelID && !bot {
			humans++
		}
	}
	b.dg.State.RUnlock()
	if humans == 0 && b.leaveIfCurrent(e.GuildID, gv) {
		b.log.Info("left voice: nobody is listening", "guild", e.GuildID, "channel", gv.channelID)
	}
}

// leaveIfCurrent leaves only if gv is still the guild's connection: the
// asker who left gv's channel may already have had the bot follow them to
// another one (their /ask and their VOICE_STATE_UPDATE race), and that new
// connection must not be the one dropped.
func (b *Bot) leaveIfCurrent(guildID string, gv *guildVoice) bool {
	unlock := b.voice.lock(guildID)
	defer unlock()
	b.voice.mu.Lock()
	current := b.voice.speakers[guildID] == gv
	b.voice.mu.Unlock()
	return current && b.leaveLocked(guildID)
}
