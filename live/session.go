package live

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/livecord/livecord/internal/tasks"
	"github.com/livecord/livecord/live/internal/wire"
)

// readLimit bounds one server frame. Audio chunks are ~16 KB of JSON, but
// grounding and tool messages can be large; coder/websocket's default is 32 KiB.
const readLimit = 16 << 20

// writeTimeout bounds one client frame write.
const writeTimeout = 15 * time.Second

// Session is one Live conversation, possibly spanning several connections.
// Its methods are safe for concurrent use; each Turn belongs to one reader.
type Session struct {
	cfg    Config
	ctx    context.Context // lifetime of all connections; cancelled by Close
	cancel context.CancelFunc
	tasks  tasks.Group // reader goroutines and background closes

	sendMu sync.Mutex // serialises Send (reconnect, then write)

	mu     sync.Mutex
	conn   *conn  // current connection; nil only before the first dial
	handle string // latest resumable handle
	closed bool

	// Realtime input (Config.Realtime set).
	listening  bool
	maxBytes   int           // Config.MaxReply as PCM bytes
	incoming   []*Turn       // turns the server started, not yet claimed by NextTurn
	incomingCh chan struct{} // signalled when incoming grows
	carry      []byte        // odd byte of the last SendAudio; guarded by sendMu
}

// conn is one WebSocket connection and the turns it is answering.
type conn struct {
	ws        *websocket.Conn
	setupDone chan struct{} // closed by the reader on setupComplete
	done      chan struct{} // closed by the reader when the connection ends

	// Guarded by Session.mu.
	setup  bool
	goAway bool
	dead   bool
	err    *Error
	turns  []*Turn // FIFO: the head receives serverContent
	usage  Usage
	// staleHandle: a turn completed since the last resumable handle; the
	// service sends the new handle right after turnComplete.
	staleHandle bool
	handleCh    chan struct{} // signalled on every resumable handle
}

// Dial connects, sends the setup and waits for setupComplete. ctx bounds
// only the dial; the Session lives until Close.
func Dial(ctx context.Context, cfg Config) (*Session, error) {
	cfg = cfg.withDefaults()
	if cfg.APIKey == "" {
		return nil, &Error{Op: "dial", Class: ClassAuth, Err: errors.New("no API key (set GEMINI_API_KEY)")}
	}
	if _, _, err := cfg.endpoint(); err != nil {
		return nil, &Error{Op: "dial", Class: ClassInvalidConfig, Err: err}
	}
	s := &Session{cfg: cfg, handle: cfg.Handle, listening: cfg.Realtime != nil,
		maxBytes: int(cfg.MaxReply.Seconds()*SampleRate) * 2, incomingCh: make(chan struct{}, 1)}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	c, err := s.dialConn(ctx, cfg.Handle)
	if err != nil {
		s.cancel()
		s.tasks.Close()
		return nil, err
	}
	s.conn = c
	return s, nil
}

// Handle returns the latest resumable handle ("" before the server issued
// one). Pass it as Config.Handle to resume the conversation elsewhere. The
// handle covering a turn arrives just after its turnComplete: read it after
// Close (which waits for it) to be sure it includes the last turn.
func (s *Session) Handle() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.handle
}

// Close ends the session: the connection is closed with 1000 and every
// unfinished Turn fails with ClassClosed. It waits for its goroutines. If a
// turn finished since the last resumption handle, Close first waits briefly
// for the handle that covers it, so Handle after Close resumes the whole
// conversation.
func (s *Session) Close() error {
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return nil
	}
	s.awaitHandle(context.Background(), closeHandleWait)
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	c := s.conn
	s.mu.Unlock()
	if c != nil {
		// The server's reply to our close frame is read by the reader. A
		// server that never answers would hold coder/websocket's Close for
		// up to 10 s; after closeGrace, cancelling the readers' context
		// drops the connection instead.
		s.tasks.Go(func() {
			if err := c.ws.Close(websocket.StatusNormalClosure, ""); err != nil {
				s.cfg.Logger.Debug("live: close", "err", scrubErr(err, s.cfg.APIKey))
			}
		})
		t := time.NewTimer(closeGrace)
		select {
		case <-c.done:
		case <-t.C:
			s.cfg.Logger.Debug("live: no answer to the close frame; dropping the connection")
		}
		t.Stop()
	}
	s.cancel()
	s.tasks.Close()
	return nil
}

// closeGrace bounds how long Close waits for the server to answer the close
// frame before dropping the connection.
const closeGrace = time.Second

// Send sends text as one complete user turn and returns its reply stream.
// If the connection was told to go away, was dropped, or stalled, Send first
// reconnects, resuming with the latest handle so the conversation keeps its
// context. A turn still streaming on the same session is interrupted by the
// server (its Turn yields EventInterrupted).
//
// images go with the text in the same user turn (inlineData parts before the
// text, as the SDKs place them); prepare them first (imagefit.Prepare): the
// service refuses types it does not take.
func (s *Session) Send(ctx context.Context, text string, images ...Image) (*Turn, error) {
	for _, im := range images {
		if !strings.HasPrefix(im.MIMEType, "image/") || len(im.Data) == 0 {
			return nil, &Error{Op: "send", Class: ClassInvalidConfig, Err: fmt.Errorf("image part %q with %d bytes is not an image", im.MIMEType, len(im.Data))}
		}
	}
	t := &Turn{s: s, prompt: text, images: images, stall: s.cfg.StallTimeout, deadline: s.cfg.TurnTimeout, notify: make(chan struct{}, 1)}
	if err := s.submit(ctx, t); err != nil {
		return nil, err
	}
	return t, nil
}

// submit puts t on a working connection and writes its prompt. A write
// that fails because the connection just died is retried once on a new one.
func (s *Session) submit(ctx context.Context, t *Turn) error {
	s.sendMu.Lock()
	defer s.sendMu.Unlock()
	for attempt := 0; ; attempt++ {
		err := s.submitOnce(ctx, t)
		var le *Error
		if err == nil || attempt > 0 || !errors.As(err, &le) || le.Op != "send" || le.Class != ClassTransient {
			return err
		}
		s.cfg.Logger.Warn("live: send failed, reconnecting", "err", err)
	}
}

func (s *Session) submitOnce(ctx context.Context, t *Turn) error {
	if _, err := s.ensureConn(ctx, false); err != nil {
		return err
	}
	t.mu.Lock()
	t.ended, t.last = false, time.Now()
	if t.start.IsZero() {
		t.start = t.last
	}
	t.mu.Unlock()
	s.mu.Lock()
	c := s.conn
	t.c = c
	c.turns = append(c.turns, t)
	s.mu.Unlock()
	parts := make([]wire.Part, 0, len(t.images)+1)
	for _, im := range t.images {
		parts = append(parts, wire.Part{InlineData: &wire.InlineData{MimeType: im.MIMEType, Data: im.Data}})
	}
	msg := wire.ClientMessage{ClientContent: &wire.ClientContent{
		Turns:        []wire.Content{{Role: "user", Parts: append(parts, wire.Part{Text: t.prompt})}},
		TurnComplete: true,
	}}
	if err := s.write(ctx, c, msg); err != nil {
		s.mu.Lock()
		c.removeTurn(t)
		c.dead = true
		s.mu.Unlock()
		c.ws.CloseNow()
		return newError("send", err, s.cfg.APIKey)
	}
	return nil
}

// ensureConn returns a working connection, reconnecting first (resuming
// with the latest handle) if the current one was dropped, stalled or told to
// go away. With atBoundary, a connection going away is kept while a turn is
// still open on it, so streamed input does not cut a reply short.
func (s *Session) ensureConn(ctx context.Context, atBoundary bool) (*conn, error) {
	if err := ctx.Err(); err != nil {
		return nil, &Error{Op: "send", Class: ClassTransient, Err: err}
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, &Error{Op: "send", Class: ClassClosed, Err: errors.New("session closed")}
	}
	c := s.conn
	stale := c == nil || c.dead || (c.goAway && !(atBoundary && len(c.turns) > 0))
	s.mu.Unlock()
	if stale {
		if err := s.reconnect(ctx); err != nil {
			return nil, err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conn, nil
}

// reconnect replaces the current connection, resuming with the latest
// handle. Turns still open on the old connection end as interrupted.
func (s *Session) reconnect(ctx context.Context) error {
	s.awaitHandle(ctx, handleWait)
	s.mu.Lock()
	handle := s.handle
	s.mu.Unlock()
	if handle == "" {
		s.cfg.Logger.Warn("live: reconnecting without a resumption handle; the conversation starts afresh")
	}
	var c *conn
	var err error
	for attempt, backoff := 0, 250*time.Millisecond; ; attempt, backoff = attempt+1, backoff*3 {
		c, err = s.dialConn(ctx, handle)
		var le *Error
		if err == nil || attempt == 2 || !errors.As(err, &le) || le.Class != ClassTransient {
			break
		}
		s.cfg.Logger.Warn("live: reconnect failed, retrying", "err", err, "in", backoff)
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			return &Error{Op: "dial", Class: ClassTransient, Err: ctx.Err()}
		}
	}
	if err != nil {
		var le *Error
		if errors.As(err, &le) && le.Class == ClassSessionExpired {
			s.mu.Lock()
			if s.handle == handle {
				s.handle = ""
			}
			s.mu.Unlock()
		}
		return err
	}
	s.mu.Lock()
	old := s.conn
	s.conn = c
	closed := s.closed
	var orphans []*Turn
	if old != nil && !old.dead {
		old.dead = true
		orphans, old.turns = old.turns, nil
	}
	s.mu.Unlock()
	for _, t := range orphans {
		t.push(item{ev: Event{Kind: EventInterrupted}})
		t.push(item{ev: Event{Kind: EventTurnComplete}, end: true})
	}
	if old != nil && !closed {
		// The close handshake can take seconds; don't hold Send. (Once
		// closed, Close has closed the connection it saw itself.)
		s.tasks.Go(func() { old.ws.Close(websocket.StatusNormalClosure, "") })
	}
	if closed {
		c.ws.CloseNow()
		return &Error{Op: "dial", Class: ClassClosed, Err: errors.New("session closed")}
	}
	s.cfg.Logger.Info("live: resumed on a new connection", "resumed", handle != "")
	return nil
}

// handleWait bounds how long a reconnect waits for the handle that follows
// the last turnComplete on a connection that is going away; closeHandleWait
// bounds the same wait in Close (the handle follows within milliseconds; a
// server that never sends one should not hold up a shutdown).
const (
	handleWait      = 2 * time.Second
	closeHandleWait = 500 * time.Millisecond
)

// awaitHandle waits, when the current connection is still up but a turn
// finished after its last resumable handle, for the service's next handle,
// so that resuming keeps that turn in the context.
func (s *Session) awaitHandle(ctx context.Context, limit time.Duration) {
	s.mu.Lock()
	c := s.conn
	wait := c != nil && !c.dead && c.staleHandle
	s.mu.Unlock()
	if !wait {
		return
	}
	t := time.NewTimer(limit)
	defer t.Stop()
	for {
		select {
		case <-c.handleCh:
			s.mu.Lock()
			fresh := !c.staleHandle
			s.mu.Unlock()
			if fresh {
				return
			}
		case <-c.done:
			return
		case <-t.C:
			s.cfg.Logger.Warn("live: no fresh resumption handle after the last turn; keeping the older one")
			return
		case <-ctx.Done():
			return
		}
	}
}

// dialConn opens a connection, starts its reader and completes the setup,
// all within Config.ConnectTimeout (and ctx).
func (s *Session) dialConn(ctx context.Context, handle string) (*conn, error) {
	u, h, err := s.cfg.endpoint()
	if err != nil {
		return nil, &Error{Op: "dial", Class: ClassInvalidConfig, Err: err}
	}
	dctx, cancel := context.WithTimeout(ctx, s.cfg.ConnectTimeout)
	defer cancel()
	ws, resp, err := websocket.Dial(dctx, u, &websocket.DialOptions{HTTPClient: s.cfg.HTTPClient, HTTPHeader: h})
	if err != nil {
		return nil, s.dialError(ctx, err, resp)
	}
	ws.SetReadLimit(readLimit)
	c := &conn{ws: ws, setupDone: make(chan struct{}), done: make(chan struct{}), handleCh: make(chan struct{}, 1)}
	if !s.tasks.Go(func() { s.readLoop(c) }) { // Close is waiting for the readers already
		ws.CloseNow()
		return nil, &Error{Op: "dial", Class: ClassClosed, Err: errors.New("session closed")}
	}
	if err := s.write(dctx, c, wire.ClientMessage{Setup: s.cfg.setup(handle)}); err != nil {
		ws.CloseNow()
		<-c.done
		if ctx.Err() == nil && dctx.Err() != nil {
			return nil, &Error{Op: "setup", Class: ClassTimeout, Err: fmt.Errorf("setup not sent within %s of connecting", s.cfg.ConnectTimeout)}
		}
		return nil, s.connError(c, "setup", err)
	}
	select {
	case <-c.setupDone:
		if h := s.cfg.history(handle); h != nil {
			if err := s.write(dctx, c, *h); err != nil {
				ws.CloseNow()
				<-c.done
				return nil, s.connError(c, "setup", err)
			}
		}
		return c, nil
	case <-c.done:
		return nil, s.connError(c, "setup", nil)
	case <-dctx.Done():
		ws.CloseNow()
		<-c.done
		if ctx.Err() != nil {
			return nil, &Error{Op: "setup", Class: ClassTransient, Err: ctx.Err()}
		}
		return nil, &Error{Op: "setup", Class: ClassTimeout, Err: fmt.Errorf("no setupComplete within %s of connecting", s.cfg.ConnectTimeout)}
	}
}

// dialError classifies a failed WebSocket dial. The Live service answers
// every upgrade (bad keys and models are reported by close frames after the
// setup), so an HTTP answer other than an auth or quota refusal, or no answer
// at all, means no Live service is at the base URL: ClassUnreachable. ctx is
// the caller's: when it ended first, the caller gave up (ClassTransient).
func (s *Session) dialError(ctx context.Context, err error, resp *http.Response) *Error {
	e := newError("dial", err, s.cfg.APIKey)
	e.Code = 0
	switch {
	case resp != nil:
		e.Reason = resp.Status
		switch {
		case resp.StatusCode == 401 || resp.StatusCode == 403:
			e.Class = ClassAuth
		case resp.StatusCode == 429:
			e.Class = ClassQuota
		case resp.StatusCode >= 500:
			e.Class = ClassTransient
		default:
			e.Class = ClassUnreachable
		}
	case ctx.Err() != nil:
		e.Class = ClassTransient
	default:
		e.Class = ClassUnreachable
		if errors.Is(err, context.DeadlineExceeded) {
			e.Err = fmt.Errorf("no answer to the WebSocket upgrade within %s: %w", s.cfg.ConnectTimeout, e.Err)
		}
	}
	return e
}

// connError returns why c ended, relabelled for op.
func (s *Session) connError(c *conn, op string, fallback error) *Error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c.err != nil {
		e := *c.err
		e.Op = op
		return &e
	}
	return newError(op, fallback, s.cfg.APIKey)
}

func (s *Session) write(ctx context.Context, c *conn, msg wire.ClientMessage) error {
	b, err := json.Marshal(msg)
	if err != nil {
		return fmt.Errorf("encode: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return err // a cancelled write context would close the connection
	}
	wctx, cancel := context.WithTimeout(ctx, writeTimeout)
	defer cancel()
	return c.ws.Write(wctx, websocket.MessageText, b)
}

// readLoop is the connection's only reader. Its context is the Session's, so
// only Close cancels a read (which closes the connection).
func (s *Session) readLoop(c *conn) {
	var evs []Event
	for {
		_, data, err := c.ws.Read(s.ctx)
		if err != nil {
			s.connEnded(c, err)
			return
		}
		m, err := decodeServerMessage(data)
		if err != nil {
			s.cfg.Logger.Warn("live: ignoring undecodable server message", "err", err, "bytes", len(data))
			continue
		}
		var drop bool
		evs, drop = s.dispatch(c, m, evs[:0])
		clear(evs) // an idle session must not keep the last reply's audio or text
		if drop {
			s.cfg.Logger.Warn("live: reply passed its length cap; dropping the connection", "cap", s.cfg.MaxReply)
			c.ws.CloseNow()
		}
	}
}

// dispatch routes one server message to the session and the head turn (a
// new server-started turn when listening and none is open). drop means the
// head turn passed Config.MaxReply: it has been ended and c must be closed.
func (s *Session) dispatch(c *conn, m *wire.ServerMessage, evs []Event) ([]Event, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if m.SetupComplete != nil && !c.setup {
		c.setup = true
		close(c.setupDone)
	}
	if m.UsageMetadata != nil {
		c.usage = usageOf(m.UsageMetadata)
	}
	if u := m.SessionResumptionUpdate; u != nil && u.Resumable && u.NewHandle != "" {
		s.handle = u.NewHandle
		c.staleHandle = false
		select {
		case c.handleCh <- struct{}{}:
		default:
		}
		evs = append(evs, Event{Kind: EventResumption, Handle: u.NewHandle})
	}
	if m.GoAway != nil {
		c.goAway = true
		tl := parseTimeLeft(m.GoAway.TimeLeft)
		s.cfg.Logger.Info("live: server sent goAway; resuming at the next turn", "timeLeft", tl)
		evs = append(evs, Event{Kind: EventGoAway, TimeLeft: tl})
	}
	if m.Error != nil {
		s.cfg.Logger.Warn("live: server sent an error message", "error", scrub(string(*m.Error), s.cfg.APIKey))
	}
	evs = activityEvents(m.VoiceActivity, evs)
	evs = toolEvents(m, evs)
	evs = contentEvents(m.ServerContent, c.usage, evs)
	for _, ev := range evs {
		if len(c.turns) == 0 {
			if ev.Kind == EventToolCall && !s.listening {
				s.cfg.Logger.Warn("live: tool call outside a turn; nobody will answer it", "calls", len(ev.Calls))
			}
			// Between turns the session state above is all that matters,
			// unless the server is starting a turn of its own.
			if !s.listening || c.dead || ev.Kind == EventResumption || ev.Kind == EventGoAway {
				continue
			}
			s.serverTurn(c).hearing = true
		}
		t := c.turns[0]
		if ev.Kind != EventActivityStart && ev.Kind != EventInputTranscript {
			t.hearing = false // the speech ended, or the reply began
		}
		if len(ev.Audio)+len(ev.Text) > 0 {
			if t.recv+len(ev.Audio) > s.maxBytes || t.recvText+len(ev.Text) > maxReplyText {
				if ev.Kind == EventAudio && t.recv < s.maxBytes {
					ev.Audio = ev.Audio[:s.maxBytes-t.recv]
					t.push(item{ev: ev})
				}
				t.push(item{end: true, err: &Error{Op: "receive", Class: ClassTooLong,
					Err: fmt.Errorf("the reply passed the cap (%s of audio, %d bytes of text)", s.cfg.MaxReply, maxReplyText)}})
				c.popTurn()
				c.dead = true
				return evs, true
			}
			t.recv += len(ev.Audio)
			t.recvText += len(ev.Text)
		}
		end := ev.Kind == EventTurnComplete
		t.push(item{ev: ev, end: end})
		if end {
			c.popTurn()
			c.usage = Usage{}
			c.staleHandle = true
		}
	}
	return evs, false
}

// Respond answers tool calls (EventToolCall) with one toolResponse; each
// response carries its call's ID. A cancelled call (EventToolCancel) must
// not be answered. The open turn's stall clock restarts: the model was
// waiting on the client, not silent.
func (s *Session) Respond(ctx context.Context, responses ...FunctionResponse) error {
	s.mu.Lock()
	c, closed := s.conn, s.closed
	var head *Turn
	if c != nil && len(c.turns) > 0 {
		head = c.turns[0]
	}
	s.mu.Unlock()
	if head != nil {
		defer head.answered()
	}
	if len(responses) == 0 {
		return nil
	}
	if closed {
		return &Error{Op: "respond", Class: ClassClosed, Err: errors.New("session closed")}
	}
	if c == nil || c.dead {
		// The calls belonged to that connection; a resumed one never heard them.
		return &Error{Op: "respond", Class: ClassTransient, Err: errors.New("the connection that made the calls has ended")}
	}
	s.sendMu.Lock()
	err := s.write(ctx, c, wire.ClientMessage{ToolResponse: &wire.ToolResponse{FunctionResponses: responses}})
	s.sendMu.Unlock()
	if err != nil {
		return newError("respond", err, s.cfg.APIKey)
	}
	return nil
}

// answered ends a wait on the client's tool calls: the stall clock runs
// again, from now.
func (t *Turn) answered() {
	t.mu.Lock()
	t.toolWait, t.last = false, time.Now()
	t.mu.Unlock()
}

// maxReplyText caps the text of one reply (reply text and both
// transcripts): ten minutes of speech is about 10 KB.
const maxReplyText = 1 << 20

// maxUnclaimed bounds the server-started turns waiting for NextTurn; past
// it the oldest is discarded, so a caller that stops claiming turns cannot
// make the session buffer without bound.
const maxUnclaimed = 8

// serverTurn opens a turn the server started (a reply to streamed input)
// at the head of c and offers it to NextTurn. Called with s.mu held.
func (s *Session) serverTurn(c *conn) *Turn {
	now := time.Now()
	t := &Turn{s: s, c: c, stall: s.cfg.StallTimeout, deadline: s.cfg.TurnTimeout, start: now, last: now,
		notify: make(chan struct{}, 1), resent: true}
	c.turns = append(c.turns, t)
	if len(s.incoming) >= maxUnclaimed {
		old := s.incoming[0]
		s.incoming[0] = nil
		s.incoming = s.incoming[1:]
		old.discard()
		s.cfg.Logger.Warn("live: discarding a server-started turn nobody claimed with NextTurn")
	}
	s.incoming = append(s.incoming, t)
	select {
	case s.incomingCh <- struct{}{}:
	default:
	}
	return t
}

// popTurn removes the head turn, clearing its slot so that the backing
// array does not keep a finished turn (and its audio) reachable.
func (c *conn) popTurn() {
	c.turns[0] = nil
	c.turns = c.turns[1:]
	if len(c.turns) == 0 {
		c.turns = nil
	}
}

// connEnded fails c's open turns with the classified close.
func (s *Session) connEnded(c *conn, err error) {
	s.mu.Lock()
	e := newError("receive", err, s.cfg.APIKey)
	if s.closed {
		e.Class = ClassClosed
	}
	if e.Class == ClassSessionExpired {
		s.handle = ""
	}
	c.dead, c.err = true, e
	turns := c.turns
	c.turns = nil
	s.mu.Unlock()
	close(c.done)
	for _, t := range turns {
		t.push(item{err: e, end: true})
	}
	s.cfg.Logger.Debug("live: connection ended", "err", e)
}

// abandon drops c after a stall: its remaining turns fail and the next Send
// reconnects.
func (s *Session) abandon(c *conn, t *Turn) {
	s.mu.Lock()
	c.removeTurn(t)
	c.dead = true
	s.mu.Unlock()
	c.ws.CloseNow()
}

func (c *conn) removeTurn(t *Turn) {
	for i, x := range c.turns {
		if x == t {
			c.turns = append(c.turns[:i:i], c.turns[i+1:]...)
			return
		}
	}
}

// item is one queued step of a turn: an event or a terminal error.
type item struct {
	ev  Event
	err *Error
	end bool
}

// Turn is the reply to one Send. Next and the accessors are for one
// goroutine (the consumer); the Session's reader fills the queue.
type Turn struct {
	s        *Session
	c        *conn
	prompt   string
	images   []Image
	stall    time.Duration
	deadline time.Duration // Config.TurnTimeout, from start
	recv     int           // reply audio bytes routed to the turn; guarded by Session.mu
	recvText int           // reply text bytes (all kinds), likewise
	// hearing: a server-started turn that so far only heard speech (its
	// start, its transcription); while the caller streams that speech, its
	// clocks are held at zero (a long question is not a stalled reply).
	// Guarded by Session.mu.
	hearing bool

	mu    sync.Mutex
	q     []item
	ended bool
	// toolWait: a toolCall awaits the client's Respond; the server is
	// silent because of us, so the stall clock is held (TurnTimeout still
	// bounds the turn).
	toolWait bool
	start    time.Time // when the turn was sent (or the server started it)
	last     time.Time // when the last server message for this turn arrived
	notify   chan struct{}

	// Consumer side.
	audio      []byte
	emitted    int
	transcript strings.Builder
	input      strings.Builder
	text       strings.Builder
	eof        bool
	err        error
	started    bool // reply content was delivered
	resent     bool
	sources    []Source
}

// discard drops a turn nobody will read: its queue is freed and later
// events are ignored.
func (t *Turn) discard() {
	t.mu.Lock()
	t.ended, t.q = true, nil
	t.mu.Unlock()
}

// hold restarts the stall and turn clocks of a turn still hearing its
// question: the speech is still streaming.
func (t *Turn) hold(now time.Time) {
	t.mu.Lock()
	t.start, t.last = now, now
	t.mu.Unlock()
}

func (t *Turn) push(it item) {
	t.mu.Lock()
	if t.ended {
		t.mu.Unlock()
		return
	}
	t.q = append(t.q, it)
	t.last = time.Now()
	switch it.ev.Kind {
	case EventToolCall:
		t.toolWait = true
	case EventToolCancel:
		t.toolWait = false
	}
	t.ended = it.end
	t.mu.Unlock()
	select {
	case t.notify <- struct{}{}:
	default:
	}
}

// Next returns the turn's next event. After EventTurnComplete it returns
// io.EOF; if the turn fails it returns an *Error (ClassStall when the server
// went silent for Config.StallTimeout, ClassTimeout past Config.TurnTimeout,
// ClassTooLong past Config.MaxReply), after every event that did arrive.
// Cancelling ctx only stops this wait; the turn goes on.
func (t *Turn) Next(ctx context.Context) (Event, error) {
	for {
		if t.err != nil {
			return Event{}, t.err
		}
		if t.eof {
			return Event{}, io.EOF
		}
		t.mu.Lock()
		if len(t.q) > 0 {
			it := t.q[0]
			t.q[0] = item{}
			t.q = t.q[1:]
			t.mu.Unlock()
			if it.err != nil && t.canResend(it.err) {
				// The connection died before any of the reply arrived (for
				// example the service closed it between turns, racing our
				// Send): send the turn again on a resumed connection.
				t.resent = true
				t.s.cfg.Logger.Warn("live: connection lost before the reply started; sending the turn again", "err", it.err)
				if err := t.s.submit(ctx, t); err == nil {
					continue
				} else if le := (*Error)(nil); errors.As(err, &le) {
					it.err = le
				}
			}
			if ev, ok := t.consume(it); ok {
				return ev, nil
			}
			continue
		}
		now := time.Now()
		wait, left := t.stall-now.Sub(t.last), t.deadline-now.Sub(t.start)
		if t.toolWait {
			wait = t.stall // not a stall: the server waits for our answer
		}
		t.mu.Unlock()
		if wait <= 0 || left <= 0 {
			t.mu.Lock()
			t.ended = true
			t.mu.Unlock()
			t.s.abandon(t.c, t)
			e := &Error{Op: "receive", Class: ClassStall, Err: fmt.Errorf("no message from the server for %s", t.stall)}
			if left <= 0 {
				e = &Error{Op: "receive", Class: ClassTimeout, Err: fmt.Errorf("the turn took longer than %s", t.deadline)}
			}
			t.consume(item{err: e})
			continue
		}
		timer := time.NewTimer(min(wait, left))
		select {
		case <-t.notify:
		case <-timer.C:
		case <-ctx.Done():
			timer.Stop()
			return Event{}, ctx.Err()
		}
		timer.Stop()
	}
}

func (t *Turn) canResend(e *Error) bool {
	return !t.resent && !t.started && e.Class == ClassTransient && e.Op == "receive"
}

// consume applies one queued item; ok is false when it yields no event
// (an audio chunk shorter than a sample).
func (t *Turn) consume(it item) (Event, bool) {
	if it.err != nil {
		e := *it.err
		e.PartialAudio = AudioDuration(len(t.audio))
		t.err = &e
		return Event{}, false
	}
	ev := it.ev
	if ev.Kind != EventResumption && ev.Kind != EventGoAway {
		t.started = true // reply content arrived: never resend
	}
	switch ev.Kind {
	case EventAudio:
		// Chunks may split a sample; carry the odd byte into the next one.
		t.audio = append(t.audio, ev.Audio...)
		end := len(t.audio) &^ 1
		if end == t.emitted {
			return Event{}, false
		}
		ev.Audio = t.audio[t.emitted:end:end]
		t.emitted = end
	case EventInputTranscript:
		t.input.WriteString(ev.Text)
	case EventOutputTranscript:
		t.transcript.WriteString(ev.Text)
	case EventText:
		t.text.WriteString(ev.Text)
	case EventGrounding:
	next:
		for _, src := range ev.Sources {
			for _, have := range t.sources {
				if have.URI == src.URI {
					continue next
				}
			}
			t.sources = append(t.sources, src)
		}
	case EventTurnComplete:
		t.eof = true
	}
	return ev, true
}

// Audio returns the reply audio delivered so far (PCM16LE 24 kHz mono,
// whole samples). It stays valid after a failure: partial audio is kept.
func (t *Turn) Audio() []byte { return t.audio[:t.emitted:t.emitted] }

// Transcript returns the reply's text so far: the output transcription for
// audio replies, the reply text for Text-modality replies.
func (t *Turn) Transcript() string {
	if t.text.Len() > 0 {
		return t.text.String()
	}
	return t.transcript.String()
}

// Sources returns the web pages the reply drew on so far (EventGrounding),
// each once, in the order the service reported them.
func (t *Turn) Sources() []Source { return t.sources }

// Heard returns the transcript of the user's speech this turn answers, so
// far (EventInputTranscript; needs Config.InputTranscription).
func (t *Turn) Heard() string { return t.input.String() }
