package voice

import (
	"context"
	"errors"

	"github.com/livecord/livecord/voice/internal/wire"
)

// E2EE is the end-to-end encryption layer (DAVE) that sits between Opus and
// RTP and speaks the DAVE gateway op codes. A Conn without one identifies with
// max_dave_protocol_version 0 and sends Opus frames as they are.
type E2EE interface {
	// MaxProtocolVersion is sent in identify as max_dave_protocol_version.
	MaxProtocolVersion() int
	// HandleMessage receives, in gateway order on the Conn's reader goroutine,
	// op 2 (ready: a new session's users follow), op 4 (session description,
	// carrying dave_protocol_version), ops 11 and 13 (recognised users) and the DAVE ops 21–31, JSON and binary alike. Replies
	// (ops 23, 26, 28, 31) go out through g. HandleMessage must not block for long.
	// After a new session (not a resume) it sees op 4 again and should reset.
	HandleMessage(ctx context.Context, m wire.Message, g GatewayWriter) error
	// EncryptOpus appends to dst the frame to put in RTP for one Opus frame,
	// silence frames included (DAVE passes those through). An error drops the
	// frame: DAVE sends no audio before its first executed transition.
	EncryptOpus(dst, opus []byte) ([]byte, error)
	// DecryptOpus appends to dst the Opus frame that userID sent as frame.
	DecryptOpus(dst []byte, userID string, frame []byte) ([]byte, error)
}

// GatewayWriter sends a message on the current voice gateway connection. Set
// Binary (with Payload) for ops 26 and 28, Data for JSON ops.
type GatewayWriter interface {
	WriteMessage(ctx context.Context, m wire.Message) error
}

// ErrNotConnected is returned by writes while the connection is between
// gateway sessions (reconnecting) or not yet ready.
var ErrNotConnected = errors.New("voice: not connected")
