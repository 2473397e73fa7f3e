package wire

import "encoding/json"

// Behavior is a function declaration's behavior on the Live API.
type Behavior string

const (
	// Blocking: the model waits for the response before going on.
	Blocking Behavior = "BLOCKING"
	// NonBlocking: the model keeps talking; the response is delivered
	// according to its Scheduling. The default on gemini-3.8-live.
	NonBlocking Behavior = "NON_BLOCKING"
)

// Scheduling tells the model what to do with a NON_BLOCKING call's response.
type Scheduling string

const (
	Interrupt Scheduling = "INTERRUPT" // speak about it now, cutting in
	WhenIdle  Scheduling = "WHEN_IDLE" // speak about it once idle
	Silent    Scheduling = "SILENT"    // take it in without speaking
)

// FunctionDeclaration is a tool as the setup's
// tools[].functionDeclarations[] declares it.
type FunctionDeclaration struct {
	Name                 string          `json:"name"`
	Description          string          `json:"description,omitempty"`
	ParametersJSONSchema json.RawMessage `json:"parametersJsonSchema,omitempty"`
	Behavior             Behavior        `json:"behavior,omitempty"`
}

// FunctionCall is one element of toolCall.functionCalls[].
type FunctionCall struct {
	ID   string          `json:"id,omitempty"`
	Name string          `json:"name"`
	Args json.RawMessage `json:"args,omitempty"`
}

// FunctionResponse is one element of toolResponse.functionResponses[].
// Response is {"output": …} or {"error": "…"}.
type FunctionResponse struct {
	ID           string         `json:"id,omitempty"`
	Name         string         `json:"name"`
	Response     map[string]any `json:"response"`
	Scheduling   Scheduling     `json:"scheduling,omitempty"`
	WillContinue bool           `json:"willContinue,omitempty"`
}
