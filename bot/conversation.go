package bot

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/livecord/livecord/live"
	"github.com/livecord/livecord/voice"
)

var (
	errQueueFull    = errors.New("queue full")
	errShuttingDown = errors.New("bot is shutting down")
)

// dialRetryDelay is the pause before retrying a transient Live dial failure.
const dialRetryDelay = 300 * time.Millisecond

// conversation is one guild's (or one DM user's) dialogue with Live: a Live
// session kept open across turns and a bounded queue of turns run one at a
// time by a worker goroutine. The worker exists only while there is work or
// an open session; after IdleTimeout it closes the session (keeping the
// resumption handle in the store), drops the conversation from Bot.convs and
// exits: a bot in thousands of guilds and DMs holds only the busy ones.
//
// Lock order: Bot.mu before conversation.mu.
type conversation struct {
	b       *Bot
	key     string
	guildID string

	mu      sync.Mutex
	queue   []*job
	running *job
	working bool          // a worker goroutine owns the conversation
	wake    chan struct{} // cap 1: new work
	fresh   bool          // drop the session and handle before the next turn
	talk    *talk         // the spoken conversation (/talk) sharing the session, if any

	// smu guards the Live session, which the worker's /ask turns and a
	// talk's streamed audio share (talk.go).
	smu          sync.Mutex
	sess         *live.Session
	sessVoice    string
	sessPersona  string
	sessRealtime bool // dialled with Config.Realtime (a talk needs it)
	realtime     bool // dial with it from now on
}

// job is one /ask waiting for or in its turn.
type job struct {
	ia           *interaction
	prompt       string
	images       []live.Image // /ask image:, prepared
	userID       string
	userName     string        // display name when asked, for the history
	voiceChannel string        // the asker's voice channel when they asked
	ready        chan struct{} // closed once acknowledged and the voice channel is looked up
	cancelled    bool          // guarded by conversation.mu
	shownPos     int           // last queue position shown to the asker
}

// convLocked returns the conversation for key, creating it if none is held.
func (b *Bot) convLocked(key, guildID string) *conversation {
	c := b.convs[key]
	if c == nil {
		c = &conversation{b: b, key: key, guildID: guildID, wake: make(chan struct{}, 1)}
		b.convs[key] = c
		b.met.conversations(1)
	}
	return c
}

// enqueue adds j to its conversation and returns the conversation and how
// many turns are ahead of j, or errQueueFull or errShuttingDown. It starts
// the worker if none is running. Holding Bot.mu throughout means a worker
// retiring the conversation never races a new job into it.
func (b *Bot) enqueue(ia *interaction, j *job) (*conversation, int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.ctx.Err() != nil {
		return nil, 0, errShuttingDown
	}
	c := b.convLocked(convKey(ia.Interaction), ia.GuildID)
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.queue) >= b.cfg.QueueCap {
		return c, 0, errQueueFull
	}
	c.queue = append(c.queue, j)
	b.met.queued(1)
	pos := len(c.queue) - 1
	if c.running != nil {
		pos++
	}
	if !c.working {
		if !b.tasks.Enter() { // shutdown began after the check above
			c.queue = c.queue[:len(c.queue)-1]
			b.met.queued(-1)
			return nil, 0, errShuttingDown
		}
		c.working = true
		go c.work()
	}
	select {
	case c.wake <- struct{}{}:
	default:
	}
	return c, pos, nil
}

// retire drops an idle conversation from Bot.convs unless work arrived; it
// reports whether the worker should exit. A /reset that came in after the
// session's handle was saved still wins: the handle is forgotten.
func (c *conversation) retire() bool {
	c.b.mu.Lock()
	c.mu.Lock()
	if len(c.queue) > 0 || c.talk != nil {
		c.mu.Unlock()
		c.b.mu.Unlock()
		return false
	}
	c.working = false
	fresh := c.fresh
	if c.b.convs[c.key] == c {
		delete(c.b.convs, c.key)
		c.b.met.conversations(-1)
	}
	c.mu.Unlock()
	c.b.mu.Unlock()
	if fresh {
		c.b.saveHandle(c.key, "")
	}
	return true
}

// cancel withdraws a job that will not run (its image was refused).
func (c *conversation) cancel(j *job) {
	c.mu.Lock()
	j.cancelled = true
	c.mu.Unlock()
	close(j.ready)
}

// resetConversation makes ia's next turn start a new Live session without
// context (/reset, /voice): the stored history and handle are deleted, then
// a held conversation is marked to drop its session. In that order, a turn
// dialling afterwards finds no handle, and one that read the handle before
// runs in a conversation that is held, and so marked. No conversation is
// created for a key that has none. On error nothing is marked, and the
// caller says so.
func (b *Bot) resetConversation(ctx context.Context, ia *interaction) error {
	key := convKey(ia.Interaction)
	if err := b.st.ResetConversation(ctx, key); err != nil {
		return &storeError{err}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if c := b.convs[key]; c != nil {
		c.mu.Lock()
		c.fresh = true
		c.mu.Unlock()
	}
	return nil
}

func (c *conversation) work() {
	defer c.b.tasks.Leave()
	idle := time.NewTimer(c.b.cfg.IdleTimeout)
	defer idle.Stop()
	// Every exit closes the session before clearing working: a new worker
	// may start as soon as working is false, and c.sess is the worker's.
	for {
		c.mu.Lock()
		if len(c.queue) == 0 {
			c.mu.Unlock()
			select {
			case <-c.wake:
				continue
			case <-idle.C:
				if c.talking() {
					idle.Reset(c.b.cfg.IdleTimeout) // the talk keeps the session
					continue
				}
				if c.hasSession() {
					c.b.log.Info("conversation idle: live session closed", "conversation", c.key)
				}
				c.closeSession()
				if c.retire() {
					return
				}
				continue
			case <-c.b.ctx.Done():
				c.drain()
				return
			}
		}
		j := c.queue[0]
		c.queue = c.queue[1:]
		c.b.met.queued(-1)
		c.running = j
		fresh := c.fresh
		c.fresh = false
		waiting := append([]*job(nil), c.queue...)
		c.mu.Unlock()

		if c.b.ctx.Err() != nil {
			c.mu.Lock()
			c.b.met.queued(1)
			c.queue = append([]*job{j}, c.queue...)
			c.running = nil
			c.mu.Unlock()
			c.drain()
			return
		}
		// Queue positions are edited alongside the turn (each reply has its
		// own rate-limit bucket), and done before the queue moves again.
		positions := make(chan struct{})
		go func() {
			defer close(positions)
			c.showPositions(waiting)
		}()
		<-j.ready
		c.mu.Lock()
		skip := j.cancelled
		c.mu.Unlock()
		if !skip {
			if fresh {
				c.dropSession()
			}
			c.runTurn(j, fresh)
		}
		<-positions
		c.mu.Lock()
		c.running = nil
		c.mu.Unlock()
		if !idle.Stop() {
			select {
			case <-idle.C:
			default:
			}
		}
		idle.Reset(c.b.cfg.IdleTimeout)
	}
}

// drain tells everyone still waiting that the bot is going away.
func (c *conversation) drain() {
	c.closeSession()
	c.mu.Lock()
	left := c.queue
	c.queue = nil
	c.b.met.queued(-float64(len(left)))
	c.working = false
	c.mu.Unlock()
	for _, j := range left {
		<-j.ready
		if !j.cancelled {
			_ = c.b.edit(j.ia, errorText("The bot is restarting, so this question wasn't answered. Please ask again in a minute.", j.prompt))
		}
	}
}

// showPositions edits each waiting job's reply when its place changed.
func (c *conversation) showPositions(waiting []*job) {
	for i, j := range waiting {
		pos := i + 1
		select {
		case <-j.ready:
		default:
			continue // not yet acknowledged; onAsk shows its own position
		}
		if j.cancelled || j.shownPos == pos {
			continue
		}
		j.shownPos = pos
		if err := c.b.edit(j.ia, queuedText(j.prompt, j.userID, pos)); err != nil {
			c.b.log.Warn("could not update queue position", "err", err)
		}
	}
}

// dropSession closes the Live session and forgets its handle (/reset,
// /voice).
func (c *conversation) dropSession() {
	c.smu.Lock()
	defer c.smu.Unlock()
	if c.sess != nil {
		if err := c.sess.Close(); err != nil {
			c.b.log.Debug("close live session", "err", err)
		}
		c.sess = nil
		c.b.met.liveSessions(-1)
	}
	c.b.saveHandle(c.key, "")
}

// closeSession closes the Live session, keeping its handle so the next turn
// resumes the conversation.
func (c *conversation) closeSession() {
	c.smu.Lock()
	defer c.smu.Unlock()
	c.closeSessionLocked()
}

func (c *conversation) closeSessionLocked() {
	if c.sess == nil {
		return
	}
	// Closed first: Close waits for the handle covering the last turn.
	if err := c.sess.Close(); err != nil {
		c.b.log.Debug("close live session", "err", err)
	}
	if h := c.sess.Handle(); h != "" {
		c.b.saveHandle(c.key, h)
	}
	c.sess = nil
	c.b.met.liveSessions(-1)
}

// session returns the open Live session, dialling (and resuming by handle
// when one is kept) if needed.
func (c *conversation) session(ctx context.Context) (*live.Session, error) {
	c.smu.Lock()
	defer c.smu.Unlock()
	voice, err := c.b.voiceFor(ctx, c.key)
	if err != nil {
		return nil, err
	}
	persona, err := c.b.personaFor(ctx, c.key)
	if err != nil {
		return nil, err
	}
	if c.sess != nil && c.sessVoice == voice && c.sessPersona == persona && (c.sessRealtime || !c.realtime) {
		return c.sess, nil
	}
	c.closeSessionLocked() // the handle keeps the context for the new one
	cfg := c.b.cfg.Live
	cfg.Voice, cfg.SystemInstruction = voice, persona
	cfg.Tools = c.b.toolDeclarations(cfg.Model)
	if c.realtime {
		c.b.talkLiveConfig(&cfg)
	}
	if cfg.Handle, err = c.b.st.Handle(ctx, c.key); err != nil {
		return nil, &storeError{err}
	}
	if cfg.Handle == "" && !c.realtime {
		// No handle (never had one, or it was forgotten when refused):
		// the recent history, if any, seeds the new session. Not for a
		// talk's realtime session: the service holds realtime input until
		// seeded history ends with turnComplete, which would start a reply.
		if err := c.b.seedHistory(ctx, c.key, &cfg); err != nil {
			return nil, err
		}
	}
	s, err := live.Dial(ctx, cfg)
	var le *live.Error
	if err != nil && cfg.Handle != "" && errors.As(err, &le) && le.Class == live.ClassSessionExpired {
		// The handle outlived the server's memory: start afresh, from the
		// remembered history.
		c.b.log.Info("resumption handle refused; starting a new session from history", "conversation", c.key)
		c.b.saveHandle(c.key, "")
		cfg.Handle = ""
		if !c.realtime {
			if err := c.b.seedHistory(ctx, c.key, &cfg); err != nil {
				return nil, err
			}
		}
		s, err = live.Dial(ctx, cfg)
	}
	if err != nil && errors.As(err, &le) && le.Class == live.ClassTransient {
		// One quick retry hides a blip (1011 unavailable, a dropped dial)
		// from the asker; a second failure is reported.
		c.b.log.Info("live dial failed, retrying once", "err", err)
		select {
		case <-time.After(dialRetryDelay):
			s, err = live.Dial(ctx, cfg)
		case <-ctx.Done():
		}
	}
	c.b.liveHealth.record(err)
	if err != nil {
		return nil, err
	}
	c.sess, c.sessVoice, c.sessPersona, c.sessRealtime = s, voice, persona, c.realtime
	c.b.met.liveSessions(1)
	return s, nil
}

// runTurn runs one /ask: Live turn, streaming edits, speaker feed, final
// message.
func (c *conversation) runTurn(j *job, fresh bool) {
	b := c.b
	log := b.log.With("conversation", c.key, "user", j.userID)
	ctx, cancel := context.WithTimeout(b.ctx, b.cfg.TurnTimeout)
	defer cancel()
	start := time.Now()

	r := &reply{prompt: j.prompt, userID: j.userID, limit: j.ia.attachLimit, start: start}
	ed := newEditor(b, j.ia, b.cfg.EditInterval)
	defer ed.stop()
	ed.set(r.streaming())

	// The budget is judged when the turn runs (after the acknowledgement,
	// and after the turns queued before it were recorded).
	deny, err := b.budgetDenied(ctx, c.guildID, j.userID)
	if err == nil && deny != "" {
		log.Info("over budget: turn not sent")
		b.met.failed("budget")
		ed.stop()
		r.failure = deny
		c.finish(j, r, log)
		return
	}
	var sess *live.Session
	if err == nil {
		sess, err = c.session(ctx)
	}
	if err != nil {
		if isStoreError(err) {
			log.Warn("state database failed", "err", err)
			b.met.failed("store")
		} else {
			log.Warn("live dial failed", "err", err)
			b.met.liveFailed(err)
		}
		ed.stop()
		r.failure = liveMessage(err, ctx)
		c.finish(j, r, log)
		return
	}
	var sp *voice.Speech
	if j.voiceChannel != "" && b.cfg.Voice != nil {
		if sp, err = b.speak(ctx, c.guildID, j.voiceChannel); err != nil {
			log.Warn("voice unavailable for this reply", "err", err)
			b.met.failed("voice")
			note := "I couldn't join your voice channel, so this answer is text only."
			var perm *voicePermError
			if errors.As(err, &perm) {
				note = "I'm missing the " + perm.names() + " permission in your voice channel, so this answer is text only."
			}
			r.notes = append(r.notes, note)
			sp = nil
		} else {
			// Ends the speech even when playback failed partway, so the
			// channel's idle timer runs again.
			defer func(sp *voice.Speech) { _ = sp.End(ctx) }(sp)
		}
	}
	tt := c.newTurnTools(ctx, sess, sp, c.b.mayManage(j.ia))
	defer tt.finish()
	sent := time.Now()
	var usage live.Usage
	complete := false
	turn, err := sess.Send(ctx, j.prompt, j.images...)
	if err != nil {
		log.Warn("live send failed", "err", err)
		b.met.liveFailed(err)
		c.closeSession()
		ed.stop()
		r.failure = liveMessage(err, ctx)
		c.finish(j, r, log)
		return
	}
	for {
		ev, err := turn.Next(ctx)
		if err == io.EOF {
			break
		}
		if err != nil {
			log.Warn("live turn failed", "err", err, "audio_bytes", len(r.pcm))
			b.met.liveFailed(err)
			c.closeSession()
			r.failure = liveMessage(err, ctx)
			r.partial = true
			break
		}
		switch ev.Kind {
		case live.EventAudio:
			if len(r.pcm) == 0 {
				b.met.firstAudio(time.Since(sent))
			}
			r.pcm = turn.Audio()
			if sp != nil && tt.speaking() {
				if err := sp.Write(ev.Audio); err != nil {
					log.Warn("speaker failed; continuing in text", "err", err)
					b.met.failed("voice")
					sp = nil
					if b.ctx.Err() == nil {
						// Tell the asker why the voice stopped (/leave, kicked, channel gone):
						// the text and attachment still carry the whole answer.
						r.notes = append(r.notes, "Voice playback stopped partway: I left or was removed from the voice channel.")
					}
				}
			}
		case live.EventOutputTranscript, live.EventText:
			r.transcript = turn.Transcript()
			ed.set(r.streaming())
		case live.EventInterrupted:
			r.interrupted = true
			if sp != nil {
				sp.Interrupt()
			}
		case live.EventToolCall, live.EventToolCancel:
			tt.handle(ev)
		case live.EventResumption:
			if ev.Handle != "" {
				b.saveHandle(c.key, ev.Handle)
			}
		case live.EventTurnComplete:
			usage, complete = ev.Usage, true
		}
	}
	// The turn keeps what arrived, a failed turn's partial reply included.
	r.pcm, r.transcript = turn.Audio(), turn.Transcript()
	r.tools, r.sources = tt.wait(), turn.Sources()
	ed.stop()
	r.elapsed = time.Since(start)
	if complete {
		c.record(j, r, usage, sess.Handle(), log)
	}
	c.finish(j, r, log)
	if sp != nil {
		// The answer is posted; the next turn waits until this one has
		// been heard (or the turn's deadline).
		if err := sp.End(ctx); err != nil {
			log.Debug("speaker end of turn", "err", err)
		}
	}
	log.Info("ask answered", "audio", live.AudioDuration(len(r.pcm)), "chars", len(r.transcript),
		"elapsed", r.elapsed.Round(time.Millisecond), "partial", r.partial, "fresh", fresh)
}

// finish posts the final message: edit of the original (with the audio
// attachment) plus follow-ups for text past 2000 characters.
func (c *conversation) finish(j *job, r *reply, log *slog.Logger) {
	outcome := "ok"
	switch {
	case r.failure != "" && c.b.ctx.Err() != nil:
		outcome = "cancelled"
	case r.failure != "":
		outcome = "error"
	case r.interrupted:
		outcome = "interrupted"
	}
	c.b.met.turn(outcome, time.Since(r.start), live.AudioDuration(len(r.pcm)))
	parts, file, err := r.final()
	if err != nil {
		log.Warn("could not encode the reply audio", "err", err)
	}
	if err := c.b.edit(j.ia, parts[0], file...); err != nil {
		log.Warn("could not post the answer", "err", err)
		c.b.met.failed("discord")
		return
	}
	for _, p := range parts[1:] {
		if err := c.b.followup(j.ia, p); err != nil {
			log.Warn("could not post the rest of the answer", "err", err)
			c.b.met.failed("discord")
			return
		}
	}
}

// liveMessage turns a Live failure into words for the asker.
func liveMessage(err error, ctx context.Context) string {
	var le *live.Error
	switch {
	case errors.As(err, &le) && le.Class == live.ClassClosed && ctx.Err() != nil,
		errors.Is(err, context.Canceled) && ctx.Err() != nil,
		// The turn's context is cancelled only by a shutdown (its own
		// deadline is DeadlineExceeded): whatever the dial or the database
		// reported as it was cut, the asker hears why.
		errors.Is(ctx.Err(), context.Canceled):
		return "The bot is restarting, so the answer was cut off. Please ask again in a minute."
	case isStoreError(err):
		return storeDownText
	case errors.Is(ctx.Err(), context.DeadlineExceeded): // the bot's own turn deadline
		return "Gemini took too long to answer. Please try again."
	case errors.As(err, &le):
		// Live's classes first: an unreachable endpoint's error wraps a
		// deadline too, and the asker should hear which it was.
		return le.UserMessage()
	case errors.Is(err, context.DeadlineExceeded):
		return "Gemini took too long to answer. Please try again."
	}
	return "Something went wrong talking to Gemini. Please try again."
}
