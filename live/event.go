package live

import (
	"time"
)

// EventKind says which fields of an Event are meaningful.
type EventKind int

// Event kinds, in the order they usually arrive within a turn.
const (
	// EventAudio: Audio holds PCM16LE, 24 kHz mono, whole samples.
	EventAudio EventKind = iota + 1
	// EventText: Text is reply text (Text modality); thought parts are dropped.
	EventText
	// EventOutputTranscript: Text is a fragment of the transcript of the
	// model's speech.
	EventOutputTranscript
	// EventInputTranscript: Text is a fragment of the transcript of the
	// user's speech.
	EventInputTranscript
	// EventGenerationComplete: the model has finished generating; audio may
	// still follow.
	EventGenerationComplete
	// EventInterrupted: the reply was cut short (a newer turn, barge-in);
	// flush playback. TurnComplete and io.EOF follow.
	EventInterrupted
	// EventTurnComplete: the turn is over; Usage holds its token counts.
	// Next returns io.EOF afterwards.
	EventTurnComplete
	// EventGoAway: the server will close this connection in TimeLeft; the
	// Session resumes on a new one at the next Send.
	EventGoAway
	// EventResumption: the server issued a resumable Handle.
	EventResumption
	// EventActivityStart: the service heard the user start speaking
	// (voiceActivity ACTIVITY_START); with START_OF_ACTIVITY_INTERRUPTS a
	// reply in progress is interrupted next.
	EventActivityStart
	// EventActivityEnd: the service took the user's speech to have ended.
	EventActivityEnd
	// EventToolCall: the model calls the functions in Calls; answer each id
	// with Session.Respond (the turn waits for blocking calls).
	EventToolCall
	// EventToolCancel: the calls with these IDs are withdrawn (the user
	// interrupted); don't answer them.
	EventToolCancel
	// EventGrounding: the reply drew on Google Search; Sources and Queries
	// say where.
	EventGrounding
)

var kindNames = [...]string{"", "audio", "text", "output-transcript", "input-transcript",
	"generation-complete", "interrupted", "turn-complete", "go-away", "resumption",
	"activity-start", "activity-end", "tool-call", "tool-cancel", "grounding"}

// String names the kind for logs.
func (k EventKind) String() string {
	if k > 0 && int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "unknown"
}

// Event is one step of a reply.
type Event struct {
	Kind EventKind
	// Audio is PCM16LE 24 kHz mono, always a whole number of samples. It
	// aliases the Turn's buffer: read it, don't modify it.
	Audio []byte
	// Text is reply text or a transcript fragment.
	Text string
	// Usage is set on EventTurnComplete.
	Usage Usage
	// TimeLeft is set on EventGoAway.
	TimeLeft time.Duration
	// Handle is set on EventResumption.
	Handle string
	// Calls is set on EventToolCall.
	Calls []FunctionCall
	// IDs is set on EventToolCancel.
	IDs []string
	// Sources and Queries are set on EventGrounding.
	Sources []Source
	Queries []string
}

// Source is a web page a grounded reply drew on.
type Source struct {
	Title, URI string
}

// Image is a picture sent with a turn's text (Session.Send), e.g. from
// imagefit.Prepare.
type Image struct {
	MIMEType string // image/jpeg, image/png or image/webp
	Data     []byte
}

// Usage is a turn's token accounting as reported by the server.
type Usage struct {
	PromptTokens, ResponseTokens, ThoughtsTokens, TotalTokens int
	// PromptDetails and ResponseDetails split the counts by modality
	// (promptTokensDetails, responseTokensDetails), for per-modality billing.
	PromptDetails, ResponseDetails []ModalityTokens
}

// ModalityTokens is one modality's share of a token count.
type ModalityTokens struct {
	Modality string // "TEXT", "AUDIO", "IMAGE", "VIDEO" or "DOCUMENT"
	Tokens   int
}

// SampleRate is the rate of Event.Audio (Hz).
const SampleRate = 24000

// AudioDuration converts a PCM16 mono 24 kHz byte count to a duration.
func AudioDuration(nbytes int) time.Duration {
	return time.Duration(nbytes/2) * time.Second / SampleRate
}
