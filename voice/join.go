package voice

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/bwmarrin/discordgo"
)

// DefaultJoinTimeout bounds the wait for the main gateway's voice events when
// the context has no deadline.
const DefaultJoinTimeout = 10 * time.Second

// Join joins (or moves to) channelID through the main gateway and dials the
// voice server it names. It sends op 4 with ChannelVoiceJoinManual and
// collects our VOICE_STATE_UPDATE and VOICE_SERVER_UPDATE with its own
// handlers (they arrive in either order, on separate goroutines; an empty
// endpoint means wait for the next one), so discordgo's own voice code never
// starts. cfg supplies the optional fields (TLS, E2EE, logger); the returned
// Conn rejoins through the main gateway on 4006-type closes and follows
// later VOICE_SERVER_UPDATEs. Closing it does not leave the channel: see Leave.
// To move to another channel of the same guild, Close the previous Conn
// first: while open it follows the guild's VOICE_SERVER_UPDATEs.
func Join(ctx context.Context, s *discordgo.Session, guildID, channelID string, cfg Config) (*Conn, error) {
	if s.State == nil || s.State.User == nil {
		return nil, errors.New("voice: join: the session is not open (no READY yet)")
	}
	j := &joiner{s: s, guildID: guildID, channelID: channelID, userID: s.State.User.ID, wake: make(chan struct{}, 1)}
	j.remove = append(j.remove,
		s.AddHandler(j.onState),
		s.AddHandler(j.onServer))
	srv, err := j.request(ctx)
	if err != nil {
		j.unregister()
		return nil, err
	}
	cfg.Server = srv
	cfg.UserID, cfg.GuildID, cfg.ChannelID = j.userID, guildID, channelID
	cfg.Rejoin = j.rejoin
	c, err := Dial(ctx, cfg)
	if err != nil {
		j.unregister()
		return nil, err
	}
	j.mu.Lock()
	j.conn = c
	j.mu.Unlock()
	context.AfterFunc(c.ctx, j.unregister) // the handlers live as long as the connection
	return c, nil
}

// Leave sends op 4 with no channel: the bot leaves guildID's voice channel.
// The voice server then closes the connection with 4014.
func Leave(s *discordgo.Session, guildID string) error {
	if s.State == nil || s.State.User == nil {
		return errors.New("voice: leave: the session is not open")
	}
	if err := s.ChannelVoiceJoinManual(guildID, "", false, false); err != nil {
		return fmt.Errorf("voice: leave: %w", err)
	}
	return nil
}

type joiner struct {
	s                          *discordgo.Session
	guildID, channelID, userID string
	remove                     []func()
	removeOnce                 sync.Once
	wake                       chan struct{}

	mu         sync.Mutex
	sessionID  string
	stateChan  string
	token      string
	endpoint   string
	haveState  bool
	haveServer bool
	requesting bool // a join is waiting for events: don't forward them to conn
	conn       *Conn
}

func (j *joiner) unregister() {
	j.removeOnce.Do(func() {
		for _, f := range j.remove {
			f()
		}
	})
}

func (j *joiner) poke() {
	select {
	case j.wake <- struct{}{}:
	default:
	}
}

func (j *joiner) onState(_ *discordgo.Session, e *discordgo.VoiceStateUpdate) {
	if e.VoiceState == nil || e.UserID != j.userID || e.GuildID != j.guildID {
		return
	}
	j.mu.Lock()
	j.sessionID, j.stateChan, j.haveState = e.SessionID, e.ChannelID, true
	j.mu.Unlock()
	j.poke()
}

func (j *joiner) onServer(_ *discordgo.Session, e *discordgo.VoiceServerUpdate) {
	if e.GuildID != j.guildID {
		return
	}
	j.mu.Lock()
	j.token, j.endpoint, j.haveServer = e.Token, e.Endpoint, true
	c, requesting := j.conn, j.requesting
	srv := Server{Endpoint: e.Endpoint, Token: e.Token, SessionID: j.sessionID}
	j.mu.Unlock()
	if c != nil && !requesting && e.Endpoint != "" {
		c.ServerUpdate(srv) // failover: identify afresh on the new server
	}
	j.poke()
}

// request sends op 4 and waits for both events with a usable endpoint.
func (j *joiner) request(ctx context.Context) (Server, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultJoinTimeout)
		defer cancel()
	}
	j.mu.Lock()
	j.haveState, j.haveServer, j.requesting = false, false, true
	j.mu.Unlock()
	defer func() {
		j.mu.Lock()
		j.requesting = false
		j.mu.Unlock()
	}()
	if err := j.s.ChannelVoiceJoinManual(j.guildID, j.channelID, false, false); err != nil {
		return Server{}, fmt.Errorf("voice: join: op 4: %w", err)
	}
	for {
		j.mu.Lock()
		ok := j.haveState && j.haveServer && j.endpoint != "" && j.stateChan == j.channelID
		srv := Server{Endpoint: j.endpoint, Token: j.token, SessionID: j.sessionID}
		j.mu.Unlock()
		if ok {
			return srv, nil
		}
		select {
		case <-j.wake:
		case <-ctx.Done():
			return Server{}, fmt.Errorf("voice: join: waiting for VOICE_STATE_UPDATE and VOICE_SERVER_UPDATE: %w", ctx.Err())
		}
	}
}

func (j *joiner) rejoin(ctx context.Context) (Server, error) {
	return j.request(ctx)
}
