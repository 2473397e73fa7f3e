package livetest

import "time"

// Reply scripts the emulator's answer to one turn. The zero Reply is the
// default: Speak(prompt).
type Reply struct {
	// Transcript is sent as outputTranscription (or as text parts for Text
	// modality). Empty with PCM nil: the default reply, Speak(prompt).
	Transcript string
	// PCM is the audio to stream (24 kHz mono). Nil: Say(Transcript).
	PCM []int16
	// Duration, if set, loops or trims the audio to exactly this length
	// (cheap long replies for pacing tests).
	Duration time.Duration
	// ChunkBytes is the audio bytes per serverContent message (default
	// 11520, i.e. 240 ms). An odd value splits samples across messages.
	ChunkBytes int
	// Fault, if set, breaks this turn.
	Fault Fault
	// ToolCalls are made before the reply; the emulator waits for their
	// responses (ids checked). With Transcript empty the reply then says
	// what the tools answered ("name said {…}.").
	ToolCalls []ToolCall
	// Grounding is sent as groundingMetadata before generationComplete,
	// if the setup offered googleSearch.
	Grounding *Grounding
}

// FaultKind selects how the emulator misbehaves.
type FaultKind int

// Faults. Each happens after Fault.AfterChunks audio chunks of the turn
// (negative: after turnComplete).
const (
	// FaultNone: no fault.
	FaultNone FaultKind = iota
	// FaultClose closes the socket with Code and Reason (default 1011
	// "Internal error encountered.").
	FaultClose
	// FaultStall stops sending and keeps the socket open, until the client
	// closes it or the server shuts down.
	FaultStall
	// FaultDrop drops the TCP connection without a close frame (1006).
	FaultDrop
	// FaultGoAway sends goAway{timeLeft} and, TimeLeft later, closes with
	// 1011 "Deadline expired before operation could complete.". The turn
	// itself continues.
	FaultGoAway
)

// Fault is an injected failure within a turn.
type Fault struct {
	Kind        FaultKind
	AfterChunks int
	// Code and Reason for FaultClose.
	Code   int
	Reason string
	// TimeLeft for FaultGoAway (default 100 ms).
	TimeLeft time.Duration
}

// Exchange is one completed turn of an emulated session.
type Exchange struct {
	Prompt      string
	Transcript  string
	Interrupted bool
}

// Request is what a responder sees for one turn.
type Request struct {
	Prompt string
	// History holds the session's earlier exchanges; it survives resumption
	// on a new connection, which is how tests check that context was kept.
	History  []Exchange
	Model    string // without "models/"
	Modality string // "AUDIO" or "TEXT"
	Resumed  bool   // this connection resumed a session with a handle
	// Spoken: the turn is speech in realtime audio that ended; Prompt is
	// what was recognised of it (see Server.Hear), "" if nothing.
	Spoken bool
	// Images are the turn's inline image parts.
	Images []Image
	// Tools are the declared function names; GoogleSearch is whether the
	// setup offered googleSearch.
	Tools        []string
	GoogleSearch bool
	// Context is the text added with clientContent without turnComplete
	// since the last turn, for spoken turns (a text turn's Prompt starts
	// with it instead).
	Context string
}

// Responder computes the reply to a turn.
type Responder func(Request) Reply
