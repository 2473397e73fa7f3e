// Package wire holds the JSON shapes of the Gemini Live protocol shared by
// the client (live) and the emulator (live/livetest). Field names are the
// lowerCamelCase names the service sends; see docs in the repository README.
package wire

import (
	"encoding/json"
)

// ClientMessage is one client frame: exactly one field is set.
type ClientMessage struct {
	Setup         *Setup         `json:"setup,omitempty"`
	ClientContent *ClientContent `json:"clientContent,omitempty"`
	RealtimeInput *RealtimeInput `json:"realtimeInput,omitempty"`
	ToolResponse  *ToolResponse  `json:"toolResponse,omitempty"`
}

// ToolResponse answers a toolCall; each response echoes its call's id.
type ToolResponse struct {
	FunctionResponses []FunctionResponse `json:"functionResponses"`
}

// Tool is one entry of the setup's tools: function declarations or Google
// Search grounding (the service wants them as separate entries).
type Tool struct {
	FunctionDeclarations []FunctionDeclaration `json:"functionDeclarations,omitempty"`
	GoogleSearch         *struct{}             `json:"googleSearch,omitempty"`
}

// Setup is the first client message of a connection.
type Setup struct {
	Model                    string                    `json:"model"`
	GenerationConfig         *GenerationConfig         `json:"generationConfig,omitempty"`
	SystemInstruction        *Content                  `json:"systemInstruction,omitempty"`
	SessionResumption        *SessionResumption        `json:"sessionResumption,omitempty"`
	InputAudioTranscription  *struct{}                 `json:"inputAudioTranscription,omitempty"`
	OutputAudioTranscription *struct{}                 `json:"outputAudioTranscription,omitempty"`
	ContextWindowCompression *ContextWindowCompression `json:"contextWindowCompression,omitempty"`
	HistoryConfig            *HistoryConfig            `json:"historyConfig,omitempty"`
	RealtimeInputConfig      *RealtimeInputConfig      `json:"realtimeInputConfig,omitempty"`
	Tools                    []Tool                    `json:"tools,omitempty"`
}

// HistoryConfig announces initial history sent as clientContent after
// setupComplete and before the first turn.
type HistoryConfig struct {
	InitialHistoryInClientContent bool `json:"initialHistoryInClientContent,omitempty"`
}

// RealtimeInputConfig configures streamed input and turn-taking.
type RealtimeInputConfig struct {
	AutomaticActivityDetection *AutomaticActivityDetection `json:"automaticActivityDetection,omitempty"`
	// ActivityHandling: START_OF_ACTIVITY_INTERRUPTS or NO_INTERRUPTION.
	ActivityHandling string `json:"activityHandling,omitempty"`
}

// AutomaticActivityDetection tunes (or disables) the service's voice
// activity detection. Sensitivities are START_SENSITIVITY_{HIGH,LOW} and
// END_SENSITIVITY_{HIGH,LOW}.
type AutomaticActivityDetection struct {
	Disabled                 bool   `json:"disabled,omitempty"`
	StartOfSpeechSensitivity string `json:"startOfSpeechSensitivity,omitempty"`
	EndOfSpeechSensitivity   string `json:"endOfSpeechSensitivity,omitempty"`
	PrefixPaddingMs          int    `json:"prefixPaddingMs,omitempty"`
	SilenceDurationMs        int    `json:"silenceDurationMs,omitempty"`
}

// GenerationConfig carries the reply modality and speech settings.
type GenerationConfig struct {
	ResponseModalities []string      `json:"responseModalities,omitempty"`
	SpeechConfig       *SpeechConfig `json:"speechConfig,omitempty"`
}

// SpeechConfig selects the voice and language.
type SpeechConfig struct {
	VoiceConfig  *VoiceConfig `json:"voiceConfig,omitempty"`
	LanguageCode string       `json:"languageCode,omitempty"`
}

// VoiceConfig wraps the prebuilt voice.
type VoiceConfig struct {
	PrebuiltVoiceConfig *PrebuiltVoiceConfig `json:"prebuiltVoiceConfig,omitempty"`
}

// PrebuiltVoiceConfig names a prebuilt voice.
type PrebuiltVoiceConfig struct {
	VoiceName string `json:"voiceName"`
}

// SessionResumption asks for handles; Handle resumes a session.
type SessionResumption struct {
	Handle string `json:"handle,omitempty"`
}

// ContextWindowCompression enables the sliding window.
type ContextWindowCompression struct {
	SlidingWindow *struct{} `json:"slidingWindow,omitempty"`
}

// Content is a role and its parts.
type Content struct {
	Role  string `json:"role,omitempty"`
	Parts []Part `json:"parts"`
}

// Part is one piece of content: text or inline data. Thought marks a
// thought summary that must never be spoken or shown as the reply.
type Part struct {
	Text       string      `json:"text,omitempty"`
	InlineData *InlineData `json:"inlineData,omitempty"`
	Thought    bool        `json:"thought,omitempty"`
}

// InlineData is base64 media; encoding/json does the base64 for []byte.
type InlineData struct {
	MimeType string `json:"mimeType"`
	Data     []byte `json:"data"`
}

// ClientContent appends turns to the conversation.
type ClientContent struct {
	Turns        []Content `json:"turns,omitempty"`
	TurnComplete bool      `json:"turnComplete,omitempty"`
}

// RealtimeInput carries streamed input; one field per message.
type RealtimeInput struct {
	Text  string      `json:"text,omitempty"`
	Audio *InlineData `json:"audio,omitempty"`
	// AudioStreamEnd: the audio stream paused (automatic activity
	// detection on); the service flushes and ends the speech it holds.
	AudioStreamEnd bool `json:"audioStreamEnd,omitempty"`
	// ActivityStart and ActivityEnd mark speech when automatic activity
	// detection is disabled.
	ActivityStart *struct{} `json:"activityStart,omitempty"`
	ActivityEnd   *struct{} `json:"activityEnd,omitempty"`
}

// ServerMessage is one server frame. Unknown fields are ignored.
type ServerMessage struct {
	SetupComplete           *json.RawMessage         `json:"setupComplete,omitempty"`
	ServerContent           *ServerContent           `json:"serverContent,omitempty"`
	GoAway                  *GoAway                  `json:"goAway,omitempty"`
	SessionResumptionUpdate *SessionResumptionUpdate `json:"sessionResumptionUpdate,omitempty"`
	UsageMetadata           *UsageMetadata           `json:"usageMetadata,omitempty"`
	VoiceActivity           *VoiceActivity           `json:"voiceActivity,omitempty"`
	ToolCall                *ToolCall                `json:"toolCall,omitempty"`
	ToolCallCancellation    *ToolCallCancellation    `json:"toolCallCancellation,omitempty"`
	// Error is not sent by the current service; go-genai treats it as fatal.
	Error *json.RawMessage `json:"error,omitempty"`
}

// ServerContent is the model's output for the current turn.
type ServerContent struct {
	ModelTurn           *Content           `json:"modelTurn,omitempty"`
	InputTranscription  *Transcription     `json:"inputTranscription,omitempty"`
	OutputTranscription *Transcription     `json:"outputTranscription,omitempty"`
	GenerationComplete  bool               `json:"generationComplete,omitempty"`
	Interrupted         bool               `json:"interrupted,omitempty"`
	TurnComplete        bool               `json:"turnComplete,omitempty"`
	GroundingMetadata   *GroundingMetadata `json:"groundingMetadata,omitempty"`
}

// ToolCall asks the client to run functions and answer with a toolResponse.
type ToolCall struct {
	FunctionCalls []FunctionCall `json:"functionCalls"`
}

// ToolCallCancellation withdraws earlier calls by id: their responses are
// no longer wanted.
type ToolCallCancellation struct {
	IDs []string `json:"ids"`
}

// GroundingMetadata reports the Google Search results a reply drew on.
type GroundingMetadata struct {
	WebSearchQueries []string          `json:"webSearchQueries,omitempty"`
	GroundingChunks  []GroundingChunk  `json:"groundingChunks,omitempty"`
	SearchEntryPoint *SearchEntryPoint `json:"searchEntryPoint,omitempty"`
}

// GroundingChunk is one source; only web sources exist for Live.
type GroundingChunk struct {
	Web *WebChunk `json:"web,omitempty"`
}

// WebChunk is a web page the reply drew on.
type WebChunk struct {
	URI   string `json:"uri,omitempty"`
	Title string `json:"title,omitempty"`
}

// SearchEntryPoint is the search suggestions chip (HTML) Google asks apps to
// show with grounded answers.
type SearchEntryPoint struct {
	RenderedContent string `json:"renderedContent,omitempty"`
}

// VoiceActivity reports the service's voice activity detection (SDK 3.1
// LiveServerMessage.voiceActivity). The Gemini API's wire key is "type";
// the SDK's converted name voiceActivityType is accepted too.
type VoiceActivity struct {
	Type              string `json:"type,omitempty"`
	VoiceActivityType string `json:"voiceActivityType,omitempty"`
	AudioOffset       string `json:"audioOffset,omitempty"`
}

// Transcription is an incremental transcript fragment.
type Transcription struct {
	Text string `json:"text"`
}

// GoAway announces the end of the connection; TimeLeft is a protobuf
// Duration string such as "50s".
type GoAway struct {
	TimeLeft string `json:"timeLeft,omitempty"`
}

// SessionResumptionUpdate carries a new handle when Resumable.
type SessionResumptionUpdate struct {
	NewHandle string `json:"newHandle,omitempty"`
	Resumable bool   `json:"resumable,omitempty"`
}

// UsageMetadata counts tokens; zero fields are omitted on the wire.
type UsageMetadata struct {
	PromptTokenCount   int `json:"promptTokenCount,omitempty"`
	ResponseTokenCount int `json:"responseTokenCount,omitempty"`
	TotalTokenCount    int `json:"totalTokenCount,omitempty"`
	ThoughtsTokenCount int `json:"thoughtsTokenCount,omitempty"`

	PromptTokensDetails   []ModalityTokenCount `json:"promptTokensDetails,omitempty"`
	ResponseTokensDetails []ModalityTokenCount `json:"responseTokensDetails,omitempty"`
}

// ModalityTokenCount is one modality's share of a token count.
type ModalityTokenCount struct {
	Modality   string `json:"modality"`
	TokenCount int    `json:"tokenCount"`
}
