package wire

import (
	"github.com/coder/websocket"
)

// Action is what a client does after the voice gateway closes.
type Action int

// Actions after a close, in the order of escalation.
const (
	// ActionResume reconnects the WebSocket and resumes (op 7); UDP and keys stay.
	ActionResume Action = iota
	// ActionNewSession needs fresh credentials from the main gateway (op 4 again), then identifies.
	ActionNewSession
	// ActionStop ends the connection for good.
	ActionStop
)

func (a Action) String() string {
	switch a {
	case ActionResume:
		return "resume"
	case ActionNewSession:
		return "new session"
	default:
		return "stop"
	}
}

// CloseCode describes one voice gateway close code.
type CloseCode struct {
	Code    websocket.StatusCode
	Meaning string
	Action  Action
}

// CloseCodes is the voice gateway's close-code table. Codes below 4000 that are
// not listed (transport closes) resume; unlisted 4xxx codes start a new session.
var CloseCodes = []CloseCode{
	{4001, "unknown opcode", ActionNewSession},
	{4002, "failed to decode payload", ActionNewSession},
	{4003, "not authenticated", ActionNewSession},
	{4004, "authentication failed", ActionStop},
	{4005, "already authenticated", ActionNewSession},
	{4006, "session no longer valid", ActionNewSession},
	{4009, "session timeout", ActionNewSession},
	{4011, "server not found", ActionNewSession},
	{4012, "unknown protocol", ActionNewSession},
	{4014, "disconnected", ActionStop},
	{4015, "voice server crashed", ActionResume},
	{4016, "unknown encryption mode", ActionStop},
	{4017, "E2EE/DAVE protocol required", ActionStop},
	{4020, "bad request", ActionNewSession},
	{4021, "rate limited", ActionStop},
	{4022, "call terminated", ActionStop},
}

// LookupClose returns the table entry for code; transport-level codes (< 4000,
// or -1 for a connection lost without a close frame) resume.
func LookupClose(code websocket.StatusCode) CloseCode {
	for _, c := range CloseCodes {
		if c.Code == code {
			return c
		}
	}
	if code < 4000 {
		return CloseCode{Code: code, Meaning: "transport closed", Action: ActionResume}
	}
	return CloseCode{Code: code, Meaning: "unknown close code", Action: ActionNewSession}
}
