package live

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/coder/websocket"
)

// ErrorClass groups failures by what the caller should do about them.
type ErrorClass int

// Error classes.
const (
	// ClassTransient: 1011 internal/unavailable, a dropped connection
	// (1006), goAway's deadline; retrying later usually works.
	ClassTransient ErrorClass = iota + 1
	// ClassInvalidConfig: 1007, the setup or a message was rejected; retrying
	// the same request fails again.
	ClassInvalidConfig
	// ClassAuth: the API key or token was rejected (1007 "API key not
	// valid", 1008 permission denied).
	ClassAuth
	// ClassNotFound: 1008, the model is unknown or retired for this API
	// version, or the operation is unsupported.
	ClassNotFound
	// ClassSessionExpired: 1008 "session not found" on resumption; the
	// Session forgets the handle and the next turn starts afresh.
	ClassSessionExpired
	// ClassQuota: quota or rate limit exhausted (1011 with a quota reason).
	ClassQuota
	// ClassStall: no server message for Config.StallTimeout during a turn.
	ClassStall
	// ClassClosed: the Session was closed by its owner.
	ClassClosed
	// ClassUnreachable: no Live service answered at Config.BaseURL: the
	// host could not be resolved or connected to, TLS failed, the WebSocket
	// upgrade got no answer within Config.ConnectTimeout, or an HTTP server
	// that is not the Live API answered it (e.g. 404). The base URL or the
	// network is wrong, not the key or the model.
	ClassUnreachable
	// ClassTimeout: an overall deadline passed: the session setup took
	// longer than Config.ConnectTimeout after the upgrade, or a turn took
	// longer than Config.TurnTimeout although the server kept sending.
	ClassTimeout
	// ClassTooLong: the reply passed Config.MaxReply; the turn was cut there
	// (the audio up to the cap was delivered) and the connection dropped.
	ClassTooLong
)

var classNames = [...]string{"", "transient", "invalid-config", "auth", "not-found",
	"session-expired", "quota", "stall", "closed", "unreachable", "timeout", "too-long"}

// String names the class for logs and metrics labels.
func (c ErrorClass) String() string {
	if c > 0 && int(c) < len(classNames) {
		return classNames[c]
	}
	return "unknown"
}

// Retryable reports whether the same request may succeed later unchanged.
func (c ErrorClass) Retryable() bool {
	return c == ClassTransient || c == ClassStall || c == ClassSessionExpired ||
		c == ClassUnreachable || c == ClassTimeout
}

// Error is a classified Live failure. Use errors.As to get it.
type Error struct {
	Class ErrorClass
	// Code is the WebSocket close code (0 when there was no close frame).
	Code int
	// Reason is the server's close reason (at most 123 bytes), with any
	// credential removed.
	Reason string
	// Op is what was being done: "dial", "setup", "send", "receive".
	Op string
	// PartialAudio is how much reply audio had arrived before a turn failed;
	// that audio was delivered as events and stays in Turn.Audio.
	PartialAudio time.Duration
	// Err is the underlying error, scrubbed of credentials.
	Err error
}

// Error describes the failure for logs; it never contains the API key.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("live: ")
	if e.Op != "" {
		b.WriteString(e.Op + ": ")
	}
	b.WriteString(e.Class.String())
	if e.Code != 0 {
		fmt.Fprintf(&b, " (close %d)", e.Code)
	}
	if e.Reason != "" {
		b.WriteString(": " + e.Reason)
	} else if e.Err != nil {
		b.WriteString(": " + e.Err.Error())
	}
	if e.PartialAudio > 0 {
		fmt.Fprintf(&b, " after %s of audio", e.PartialAudio.Round(time.Millisecond))
	}
	return b.String()
}

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

// UserMessage is a short explanation for the person who asked, in plain
// words; it names no internals and never contains a credential.
func (e *Error) UserMessage() string {
	partial := ""
	if e.PartialAudio > 0 {
		partial = " The part of the answer that arrived was kept."
	}
	switch e.Class {
	case ClassTransient:
		return "Gemini had a temporary problem and the answer was cut off. Please try again in a moment." + partial
	case ClassInvalidConfig:
		return "Gemini rejected the bot's settings, so it can't answer right now. The bot's owner needs to fix its Gemini configuration."
	case ClassAuth:
		return "Gemini did not accept the bot's API key (or none is set). The bot's owner needs to check the key."
	case ClassNotFound:
		return "The Gemini model this bot is set to use isn't available (it may have been retired). The bot's owner needs to choose another model."
	case ClassSessionExpired:
		return "This conversation expired on Gemini's side, so it starts fresh. Please ask again."
	case ClassQuota:
		return "The bot has used up its Gemini quota for now. Please try again later."
	case ClassStall:
		return "Gemini stopped answering partway through. Please try again." + partial
	case ClassClosed:
		return "The conversation was closed."
	case ClassUnreachable:
		return "The bot could not reach Gemini. Please try again in a moment; if it keeps happening, the bot's owner needs to check its Gemini address and network."
	case ClassTimeout:
		return "Gemini took too long to answer, so the bot gave up. Please try again." + partial
	case ClassTooLong:
		return "The answer was longer than the bot allows, so it was cut off there." + partial
	}
	return "Something went wrong talking to Gemini. Please try again."
}

// classify turns a close code and reason into a class.
func classify(code int, reason string) ErrorClass {
	r := strings.ToLower(reason)
	switch {
	case strings.Contains(r, "quota") || strings.Contains(r, "resource has been exhausted") ||
		strings.Contains(r, "resource_exhausted") || strings.Contains(r, "rate limit"):
		return ClassQuota
	case strings.Contains(r, "api key") || strings.Contains(r, "permission denied") ||
		strings.Contains(r, "unregistered callers") || strings.Contains(r, "access token"):
		return ClassAuth
	case strings.Contains(r, "session not found"):
		return ClassSessionExpired
	}
	switch code {
	case 1007:
		return ClassInvalidConfig
	case 1008:
		return ClassNotFound
	}
	return ClassTransient
}

// newError builds a classified Error from any failure of op, scrubbing key.
func newError(op string, err error, key string) *Error {
	var le *Error
	if errors.As(err, &le) {
		return le
	}
	e := &Error{Op: op, Class: ClassTransient}
	var ce websocket.CloseError
	switch {
	case errors.As(err, &ce):
		e.Code, e.Reason = int(ce.Code), scrub(ce.Reason, key)
		e.Class = classify(e.Code, ce.Reason)
		if ce.Code == websocket.StatusNormalClosure || ce.Code == websocket.StatusGoingAway {
			e.Class = ClassTransient
		}
	case errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded):
		e.Class = ClassTransient
	default:
		if c := websocket.CloseStatus(err); c == -1 {
			e.Code = 1006 // no close frame: the connection dropped
		}
	}
	e.Err = scrubErr(err, key)
	return e
}

// scrub removes the credential from s.
func scrub(s, key string) string {
	if len(key) < 4 {
		return s
	}
	return strings.ReplaceAll(s, key, "[redacted]")
}

// scrubErr keeps err (for errors.Is) unless its text contains the key.
func scrubErr(err error, key string) error {
	if err == nil || len(key) < 4 || !strings.Contains(err.Error(), key) {
		return err
	}
	return redacted{msg: scrub(err.Error(), key), cause: errors.Unwrap(err)}
}

// redacted replaces a message that contained a credential. Its cause is kept
// only for errors.Is/As on sentinel values; its text is never printed.
type redacted struct {
	msg   string
	cause error
}

func (r redacted) Error() string { return r.msg }
func (r redacted) Is(target error) bool {
	return r.cause != nil && errors.Is(r.cause, target)
}
