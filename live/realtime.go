package live

import (
	"context"
	"errors"
	"time"

	"github.com/livecord/livecord/live/internal/wire"
)

// InputRate is the rate of the audio SendAudio takes (Hz): PCM16LE mono.
const InputRate = 16000

// inputChunk is the most audio one realtimeInput message carries: 100 ms,
// within the 50–100 ms the service's guides recommend, so speech reaches it
// promptly and no frame grows large.
const inputChunk = InputRate / 10 * 2

const inputMime = "audio/pcm;rate=16000"

var errNoRealtime = &Error{Op: "send", Class: ClassInvalidConfig, Err: errors.New("streamed audio needs Config.Realtime")}

// SendAudio streams pcm (PCM16LE, 16 kHz mono, any length; an odd trailing
// byte is kept for the next call) as realtimeInput audio in chunks of at
// most 100 ms. It needs Config.Realtime. The service detects speech in it;
// its replies arrive as turns it starts, from NextTurn. If the connection
// was dropped, Send's rules apply: SendAudio first resumes on a new one
// (a connection that was told to go away is kept until its open turn ends).
func (s *Session) SendAudio(ctx context.Context, pcm []byte) error {
	if s.cfg.Realtime == nil {
		return errNoRealtime
	}
	if len(pcm) == 0 {
		return nil
	}
	return s.stream(ctx, func(write func(wire.ClientMessage) error) error {
		if len(s.carry) > 0 {
			pcm = append(s.carry, pcm...)
			s.carry = nil
		}
		whole := len(pcm) &^ 1
		for lo := 0; lo < whole; lo += inputChunk {
			hi := min(lo+inputChunk, whole)
			m := wire.ClientMessage{RealtimeInput: &wire.RealtimeInput{Audio: &wire.InlineData{MimeType: inputMime, Data: pcm[lo:hi]}}}
			if err := write(m); err != nil {
				return err
			}
		}
		if whole < len(pcm) {
			s.carry = []byte{pcm[whole]}
		}
		s.hearing()
		return nil
	})
}

// SendAudioEnd tells the service the audio stream has paused
// (audioStreamEnd), e.g. when a speaker's packets stop: it then ends the
// speech it holds and answers, instead of waiting for audio that never
// comes. With ManualActivity use Activity instead.
func (s *Session) SendAudioEnd(ctx context.Context) error {
	if s.cfg.Realtime == nil {
		return errNoRealtime
	}
	if s.cfg.Realtime.ManualActivity {
		return &Error{Op: "send", Class: ClassInvalidConfig, Err: errors.New("audioStreamEnd is for automatic activity detection; use Activity")}
	}
	return s.stream(ctx, func(write func(wire.ClientMessage) error) error {
		s.carry = nil
		return write(wire.ClientMessage{RealtimeInput: &wire.RealtimeInput{AudioStreamEnd: true}})
	})
}

// Activity marks the start (speaking true) or end of the user's speech when
// Config.Realtime.ManualActivity disabled the service's own detection.
func (s *Session) Activity(ctx context.Context, speaking bool) error {
	if s.cfg.Realtime == nil || !s.cfg.Realtime.ManualActivity {
		return &Error{Op: "send", Class: ClassInvalidConfig, Err: errors.New("Activity needs Config.Realtime.ManualActivity")}
	}
	ri := &wire.RealtimeInput{ActivityEnd: &struct{}{}}
	if speaking {
		ri = &wire.RealtimeInput{ActivityStart: &struct{}{}}
	}
	return s.stream(ctx, func(write func(wire.ClientMessage) error) error {
		return write(wire.ClientMessage{RealtimeInput: ri})
	})
}

// SendContext adds text to the conversation without asking for a reply
// (clientContent without turnComplete), e.g. "Alice is speaking." before
// her audio, so the model can tell speakers apart and answer them by name.
// It does not interrupt a reply in progress, and needs no Config.Realtime.
func (s *Session) SendContext(ctx context.Context, text string) error {
	m := wire.ClientMessage{ClientContent: &wire.ClientContent{
		Turns: []wire.Content{{Role: "user", Parts: []wire.Part{{Text: text}}}}}}
	return s.stream(ctx, func(write func(wire.ClientMessage) error) error { return write(m) })
}

// NextTurn waits for the next turn the server starts on its own: a reply to
// speech sent with SendAudio. Its events start with what the service heard
// (EventActivityStart, EventInputTranscript) and go on as for Send; a reply
// cut by new speech yields EventInterrupted, then turnComplete, and the new
// speech arrives as the next turn. At most 8 unclaimed turns are kept (the
// oldest is discarded). It returns ClassClosed once the session is closed.
func (s *Session) NextTurn(ctx context.Context) (*Turn, error) {
	if s.cfg.Realtime == nil {
		return nil, &Error{Op: "receive", Class: ClassInvalidConfig, Err: errors.New("NextTurn needs Config.Realtime")}
	}
	for {
		s.mu.Lock()
		if len(s.incoming) > 0 {
			t := s.incoming[0]
			s.incoming[0] = nil
			s.incoming = s.incoming[1:]
			if len(s.incoming) == 0 {
				s.incoming = nil
			}
			s.mu.Unlock()
			return t, nil
		}
		closed := s.closed
		s.mu.Unlock()
		if closed {
			return nil, &Error{Op: "receive", Class: ClassClosed, Err: errors.New("session closed")}
		}
		select {
		case <-s.incomingCh:
		case <-s.ctx.Done():
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// hearing holds the clocks of a turn whose question is still streaming.
func (s *Session) hearing() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c := s.conn; c != nil && len(c.turns) > 0 && c.turns[0].hearing {
		c.turns[0].hold(time.Now())
	}
}

// stream runs fill with a writer for streamed input on a working
// connection. A failed write drops the connection (the next call resumes on
// a new one) and is returned as a classified *Error.
func (s *Session) stream(ctx context.Context, fill func(write func(wire.ClientMessage) error) error) error {
	s.sendMu.Lock()
	defer s.sendMu.Unlock()
	c, err := s.ensureConn(ctx, true)
	if err != nil {
		return err
	}
	err = fill(func(m wire.ClientMessage) error { return s.write(ctx, c, m) })
	if err != nil {
		s.mu.Lock()
		c.dead = true
		s.mu.Unlock()
		c.ws.CloseNow()
		return newError("send", err, s.cfg.APIKey)
	}
	return nil
}
