package live

import "github.com/livecord/livecord/live/internal/wire"

// Function calling's wire shapes (package tool builds on them).
type (
	// Behavior is a function declaration's behavior: BLOCKING or NON_BLOCKING.
	Behavior = wire.Behavior
	// Scheduling tells the model what to do with a NON_BLOCKING call's response.
	Scheduling = wire.Scheduling
	// FunctionDeclaration is one entry of the setup's tools[].functionDeclarations.
	FunctionDeclaration = wire.FunctionDeclaration
	// FunctionCall is one entry of toolCall.functionCalls.
	FunctionCall = wire.FunctionCall
	// FunctionResponse is one entry of toolResponse.functionResponses.
	FunctionResponse = wire.FunctionResponse
)

// Behaviors and schedulings.
const (
	Blocking    = wire.Blocking
	NonBlocking = wire.NonBlocking
	Interrupt   = wire.Interrupt
	WhenIdle    = wire.WhenIdle
	Silent      = wire.Silent
)
