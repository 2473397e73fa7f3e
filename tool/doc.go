// Package tool is function calling for Gemini Live: a Registry of tools
// (built-in ones bound to narrow interfaces the bot implements, and those of
// Model Context Protocol servers), the function declarations to put in the
// session's setup, and a dispatcher for the model's toolCall messages.
//
// Registry.Call never hangs a turn: it validates the arguments against the
// tool's JSON Schema, runs the handler with a deadline, recovers a panic, and
// turns every failure into an error result the model can read
// ({"error": "…"}), together with a one-line summary for the reply
// ("🔧 checked the time in Europe/Paris"). Registry.Cancel honours
// toolCallCancellation by call id.
//
// The wire shapes (FunctionDeclaration, FunctionCall, FunctionResponse) carry
// the JSON field names of the Live API, so the live package can embed them in
// its setup, toolCall and toolResponse messages unchanged.
package tool
