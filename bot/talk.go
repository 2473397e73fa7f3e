package bot

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bwmarrin/discordgo"

	"github.com/livecord/livecord/live"
	"github.com/livecord/livecord/voice"
	"github.com/livecord/livecord/voice/inbound"
)

// A spoken conversation (/talk).
//
// One Live session per guild: a talk shares its guild's conversation
// (conversation.go), which then dials with Config.Realtime and input
// transcription (resuming the same context by handle). Speech streams in
// with SendAudio, and the service's replies come as turns of their own
// (NextTurn); a text /ask meanwhile is a Send on the same session, so both
// see one history, and its reply interrupts a spoken one as a new turn
// does.
//
//	voice.Channel.Listen ─(inbound events)─▶ floor ─▶ queue (bounded) ─▶ sender: SendContext/SendAudio/SendAudioEnd
//	        └─ Onset ─▶ barge-in: the reply playing stops at once
//	NextTurn loop: each turn → voice.Speech (as /ask) + one transcript message
//
// The queue between the listener and the sender is what holds speech
// while Live reconnects (goAway, resumption): SendAudio blocks while the
// session dials again, and what arrives meanwhile waits, up to queueCap
// items (about ten seconds); past that the oldest speech is lost and counted.

// TalkConfig tunes spoken conversations (Config.Talk).
type TalkConfig struct {
	// IdleTimeout stops listening after this long without anyone speaking
	// (default DefaultTalkIdle).
	IdleTimeout time.Duration
	// NameGate answers only turns whose transcript addresses the bot by
	// Name: the other replies are discarded unheard.
	NameGate bool
	// Name is how the bot is addressed and named in transcripts (default:
	// its Discord username).
	Name string
	// MaxHold bounds the speech held for someone waiting for the floor
	// (default 8 s; floor.go).
	MaxHold time.Duration
	// Realtime is the service's activity detection for spoken input
	// (realtimeInputConfig); ManualActivity makes the bot mark each
	// floor holder's speech itself.
	Realtime live.Realtime
	// OnExchange, when set, is called after each spoken exchange with its
	// timings (for the sandbox and benchmarks).
	OnExchange func(TalkExchange)
}

// DefaultTalkIdle is TalkConfig.IdleTimeout's default.
const DefaultTalkIdle = 5 * time.Minute

// TalkExchange describes one spoken exchange once its reply has played.
type TalkExchange struct {
	Speaker     string // display name of whoever had the floor
	Heard       string // Live's input transcription
	Reply       string // the reply's output transcription
	Interrupted bool   // cut by barge-in (locally or by Live)
	Gated       bool   // discarded by the name gate
	// In is the last voiced packet's arrival → its audio written to Live;
	// Out is the first reply chunk received → its first RTP packet sent.
	// Their sum is the bot's own share of the voice-to-voice latency.
	In, Out time.Duration
	// LastVoiced is when the last voiced packet of the question arrived,
	// LastSent when its audio went to Live, FirstReply when the reply's
	// first audio arrived from Live (zero when there was none).
	LastVoiced, LastSent, FirstReply time.Time
}

// queueCap bounds the speech waiting for the sender: 500 chunks of 20 ms.
const queueCap = 512

// talk is one guild's spoken conversation.
type talk struct {
	b       *Bot
	c       *conversation
	ch      *voice.Channel
	guildID string
	voiceID string
	textID  string
	log     *slog.Logger

	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{} // closed when run has cleaned up
	reason atomic.Pointer[string]

	fl      *floor // listener goroutine only
	queue   chan item
	lost    atomic.Uint64
	active  chan struct{} // cap 1: someone spoke (idle timer)
	started time.Time

	mu         sync.Mutex
	playing    *voice.Speech // the reply being spoken
	playingEx  *exchangeMsg
	cut        bool // playing was interrupted
	speaker    string
	speakerID  string    // the user id of speaker
	lastVoiced time.Time // the floor holder's last audio: arrival, and sent to Live
	lastSent   time.Time
	pending    *TalkExchange // timings of the exchange now speaking
	firstOut   time.Duration
	recvBase   voice.ReceiveStats
}

// talking reports whether a talk shares the conversation's session.
func (c *conversation) talking() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.talk != nil
}

// hasSession reports whether a Live session is open.
func (c *conversation) hasSession() bool {
	c.smu.Lock()
	defer c.smu.Unlock()
	return c.sess != nil
}

// sendOp4 is the guild's Channel's op 4: self-deafened (no audio is sent
// to a bot that does not listen) unless a talk listens in the guild.
func (b *Bot) sendOp4(guildID string) func(channelID string) error {
	deaf, hearing := voice.Op4(b.dg, guildID), voice.Op4Hearing(b.dg, guildID)
	return func(channelID string) error {
		b.voice.mu.Lock()
		hear := b.voice.hearing[guildID]
		if b.voice.deaf == nil {
			b.voice.deaf = map[string]bool{}
		}
		b.voice.deaf[guildID] = !hear && channelID != ""
		b.voice.mu.Unlock()
		if hear {
			return hearing(channelID)
		}
		return deaf(channelID)
	}
}

// hear makes the guild's joins undeafened (on) or deafened again; with on,
// a bot already sitting deafened in channelID undeafens there (op 4 again).
func (b *Bot) hear(guildID, channelID string, on bool) {
	b.voice.mu.Lock()
	if b.voice.hearing == nil {
		b.voice.hearing = map[string]bool{}
	}
	b.voice.hearing[guildID] = on
	redo := on && b.voice.deaf[guildID]
	ch := b.voice.m[guildID]
	b.voice.mu.Unlock()
	if redo && ch != nil && ch.ChannelID() == channelID {
		if err := b.sendOp4(guildID)(channelID); err != nil {
			b.log.Warn("talk: could not undeafen", "err", err)
		}
	}
}

// talkOf returns the guild's talk, or nil.
func (b *Bot) talkOf(guildID string) *talk {
	b.mu.Lock()
	defer b.mu.Unlock()
	c := b.convs["guild:"+guildID]
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.talk
}

// talkLiveConfig makes cfg fit for a spoken conversation: realtime input
// (TalkConfig.Realtime's activity detection), both
// transcriptions, and context compression (audio sessions are otherwise
// capped at 15 minutes).
func (b *Bot) talkLiveConfig(cfg *live.Config) {
	r := b.cfg.Talk.Realtime
	cfg.Realtime = &r
	cfg.InputTranscription, cfg.OutputTranscription, cfg.Compression = true, true, true
}

func (b *Bot) onTalk(ia *interaction, log *slog.Logger) {
	if b.cfg.Voice == nil {
		b.respond(ia, "🔇 Voice isn't set up on this bot, so I can't listen. /ask still works.", true)
		return
	}
	user := userOf(ia.Interaction)
	if t := b.talkOf(ia.GuildID); t != nil {
		t.stop(fmt.Sprintf("%s used /talk", b.displayName(ia.GuildID, user.ID)))
		<-t.done
		b.respond(ia, fmt.Sprintf("🔇 Stopped listening in <#%s>.", t.voiceID), false)
		return
	}
	vc := b.userVoiceChannel(ia.GuildID, user.ID)
	if vc == "" {
		b.respond(ia, "🎧 Join a voice channel first, then run /talk again.", true)
		return
	}
	if err := b.deferReply(ia, false); err != nil {
		log.Warn("could not acknowledge /talk", "err", err)
		return
	}
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	// Spoken turns spend the same daily budgets as typed ones.
	if msg, err := b.budgetDenied(ctx, ia.GuildID, user.ID); err != nil {
		log.Warn("talk: budget check failed", "err", err)
		_ = b.edit(ia, "⚠️ I couldn't check the Gemini budget (the bot's database isn't answering), so I'm not listening. Please try again in a minute.")
		return
	} else if msg != "" {
		_ = b.edit(ia, "🔇 "+strings.Replace(msg, "this question wasn't sent", "I'm not listening", 1))
		return
	}
	b.hear(ia.GuildID, vc, true)
	var perm *voicePermError
	if err := b.join(ctx, ia.GuildID, vc); errors.As(err, &perm) {
		b.hear(ia.GuildID, vc, false)
		_ = b.edit(ia, fmt.Sprintf("🔒 I can't join <#%s>: I'm missing the %s permission there.", vc, perm.names()))
		return
	} else if err != nil {
		b.hear(ia.GuildID, vc, false)
		log.Warn("talk: join failed", "err", err)
		_ = b.edit(ia, "⚠️ I couldn't join your voice channel. Please try again in a moment.")
		return
	}
	t, err := b.startTalk(ia.GuildID, vc, ia.ChannelID)
	if err != nil {
		b.hear(ia.GuildID, vc, false)
		_ = b.edit(ia, "🔌 I'm restarting right now. Please try /talk again in a minute.")
		return
	}
	if err := b.edit(ia, t.notice()); err != nil {
		log.Warn("could not post the talk notice", "err", err)
	}
}

// startTalk starts listening in voiceID (already joined) for the guild,
// transcribing into textID.
func (b *Bot) startTalk(guildID, voiceID, textID string) (*talk, error) {
	ch := b.channel(guildID, true)
	t := &talk{b: b, ch: ch, guildID: guildID, voiceID: voiceID, textID: textID,
		log: b.log.With("talk", guildID), done: make(chan struct{}), fl: newFloor(b.cfg.Talk.MaxHold),
		queue: make(chan item, queueCap), active: make(chan struct{}, 1), started: time.Now(),
		recvBase: ch.ReceiveStats()}
	b.mu.Lock()
	if b.ctx.Err() != nil || !b.tasks.Enter() {
		b.mu.Unlock()
		return nil, errShuttingDown
	}
	t.ctx, t.cancel = context.WithCancel(b.ctx)
	c := b.convLocked("guild:"+guildID, guildID)
	c.mu.Lock()
	c.talk = t
	c.mu.Unlock()
	b.mu.Unlock()
	t.c = c
	c.smu.Lock()
	c.realtime = true
	c.smu.Unlock()
	b.hearOnly(t)
	b.met.listening(1)
	go t.run()
	t.log.Info("talk started", "voice", voiceID, "text", textID)
	return t, nil
}

// notice says in the text channel that the bot listens, and to whom.
func (t *talk) notice() string {
	names := t.b.heardNames(t.guildID, t.voiceID)
	who := "everyone in the channel"
	if len(names) > 0 {
		who = strings.Join(names, ", ")
	}
	if len(t.b.cfg.AllowedRoles) > 0 {
		who += " (members with an allowed role)"
	}
	s := fmt.Sprintf("🎙️ **Listening** in <#%s>: I hear %s; bots, deafened and server-muted members are not heard. "+
		"Nothing is recorded; the conversation is transcribed here. Run /talk again to stop.", t.voiceID, who)
	need := int64(discordgo.PermissionViewChannel | discordgo.PermissionSendMessages)
	if perms, err := t.b.dg.State.UserChannelPermissions(t.b.botUserID(), t.textID); err == nil && perms&need != need {
		s += "\n⚠️ I'm missing **Send Messages** in this channel, so the transcript can't be posted here."
	}
	if t.b.cfg.Talk.NameGate {
		s += fmt.Sprintf("\nSay **%s** to address me: I answer only then.", escapeName(t.b.botName()))
	}
	return s
}

// stop ends the talk; reason is shown in the channel (unless a /talk
// reply says it).
func (t *talk) stop(reason string) {
	t.reason.CompareAndSwap(nil, &reason)
	t.cancel()
}

// stopTalk stops the guild's talk, if any, and waits for it.
func (b *Bot) stopTalk(guildID, reason string) {
	if t := b.talkOf(guildID); t != nil {
		t.stop(reason)
		<-t.done
	}
}

// run owns the talk's goroutines and cleans up when its context ends.
func (t *talk) run() {
	defer t.b.tasks.Leave()
	defer close(t.done)
	var wg sync.WaitGroup
	wg.Go(t.send)
	wg.Go(t.replies)
	stopListen := t.ch.Listen(t.hear)
	idle := max(t.b.cfg.Talk.IdleTimeout, 0)
	if idle == 0 {
		idle = DefaultTalkIdle
	}
	timer := time.NewTimer(idle)
	for running := true; running; {
		select {
		case <-t.ctx.Done():
			running = false
		case <-t.active:
			timer.Reset(idle)
		case <-timer.C:
			t.stop(fmt.Sprintf("nobody spoke for %s", roundUp(idle)))
		}
	}
	timer.Stop()
	stopListen()
	t.interrupt("")
	wg.Wait()
	t.recordReceive()
	// Detach from the conversation; with no /ask worker to close the
	// session later, close it now (its handle is kept).
	b, c := t.b, t.c
	b.mu.Lock()
	c.mu.Lock()
	c.talk = nil
	idleConv := !c.working && len(c.queue) == 0
	c.smu.Lock()
	c.realtime = false // the next /ask session needs no realtime input
	c.smu.Unlock()
	if idleConv && b.convs[c.key] == c {
		delete(b.convs, c.key)
		b.met.conversations(-1)
	}
	c.mu.Unlock()
	b.mu.Unlock()
	if idleConv {
		c.closeSession()
	}
	b.hear(t.guildID, t.voiceID, false) // the next join is deafened again
	b.met.listening(-1)
	reason := "stopped"
	if r := t.reason.Load(); r != nil {
		reason = *r
	} else if b.ctx.Err() != nil {
		reason = "the bot is restarting"
	}
	rs := t.ch.ReceiveStats()
	t.log.Info("talk stopped", "why", reason, "lost_chunks", t.lost.Load(), "held_dropped", t.fl.dropped,
		"datagrams", rs.Datagrams, "undecryptable", rs.Undecryptable, "e2ee_failed", rs.E2EEFailed,
		"concealed", rs.Inbound.Concealed, "turns", rs.Inbound.Turns, "onsets", rs.Inbound.Onsets)
	if !strings.HasSuffix(reason, "used /talk") {
		b.postNotice(t.textID, fmt.Sprintf("🔇 Stopped listening in <#%s>: %s.", t.voiceID, reason))
	}
}

// hear is the voice listener: it runs on the receive goroutine and must
// return promptly.
func (t *talk) hear(ev inbound.Event) {
	if ev.Kind == inbound.Onset {
		t.interrupt("local")
		return
	}
	t.fl.event(ev, func(it item) {
		select {
		case t.queue <- it:
		default:
			t.lost.Add(1) // the sender is stuck (Live reconnecting) past the bound
		}
	})
	if ev.Kind == inbound.End {
		select {
		case t.active <- struct{}{}:
		default:
		}
	}
}

// interrupt stops the reply being spoken at once, dropping what is queued
// (barge-in); by is "local" (voiced onset), "live" (the service's
// interrupted or activity start) or "" (stopping).
func (t *talk) interrupt(by string) {
	t.mu.Lock()
	sp, ex := t.playing, t.playingEx
	fresh := sp != nil && !t.cut
	if fresh {
		t.cut = true
	}
	t.mu.Unlock()
	if !fresh {
		return
	}
	sp.Interrupt()
	if by != "" {
		t.b.met.bargeIn(by)
		t.log.Debug("barge-in", "by", by)
	}
	if ex != nil {
		ex.cut()
	}
}

// send streams the floor's items to Live, in order.
func (t *talk) send() {
	told := "" // who Live was last told is speaking
	manual := t.b.cfg.Talk.Realtime.ManualActivity
	buf := make([]byte, 0, 2*inbound.ChunkSamples)
	samples := 0 // of the utterance being sent
	for {
		var it item
		select {
		case <-t.ctx.Done():
			return
		case it = <-t.queue:
		}
		err := t.retry(func(s *live.Session) error {
			switch it.kind {
			case itemStart:
				name := t.b.displayName(t.guildID, it.user)
				t.mu.Lock()
				t.speaker, t.speakerID = name, it.user
				t.mu.Unlock()
				if it.user != told {
					if err := s.SendContext(t.ctx, name+" is speaking."); err != nil {
						return err
					}
					told = it.user
				}
				if manual {
					return s.Activity(t.ctx, true)
				}
			case itemAudio:
				buf = buf[:0]
				for _, v := range it.pcm {
					buf = binary.LittleEndian.AppendUint16(buf, uint16(v))
				}
				if err := s.SendAudio(t.ctx, buf); err != nil {
					return err
				}
				samples += len(it.pcm)
				now := time.Now()
				t.mu.Lock()
				t.lastVoiced, t.lastSent = it.at, now
				t.mu.Unlock()
			case itemEnd:
				t.log.Debug("talk: speech sent", "user", it.user, "audio", time.Duration(samples)*time.Second/inbound.SampleRate)
				samples = 0
				if manual {
					return s.Activity(t.ctx, false)
				}
				return s.SendAudioEnd(t.ctx)
			}
			return nil
		})
		if err != nil && t.ctx.Err() == nil {
			t.log.Warn("talk: could not send speech to Live", "err", err)
			t.b.met.liveFailed(err)
		}
	}
}

// retry runs fn on the conversation's session, once more on a fresh one if
// the first was closed or dropped under it.
func (t *talk) retry(fn func(*live.Session) error) error {
	var err error
	for range 2 {
		var s *live.Session
		if s, err = t.c.session(t.ctx); err != nil {
			return err
		}
		if err = fn(s); err == nil || t.ctx.Err() != nil {
			return err
		}
		var le *live.Error
		if !errors.As(err, &le) || !(le.Class == live.ClassClosed || le.Class.Retryable()) {
			return err
		}
	}
	return err
}

// replies claims the turns Live starts and speaks them.
func (t *talk) replies() {
	fails := 0
	for t.ctx.Err() == nil {
		s, err := t.c.session(t.ctx)
		var turn *live.Turn
		if err == nil {
			turn, err = s.NextTurn(t.ctx)
		}
		if err != nil {
			if t.ctx.Err() != nil {
				return
			}
			var le *live.Error
			if errors.As(err, &le) && le.Class != live.ClassClosed && !le.Class.Retryable() {
				// A key, model or setting Gemini refuses: say so and stop
				// rather than listen to people nobody will answer.
				t.log.Warn("talk: Gemini Live refused the session", "err", err)
				t.b.met.liveFailed(err)
				t.stop("Gemini Live refused the session (" + strings.TrimSuffix(le.UserMessage(), ".") + ")")
				return
			}
			fails++
			if fails > 1 {
				t.log.Warn("talk: no session for replies", "err", err)
			}
			// A closed session (an /ask that failed, /reset, /voice) is
			// replaced at once; a failing dial is retried calmly.
			wait := time.NewTimer(min(time.Duration(fails)*200*time.Millisecond, 5*time.Second))
			select {
			case <-t.ctx.Done():
				wait.Stop()
				return
			case <-wait.C:
			}
			continue
		}
		fails = 0
		t.exchange(turn)
	}
}

// exchange plays one turn Live started and keeps its transcript message.
func (t *talk) exchange(turn *live.Turn) {
	b := t.b
	t.mu.Lock()
	speaker, speakerID := t.speaker, t.speakerID
	t.mu.Unlock()
	if speaker == "" {
		speaker = "Someone"
	}
	ex := newExchangeMsg(b, t.textID, speaker)
	stats := &TalkExchange{Speaker: speaker}
	gate := b.cfg.Talk.NameGate
	passed := !gate
	var held [][]byte // reply audio waiting for the name gate
	var sp *voice.Speech
	mine := func() bool { // this turn's reply is the one playing, uncut
		t.mu.Lock()
		defer t.mu.Unlock()
		return t.playing == sp && !t.cut
	}
	play := func(pcm []byte) {
		if sp == nil {
			var err error
			stats.FirstReply = time.Now()
			if sp, err = b.speak(t.ctx, t.guildID, t.voiceID); err != nil {
				t.log.Warn("talk: cannot speak", "err", err)
				b.met.failed("voice")
				return
			}
			t.mu.Lock()
			t.lastSent, stats.LastSent = time.Time{}, t.lastSent
			stats.LastVoiced = t.lastVoiced
			t.playing, t.playingEx, t.cut, t.pending, t.firstOut = sp, ex, false, stats, 0
			t.mu.Unlock()
		}
		if mine() {
			if err := sp.Write(pcm); err != nil {
				t.log.Debug("talk: speaker failed", "err", err)
			}
		}
	}
	outcome := "ok"
	ctx := t.ctx
	var usage live.Usage
	complete := false
	for {
		ev, err := turn.Next(ctx)
		if err == io.EOF {
			break
		}
		if err != nil {
			if ctx.Err() == nil {
				t.log.Warn("talk: turn failed", "err", err)
				b.met.liveFailed(err)
			}
			outcome = "error"
			break
		}
		switch ev.Kind {
		case live.EventActivityStart:
			t.interrupt("live") // Live heard someone: the last reply stops
		case live.EventInputTranscript:
			if !passed && addresses(turn.Heard(), b.botName()) {
				passed = true
				for _, p := range held {
					play(p)
				}
				held = nil
			}
			if passed { // a gated turn shows nothing until it names the bot
				ex.setHeard(turn.Heard())
			}
		case live.EventAudio:
			if !passed {
				held = append(held, append([]byte(nil), ev.Audio...))
				continue
			}
			play(ev.Audio)
		case live.EventOutputTranscript, live.EventText:
			if passed {
				ex.setReply(turn.Transcript())
			}
		case live.EventInterrupted:
			if sp != nil && mine() {
				t.interrupt("live")
			}
			ex.cut()
		case live.EventResumption:
			if ev.Handle != "" {
				b.saveHandle(t.c.key, ev.Handle)
			}
		case live.EventTurnComplete:
			usage, complete = ev.Usage, true
		}
	}
	stats.Heard, stats.Reply = turn.Heard(), turn.Transcript()
	if complete {
		// Spoken turns are counted and remembered like typed ones: usage
		// (audio in), and the transcripts, under the store's history rules.
		t.c.recordSpoken(speakerID, speaker, stats.Heard, stats.Reply, usage, t.log)
		// Over a daily budget (the guild's, or the speaker's), listening
		// stops: Live answers every turn it hears, so no later turn could be
		// refused on its own.
		bctx, cancel := stateCtx()
		if msg, err := b.budgetDenied(bctx, t.guildID, speakerID); err == nil && msg != "" {
			t.stop("the Gemini budget is spent (" + speaker + "'s turn reached it; " + budgetReset(msg) + ")")
		}
		cancel()
	}
	if !passed {
		outcome, stats.Gated = "gated", true
		ex.ed.stop() // nothing was shown
		t.log.Info("talk: reply discarded by the name gate", "heard", len(stats.Heard))
	} else {
		if strings.TrimSpace(stats.Heard) == "" && sp == nil && strings.TrimSpace(stats.Reply) == "" {
			ex.ed.stop() // an empty turn (noise Live dropped): no message
		} else {
			ex.setReply(stats.Reply)
			ex.done()
		}
	}
	if sp == nil {
		if passed {
			ex.ed.stop()
		}
		t.finishExchange(stats, outcome, false)
		return
	}
	// The reply plays on while the next turn is claimed: a barge-in (an
	// onset, or Live's next activity start) cuts it there.
	finish := func() {
		_ = sp.End(t.b.ctx)
		t.mu.Lock()
		cut := t.cut && t.playing == sp
		if t.playing == sp {
			t.playing, t.playingEx = nil, nil
		}
		stats.Out = t.firstOut
		t.mu.Unlock()
		ex.ed.stop()
		if cut && outcome == "ok" {
			outcome = "interrupted"
		}
		t.finishExchange(stats, outcome, cut)
	}
	if !t.b.tasks.Go(finish) { // shutting down: no playing on
		sp.Interrupt()
		finish()
	}
}

// finishExchange records an exchange's outcome.
func (t *talk) finishExchange(x *TalkExchange, outcome string, cut bool) {
	x.Interrupted = x.Interrupted || cut || outcome == "interrupted"
	if !x.LastSent.IsZero() && !x.LastVoiced.IsZero() {
		x.In = x.LastSent.Sub(x.LastVoiced)
	}
	t.b.met.speechTurn(outcome)
	t.recordReceive()
	t.log.Info("talk exchange", "speaker", x.Speaker, "outcome", outcome, "heard_chars", len(x.Heard),
		"reply_chars", len(x.Reply), "in", x.In, "out", x.Out)
	if f := t.b.cfg.Talk.OnExchange; f != nil {
		f(*x)
	}
}

// firstPacket is the voice Channel's first-packet hook for this guild:
// the reply's first PCM handed to the player → its first RTP packet.
func (t *talk) firstPacket(d time.Duration) {
	t.mu.Lock()
	if t.pending != nil && t.firstOut == 0 {
		t.firstOut = d
	}
	t.mu.Unlock()
}

// recordReceive adds the receive path's counters since the last call to
// the metrics.
func (t *talk) recordReceive() {
	now := t.ch.ReceiveStats()
	t.mu.Lock()
	base := t.recvBase
	t.recvBase = now
	t.mu.Unlock()
	t.b.met.received(base, now)
}

var nonWord = regexp.MustCompile(`[^\p{L}\p{N}]+`)

// addresses reports whether heard names the bot (as a word, any case).
func addresses(heard, name string) bool {
	words := strings.Fields(strings.ToLower(nonWord.ReplaceAllString(heard, " ")))
	want := strings.Fields(strings.ToLower(nonWord.ReplaceAllString(name, " ")))
	if len(want) == 0 {
		return false
	}
	for i := 0; i+len(want) <= len(words); i++ {
		if slices.Equal(words[i:i+len(want)], want) {
			return true
		}
	}
	return false
}

// displayName is how a member is called: server nickname, global name,
// username.
func (b *Bot) displayName(guildID, userID string) string {
	if m, err := b.dg.State.Member(guildID, userID); err == nil && m != nil {
		switch {
		case m.Nick != "":
			return m.Nick
		case m.User != nil && m.User.GlobalName != "":
			return m.User.GlobalName
		case m.User != nil && m.User.Username != "":
			return m.User.Username
		}
	}
	return "Someone"
}

// talkVoiceState is the part of VOICE_STATE_UPDATE a talk reads.
type talkVoiceState struct {
	GuildID   string      `json:"guild_id"`
	UserID    string      `json:"user_id"`
	ChannelID *string     `json:"channel_id"`
	SelfDeaf  bool        `json:"self_deaf"`
	Deaf      bool        `json:"deaf"`
	Mute      bool        `json:"mute"`
	Member    *talkMember `json:"member"`
}

type talkMember struct {
	Roles []string `json:"roles"`
	User  *struct {
		Bot bool `json:"bot"`
	} `json:"user"`
}

// heard reports whether the bot listens to this member: not a bot, not
// deafened, not server-muted, and allowed (Config.AllowedRoles).
func (b *Bot) heard(vs talkVoiceState) bool {
	if vs.UserID == b.botUserID() || vs.SelfDeaf || vs.Deaf || vs.Mute {
		return false
	}
	if vs.Member != nil && vs.Member.User != nil && vs.Member.User.Bot {
		return false
	}
	if len(b.cfg.AllowedRoles) > 0 {
		return vs.Member != nil && slices.ContainsFunc(vs.Member.Roles, func(r string) bool {
			return slices.Contains(b.cfg.AllowedRoles, r)
		})
	}
	return true
}

// onTalkVoiceState keeps a talk's ignore list in step with the main
// gateway (who is a bot, deafened, muted) and stops the talk when the bot
// is no longer in its channel (left alone, moved, kicked).
func (b *Bot) onTalkVoiceState(raw json.RawMessage) {
	var vs talkVoiceState
	if json.Unmarshal(raw, &vs) != nil || vs.GuildID == "" {
		return
	}
	t := b.talkOf(vs.GuildID)
	if t == nil {
		return
	}
	if vs.UserID != b.botUserID() {
		heard := b.heard(vs)
		t.ch.Ignore(vs.UserID, !heard)
		t.log.Debug("talk: voice state", "user", vs.UserID, "heard", heard)
	}
	if in := t.ch.ChannelID(); in != t.voiceID {
		// The cause, not which event told us first: the bot's own leave
		// can arrive before or after the last member's.
		why := "I left the voice channel"
		if n, ok := b.people(t.guildID, t.voiceID); in == "" && ok && n == 0 {
			why = "everyone left the voice channel"
		}
		t.stop(why)
	}
}

// hearOnly sets t's ignore list from the state cache.
func (b *Bot) hearOnly(t *talk) {
	for _, vs := range b.voiceStates(t.guildID) {
		t.ch.Ignore(vs.UserID, !b.heard(vs))
	}
}

// heardNames lists the display names of the members heard in voiceID.
func (b *Bot) heardNames(guildID, voiceID string) []string {
	var names []string
	for _, vs := range b.voiceStates(guildID) {
		if vs.ChannelID != nil && *vs.ChannelID == voiceID && b.heard(vs) {
			names = append(names, b.displayName(guildID, vs.UserID))
		}
	}
	slices.Sort(names)
	return names
}

// voiceStates reads the guild's voice states from the state cache.
func (b *Bot) voiceStates(guildID string) []talkVoiceState {
	g, err := b.dg.State.Guild(guildID)
	if err != nil {
		return nil
	}
	b.dg.State.RLock()
	out := make([]talkVoiceState, 0, len(g.VoiceStates))
	for _, v := range g.VoiceStates {
		ch := v.ChannelID
		vs := talkVoiceState{GuildID: guildID, UserID: v.UserID, ChannelID: &ch, SelfDeaf: v.SelfDeaf, Deaf: v.Deaf, Mute: v.Mute}
		if v.Member != nil {
			vs.Member = memberOf(v.Member.Roles, v.Member.User)
		}
		out = append(out, vs)
	}
	b.dg.State.RUnlock()
	for i := range out { // members the voice states did not carry
		if out[i].Member == nil {
			if m, err := b.dg.State.Member(guildID, out[i].UserID); err == nil && m != nil {
				out[i].Member = memberOf(m.Roles, m.User)
			}
		}
	}
	return out
}

func memberOf(roles []string, u *discordgo.User) *talkMember {
	m := &talkMember{Roles: roles}
	if u != nil {
		m.User = &struct {
			Bot bool `json:"bot"`
		}{Bot: u.Bot}
	}
	return m
}
