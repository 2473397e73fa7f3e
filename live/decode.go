package live

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/livecord/livecord/live/internal/wire"
)

// decodeServerMessage parses one server frame (text or binary JSON, any
// formatting). Unknown fields and messages decode to an empty value.
func decodeServerMessage(data []byte) (*wire.ServerMessage, error) {
	var m wire.ServerMessage
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("decode server message: %w", err)
	}
	return &m, nil
}

// contentEvents lists the events of a serverContent in the order a player
// needs them: parts, transcripts, then the turn's state changes. Audio chunks
// are raw (possibly odd-length); Turn.Next makes them whole samples. Thought
// parts and non-audio inline data are dropped. usage is attached to
// TurnComplete.
func contentEvents(sc *wire.ServerContent, usage Usage, dst []Event) []Event {
	if sc == nil {
		return dst
	}
	if sc.ModelTurn != nil {
		for _, p := range sc.ModelTurn.Parts {
			switch {
			case p.Thought:
			case p.InlineData != nil:
				if isPCM24k(p.InlineData.MimeType) && len(p.InlineData.Data) > 0 {
					dst = append(dst, Event{Kind: EventAudio, Audio: p.InlineData.Data})
				}
			case p.Text != "":
				dst = append(dst, Event{Kind: EventText, Text: p.Text})
			}
		}
	}
	if sc.InputTranscription != nil && sc.InputTranscription.Text != "" {
		dst = append(dst, Event{Kind: EventInputTranscript, Text: sc.InputTranscription.Text})
	}
	if sc.OutputTranscription != nil && sc.OutputTranscription.Text != "" {
		dst = append(dst, Event{Kind: EventOutputTranscript, Text: sc.OutputTranscription.Text})
	}
	if g := sc.GroundingMetadata; g != nil {
		ev := Event{Kind: EventGrounding, Queries: g.WebSearchQueries}
		for _, ch := range g.GroundingChunks {
			if ch.Web != nil && ch.Web.URI != "" {
				ev.Sources = append(ev.Sources, Source{Title: ch.Web.Title, URI: ch.Web.URI})
			}
		}
		if len(ev.Sources)+len(ev.Queries) > 0 {
			dst = append(dst, ev)
		}
	}
	if sc.GenerationComplete {
		dst = append(dst, Event{Kind: EventGenerationComplete})
	}
	if sc.Interrupted {
		dst = append(dst, Event{Kind: EventInterrupted})
	}
	if sc.TurnComplete {
		dst = append(dst, Event{Kind: EventTurnComplete, Usage: usage})
	}
	return dst
}

// toolEvents maps toolCall and toolCallCancellation to their events.
func toolEvents(m *wire.ServerMessage, dst []Event) []Event {
	if tc := m.ToolCall; tc != nil && len(tc.FunctionCalls) > 0 {
		dst = append(dst, Event{Kind: EventToolCall, Calls: tc.FunctionCalls})
	}
	if c := m.ToolCallCancellation; c != nil && len(c.IDs) > 0 {
		dst = append(dst, Event{Kind: EventToolCancel, IDs: c.IDs})
	}
	return dst
}

// activityEvents maps a voiceActivity message to its event.
func activityEvents(va *wire.VoiceActivity, dst []Event) []Event {
	if va == nil {
		return dst
	}
	typ := va.Type
	if typ == "" {
		typ = va.VoiceActivityType
	}
	switch typ {
	case "ACTIVITY_START":
		dst = append(dst, Event{Kind: EventActivityStart})
	case "ACTIVITY_END":
		dst = append(dst, Event{Kind: EventActivityEnd})
	}
	return dst
}

// isPCM24k accepts the Gemini API's "audio/pcm;rate=24000" and Vertex's
// bare "audio/pcm" (which is 24 kHz output too).
func isPCM24k(mime string) bool {
	switch mime {
	case "audio/pcm;rate=24000", "audio/pcm; rate=24000", "audio/pcm", "":
		return true
	}
	return false
}

func usageOf(u *wire.UsageMetadata) Usage {
	if u == nil {
		return Usage{}
	}
	return Usage{PromptTokens: u.PromptTokenCount, ResponseTokens: u.ResponseTokenCount,
		ThoughtsTokens: u.ThoughtsTokenCount, TotalTokens: u.TotalTokenCount,
		PromptDetails: modalityTokens(u.PromptTokensDetails), ResponseDetails: modalityTokens(u.ResponseTokensDetails)}
}

func modalityTokens(d []wire.ModalityTokenCount) []ModalityTokens {
	if len(d) == 0 {
		return nil
	}
	out := make([]ModalityTokens, len(d))
	for i, m := range d {
		out[i] = ModalityTokens{Modality: m.Modality, Tokens: m.TokenCount}
	}
	return out
}

// parseTimeLeft reads a protobuf Duration ("50s", "1.5s"); 0 if malformed.
func parseTimeLeft(s string) time.Duration {
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0
	}
	return d
}
