package wire

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
)

// Op is a voice gateway v8 op code.
type Op uint8

// Voice gateway v8 op codes. 21–31 belong to DAVE; 25–30 travel as binary frames.
const (
	OpIdentify                        Op = 0
	OpSelectProtocol                  Op = 1
	OpReady                           Op = 2
	OpHeartbeat                       Op = 3
	OpSessionDescription              Op = 4
	OpSpeaking                        Op = 5
	OpHeartbeatACK                    Op = 6
	OpResume                          Op = 7
	OpHello                           Op = 8
	OpResumed                         Op = 9
	OpClientsConnect                  Op = 11
	OpClientDisconnect                Op = 13
	OpDAVEPrepareTransition           Op = 21
	OpDAVEExecuteTransition           Op = 22
	OpDAVETransitionReady             Op = 23
	OpDAVEPrepareEpoch                Op = 24
	OpDAVEMLSExternalSender           Op = 25
	OpDAVEMLSKeyPackage               Op = 26
	OpDAVEMLSProposals                Op = 27
	OpDAVEMLSCommitWelcome            Op = 28
	OpDAVEMLSAnnounceCommitTransition Op = 29
	OpDAVEMLSWelcome                  Op = 30
	OpDAVEMLSInvalidCommitWelcome     Op = 31
)

// IsBinary reports whether op travels in binary WebSocket frames (DAVE MLS ops 25–30).
func (o Op) IsBinary() bool { return o >= OpDAVEMLSExternalSender && o <= OpDAVEMLSWelcome }

// IsDAVE reports whether op belongs to the DAVE protocol (21–31).
func (o Op) IsDAVE() bool { return o >= OpDAVEPrepareTransition && o <= OpDAVEMLSInvalidCommitWelcome }

// Message is one voice gateway frame. JSON frames carry Data (the "d" field,
// raw); binary frames carry Payload. Seq is the server's sequence number, or -1
// when the frame has none (client frames, and server frames that are not replayable).
type Message struct {
	Op      Op
	Seq     int
	Data    json.RawMessage
	Payload []byte
	Binary  bool
}

var (
	errShortFrame = errors.New("binary frame too short")
	errNoOp       = errors.New("missing op")
)

type envelope struct {
	Op   *int            `json:"op"`
	Data json.RawMessage `json:"d"`
	Seq  *int            `json:"seq,omitempty"`
}

// NewMessage returns a JSON message with d marshalled from v.
func NewMessage(op Op, v any) (Message, error) {
	d, err := json.Marshal(v)
	if err != nil {
		return Message{}, fmt.Errorf("voice: marshal op %d: %w", op, err)
	}
	return Message{Op: op, Seq: -1, Data: d}, nil
}

// Decode unmarshals the JSON payload into v.
func (m Message) Decode(v any) error {
	if m.Binary {
		return fmt.Errorf("voice: op %d: binary frame has no JSON payload", m.Op)
	}
	if err := json.Unmarshal(m.Data, v); err != nil {
		return fmt.Errorf("voice: decode op %d: %w", m.Op, err)
	}
	return nil
}

// MarshalServer encodes m as the server sends it: JSON with "seq" when Seq ≥ 0,
// or binary as seq u16 BE ‖ op ‖ payload.
func (m Message) MarshalServer() ([]byte, error) {
	if m.Binary {
		if m.Seq < 0 || m.Seq > 0xffff {
			return nil, fmt.Errorf("voice: binary op %d needs a 16-bit seq, have %d", m.Op, m.Seq)
		}
		b := make([]byte, 3+len(m.Payload))
		binary.BigEndian.PutUint16(b, uint16(m.Seq))
		b[2] = byte(m.Op)
		copy(b[3:], m.Payload)
		return b, nil
	}
	return m.marshalJSON(m.Seq >= 0)
}

// MarshalClient encodes m as a client sends it: JSON without seq, or binary as op ‖ payload.
func (m Message) MarshalClient() ([]byte, error) {
	if m.Binary {
		b := make([]byte, 1+len(m.Payload))
		b[0] = byte(m.Op)
		copy(b[1:], m.Payload)
		return b, nil
	}
	return m.marshalJSON(false)
}

func (m Message) marshalJSON(withSeq bool) ([]byte, error) {
	op := int(m.Op)
	e := envelope{Op: &op, Data: m.Data}
	if len(e.Data) == 0 {
		e.Data = json.RawMessage("null")
	}
	if withSeq {
		seq := m.Seq
		e.Seq = &seq
	}
	b, err := json.Marshal(e)
	if err != nil {
		return nil, fmt.Errorf("voice: marshal op %d: %w", m.Op, err)
	}
	return b, nil
}

// ParseServerMessage decodes a frame received from the voice server.
func ParseServerMessage(binaryFrame bool, b []byte) (Message, error) {
	if binaryFrame {
		if len(b) < 3 {
			return Message{}, fmt.Errorf("voice: server frame: %w", errShortFrame)
		}
		return Message{
			Op:      Op(b[2]),
			Seq:     int(binary.BigEndian.Uint16(b)),
			Payload: bytes.Clone(b[3:]),
			Binary:  true,
		}, nil
	}
	return parseJSON(b)
}

// ParseClientMessage decodes a frame received from a client (the emulator's side).
func ParseClientMessage(binaryFrame bool, b []byte) (Message, error) {
	if binaryFrame {
		if len(b) < 1 {
			return Message{}, fmt.Errorf("voice: client frame: %w", errShortFrame)
		}
		return Message{Op: Op(b[0]), Seq: -1, Payload: bytes.Clone(b[1:]), Binary: true}, nil
	}
	return parseJSON(b)
}

func parseJSON(b []byte) (Message, error) {
	var e envelope
	if err := json.Unmarshal(b, &e); err != nil {
		return Message{}, fmt.Errorf("voice: gateway frame: %w", err)
	}
	if e.Op == nil {
		return Message{}, fmt.Errorf("voice: gateway frame: %w", errNoOp)
	}
	if *e.Op < 0 || *e.Op > 255 {
		return Message{}, fmt.Errorf("voice: gateway frame: op %d out of range", *e.Op)
	}
	m := Message{Op: Op(*e.Op), Seq: -1, Data: e.Data}
	if e.Seq != nil && *e.Seq >= 0 {
		m.Seq = *e.Seq
	}
	return m, nil
}

// Identify is op 0's payload.
type Identify struct {
	ServerID               string `json:"server_id"`
	UserID                 string `json:"user_id"`
	SessionID              string `json:"session_id"`
	Token                  string `json:"token"`
	MaxDAVEProtocolVersion int    `json:"max_dave_protocol_version"`
}

// SelectProtocol is op 1's payload.
type SelectProtocol struct {
	Protocol string             `json:"protocol"`
	Data     SelectProtocolData `json:"data"`
}

// SelectProtocolData is the UDP address found by IP discovery and the chosen mode.
type SelectProtocolData struct {
	Address string `json:"address"`
	Port    int    `json:"port"`
	Mode    string `json:"mode"`
}

// Ready is op 2's payload. Its heartbeat_interval is bogus and ignored.
type Ready struct {
	SSRC  uint32   `json:"ssrc"`
	IP    string   `json:"ip"`
	Port  int      `json:"port"`
	Modes []string `json:"modes"`
}

// Heartbeat is op 3's payload; SeqAck is -1 before any sequenced message.
type Heartbeat struct {
	T      int64 `json:"t"`
	SeqAck int   `json:"seq_ack"`
}

// SessionDescription is op 4's payload.
type SessionDescription struct {
	Mode                string    `json:"mode"`
	SecretKey           SecretKey `json:"secret_key"`
	DAVEProtocolVersion int       `json:"dave_protocol_version"`
}

// SecretKey is the 32-byte transport key. On the wire it is a JSON array of
// numbers (never base64), which a Go array marshals to; unmarshal checks the length.
type SecretKey [32]byte

// UnmarshalJSON accepts exactly 32 numbers in 0..255.
func (k *SecretKey) UnmarshalJSON(b []byte) error {
	var v []int
	if err := json.Unmarshal(b, &v); err != nil {
		return fmt.Errorf("secret_key: %w", err)
	}
	if len(v) != len(k) {
		return fmt.Errorf("secret_key: %d bytes, want %d", len(v), len(k))
	}
	for i, x := range v {
		if x < 0 || x > 255 {
			return fmt.Errorf("secret_key: byte %d out of range", i)
		}
		k[i] = byte(x)
	}
	return nil
}

// Speaking is op 5's payload (UserID only from the server).
type Speaking struct {
	Speaking int    `json:"speaking"`
	Delay    int    `json:"delay"`
	SSRC     uint32 `json:"ssrc"`
	UserID   string `json:"user_id,omitempty"`
}

// HeartbeatACK is op 6's payload.
type HeartbeatACK struct {
	T int64 `json:"t"`
}

// Resume is op 7's payload.
type Resume struct {
	ServerID  string `json:"server_id"`
	SessionID string `json:"session_id"`
	Token     string `json:"token"`
	SeqAck    int    `json:"seq_ack"`
}

// Hello is op 8's payload; the interval is in milliseconds and may be fractional.
type Hello struct {
	HeartbeatInterval float64 `json:"heartbeat_interval"`
	V                 int     `json:"v,omitempty"`
}

// ClientsConnect is op 11's payload.
type ClientsConnect struct {
	UserIDs []string `json:"user_ids"`
}

// ClientDisconnect is op 13's payload.
type ClientDisconnect struct {
	UserID string `json:"user_id"`
}

// DAVEPrepareTransition is op 21's payload.
type DAVEPrepareTransition struct {
	ProtocolVersion int `json:"protocol_version"`
	TransitionID    int `json:"transition_id"`
}

// DAVETransition is the payload of ops 22, 23 and 31.
type DAVETransition struct {
	TransitionID int `json:"transition_id"`
}

// DAVEPrepareEpoch is op 24's payload.
type DAVEPrepareEpoch struct {
	ProtocolVersion int    `json:"protocol_version"`
	Epoch           uint64 `json:"epoch"`
}

// String names the op for logs.
func (o Op) String() string {
	if n, ok := opNames[o]; ok {
		return n
	}
	return "op" + strconv.Itoa(int(o))
}

var opNames = map[Op]string{
	OpIdentify: "identify", OpSelectProtocol: "select_protocol", OpReady: "ready", OpHeartbeat: "heartbeat",
	OpSessionDescription: "session_description", OpSpeaking: "speaking", OpHeartbeatACK: "heartbeat_ack",
	OpResume: "resume", OpHello: "hello", OpResumed: "resumed", OpClientsConnect: "clients_connect",
	OpClientDisconnect: "client_disconnect", OpDAVEPrepareTransition: "dave_prepare_transition",
	OpDAVEExecuteTransition: "dave_execute_transition", OpDAVETransitionReady: "dave_transition_ready",
	OpDAVEPrepareEpoch: "dave_prepare_epoch", OpDAVEMLSExternalSender: "dave_mls_external_sender",
	OpDAVEMLSKeyPackage: "dave_mls_key_package", OpDAVEMLSProposals: "dave_mls_proposals",
	OpDAVEMLSCommitWelcome: "dave_mls_commit_welcome", OpDAVEMLSAnnounceCommitTransition: "dave_mls_announce_commit_transition",
	OpDAVEMLSWelcome: "dave_mls_welcome", OpDAVEMLSInvalidCommitWelcome: "dave_mls_invalid_commit_welcome",
}
