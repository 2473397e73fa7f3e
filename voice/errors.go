package voice

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"

	"github.com/coder/websocket"

	"github.com/livecord/livecord/voice/internal/wire"
)

// CloseError reports that the voice gateway closed the connection with a code
// whose action is not to resume.
type CloseError struct {
	wire.CloseCode
	Reason string
}

func (e *CloseError) Error() string {
	s := "voice: gateway closed " + strconv.Itoa(int(e.Code)) + " (" + e.Meaning + "; " + e.Action.String() + ")"
	if e.Reason != "" {
		s += ": " + e.Reason
	}
	return s
}

// ErrClosed is returned by a Conn used after Close.
var ErrClosed = errors.New("voice: connection closed")

func closeErrorFrom(err error) *CloseError {
	var ce websocket.CloseError
	if errors.As(err, &ce) {
		return &CloseError{CloseCode: wire.LookupClose(ce.Code), Reason: ce.Reason}
	}
	return &CloseError{CloseCode: wire.LookupClose(-1), Reason: fmt.Sprint(err)}
}

// FrameSamples is the number of samples per channel in one 20 ms Discord
// audio frame at 48 kHz (what an Opus decoder of a Frame is asked for).
const FrameSamples = wire.FrameSamples

// IsSilence reports whether f is the Opus silence frame that ends a talk spurt.
func (f Frame) IsSilence() bool { return bytes.Equal(f.Opus, wire.SilenceFrame) }
