package bot

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/livecord/livecord/live"
	"github.com/livecord/livecord/store"
	"github.com/livecord/livecord/tool"
	"github.com/livecord/livecord/voice"
)

// newToolRegistry holds the built-in tools, bound to the bot's real actions
// through botTools, and the extra ones (MCP servers' tools) from Config.
// One registry serves every guild: a call's guild travels in its context
// (the turnTools of the turn that made it).
func newToolRegistry(b *Bot) (*tool.Registry, error) {
	reg := tool.NewRegistry(tool.Options{Timeout: b.cfg.ToolTimeout})
	bt := botTools{b}
	builtins := tool.Builtins{Voice: bt, Setter: bt, Voices: Voices, Roster: bt, Location: b.cfg.TimeZone}
	if b.cfg.Voice == nil {
		builtins.Voice, builtins.Roster = nil, nil // nothing to stop, leave or list
	}
	if err := reg.Add(builtins.Tools()...); err != nil {
		return nil, fmt.Errorf("bot: built-in tools: %w", err)
	}
	if err := reg.Add(b.cfg.Tools...); err != nil {
		return nil, fmt.Errorf("bot: tools: %w", err)
	}
	return reg, nil
}

// toolDeclarations are the function declarations for a session of model.
func (b *Bot) toolDeclarations(model string) []tool.FunctionDeclaration {
	if b.tools == nil {
		return nil
	}
	return b.tools.Declarations(nonBlockingModel(model))
}

// nonBlockingModel reports whether model takes NON_BLOCKING calls (and so
// "behavior" in declarations and "scheduling" in responses): gemini-3.1
// models take blocking calls only; the empty model is the default, 3.8.
func nonBlockingModel(model string) bool {
	return !strings.HasPrefix(strings.TrimPrefix(model, "models/"), "gemini-3.1")
}

// turnTools runs one turn's tool calls: each toolCall's calls concurrently,
// answered in one toolResponse, withdrawn ones (toolCallCancellation)
// cancelled and never answered. It owns the goroutines it starts; wait
// returns once they are done (each call is bounded by its timeout).
type turnTools struct {
	c    *conversation
	ctx  context.Context // the turn's, carrying this turnTools for the built-ins
	sess *live.Session
	sp   *voice.Speech // the reply's speech, nil when not speaking

	wg        sync.WaitGroup
	mu        sync.Mutex
	lines     []string
	cancelled map[string]bool
	stops     map[string]context.CancelFunc
	muted     atomic.Bool // stop_speaking: the rest of this reply is not played
	leave     atomic.Bool // leave_voice_channel: leave once the reply is posted
	// manager: the asker may change what the whole guild shares (Manage
	// Server, or a DM, whose settings are the asker's own).
	manager bool
}

type turnToolsKey struct{}

func (c *conversation) newTurnTools(ctx context.Context, sess *live.Session, sp *voice.Speech, manager bool) *turnTools {
	tt := &turnTools{c: c, sess: sess, sp: sp, manager: manager, cancelled: map[string]bool{}, stops: map[string]context.CancelFunc{}}
	tt.ctx = context.WithValue(ctx, turnToolsKey{}, tt)
	return tt
}

// handle takes EventToolCall and EventToolCancel. Each call gets its own
// context, registered before anything runs, so a cancellation that arrives
// before its call started still stops it.
func (tt *turnTools) handle(ev live.Event) {
	b := tt.c.b
	switch ev.Kind {
	case live.EventToolCancel:
		tt.mu.Lock()
		for _, id := range ev.IDs {
			tt.cancelled[id] = true
			if stop := tt.stops[id]; stop != nil {
				stop()
			}
		}
		tt.mu.Unlock()
		b.tools.Cancel(ev.IDs...)
		b.log.Info("tool calls cancelled by the model", "ids", len(ev.IDs))
	case live.EventToolCall:
		if b.tools == nil {
			return
		}
		ctxs := make([]context.Context, len(ev.Calls))
		tt.mu.Lock()
		for i, call := range ev.Calls {
			var stop context.CancelFunc
			ctxs[i], stop = context.WithCancel(tt.ctx)
			tt.stops[call.ID] = stop
			if tt.cancelled[call.ID] {
				stop()
			}
		}
		tt.mu.Unlock()
		tt.wg.Add(1)
		go func() {
			defer tt.wg.Done()
			results := make([]tool.Result, len(ev.Calls))
			var wg sync.WaitGroup
			for i, call := range ev.Calls {
				wg.Go(func() { results[i] = b.tools.Call(ctxs[i], call) })
			}
			wg.Wait()
			var resp []tool.FunctionResponse
			tt.mu.Lock()
			for i, res := range results {
				id := ev.Calls[i].ID
				if stop := tt.stops[id]; stop != nil {
					stop()
					delete(tt.stops, id)
				}
				if res.Err != nil {
					b.log.Info("tool call failed", "tool", ev.Calls[i].Name, "err", res.Err, "elapsed", res.Elapsed)
				}
				if res.Cancelled || tt.cancelled[id] {
					continue
				}
				if res.Summary != "" {
					tt.lines = append(tt.lines, res.Summary)
				}
				if !nonBlockingModel(b.cfg.Live.Model) {
					res.Response.Scheduling = ""
				}
				resp = append(resp, res.Response)
			}
			tt.mu.Unlock()
			if err := tt.sess.Respond(tt.ctx, resp...); err != nil {
				b.log.Warn("could not send the tool results", "err", err)
			}
		}()
	}
}

// speaking reports whether the reply's audio should still be played.
func (tt *turnTools) speaking() bool { return !tt.muted.Load() }

// wait waits for the running calls and returns the reply's tool lines.
func (tt *turnTools) wait() []string {
	tt.wg.Wait()
	tt.mu.Lock()
	defer tt.mu.Unlock()
	return append([]string(nil), tt.lines...)
}

// finish waits for the calls and carries out what must wait for the end
// of the reply (leaving the voice channel after the goodbye was heard).
func (tt *turnTools) finish() {
	tt.wait()
	if tt.leave.Load() {
		tt.c.b.leave(tt.c.guildID)
	}
}

// botTools implements the built-in tools' interfaces for the guild of the
// turn that made the call.
type botTools struct{ b *Bot }

var errNoTurn = errors.New("this works only during a question asked in a server")

func turnOf(ctx context.Context) (*turnTools, error) {
	tt, _ := ctx.Value(turnToolsKey{}).(*turnTools)
	if tt == nil || tt.c.guildID == "" {
		return nil, errNoTurn
	}
	return tt, nil
}

func (bt botTools) StopSpeaking(ctx context.Context) error {
	tt, err := turnOf(ctx)
	if err != nil {
		return err
	}
	if tt.sp == nil {
		return errors.New("not speaking in a voice channel right now")
	}
	tt.muted.Store(true)
	tt.sp.Interrupt()
	return nil
}

func (bt botTools) Leave(ctx context.Context) error {
	tt, err := turnOf(ctx)
	if err != nil {
		return err
	}
	if ch := bt.b.channel(tt.c.guildID, false); ch == nil || ch.ChannelID() == "" {
		return errors.New("not in a voice channel")
	}
	tt.leave.Store(true)
	return nil
}

func (bt botTools) SetVoice(ctx context.Context, name string) error {
	tt, err := turnOf(ctx)
	if err != nil {
		return err
	}
	v := canonicalVoice(name)
	if v == "" {
		return fmt.Errorf("unknown voice %q", name)
	}
	// The voice is the whole guild's: the same rule as /voice.
	if !tt.manager {
		return errors.New("changing this server's voice needs the Manage Server permission, which the person asking does not have")
	}
	// The conversation resumes with the new voice from the next question.
	_, err = bt.b.st.UpdateSettings(ctx, tt.c.key, func(s *store.Settings) { s.Voice = v })
	return err
}

func (bt botTools) VoiceMembers(ctx context.Context) ([]tool.Member, error) {
	tt, err := turnOf(ctx)
	if err != nil {
		return nil, err
	}
	b := bt.b
	ch := b.channel(tt.c.guildID, false)
	if ch == nil || ch.ChannelID() == "" {
		return nil, errors.New("not in a voice channel")
	}
	chID := ch.ChannelID()
	g, err := b.dg.State.Guild(tt.c.guildID)
	if err != nil {
		return nil, errors.New("the server's member list is not available")
	}
	b.dg.State.RLock()
	var ids []string
	for _, vs := range g.VoiceStates {
		if vs.ChannelID == chID && vs.UserID != b.botUserID() {
			ids = append(ids, vs.UserID)
		}
	}
	b.dg.State.RUnlock()
	out := make([]tool.Member, 0, len(ids))
	for _, id := range ids {
		m := tool.Member{Name: "user " + id}
		if mem, err := b.dg.State.Member(tt.c.guildID, id); err == nil && mem.User != nil {
			m.Name, m.Bot = mem.DisplayName(), mem.User.Bot
		}
		out = append(out, m)
	}
	return out, nil
}
