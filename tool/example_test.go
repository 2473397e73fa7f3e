package tool_test

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/livecord/livecord/tool"
)

func Example() {
	reg := tool.NewRegistry(tool.Options{Timeout: 5 * time.Second})
	defer reg.Close(context.Background())

	fixed := func() time.Time { return time.Date(2026, 12, 6, 6, 30, 0, 0, time.UTC) }
	if err := reg.Add(tool.Builtins{Now: fixed}.Tools()...); err != nil {
		panic(err)
	}
	// Setup: {"tools":[{"functionDeclarations": <this>}]}
	for _, d := range reg.Declarations(true) {
		fmt.Println(d.Name, d.Behavior)
	}

	// A toolCall.functionCalls[] element from the model…
	var call tool.FunctionCall
	_ = json.Unmarshal([]byte(`{"id":"function-call-1","name":"current_time","args":{}}`), &call)
	res := reg.Call(context.Background(), call)
	// …answered by a toolResponse.functionResponses[] element, and one line for the reply.
	resp, _ := json.Marshal(res.Response)
	fmt.Println(string(resp))
	fmt.Println(res.Summary)
	// Output:
	// current_time BLOCKING
	// {"id":"function-call-1","name":"current_time","response":{"output":{"iso8601":"2026-12-06T06:30:00Z","local":"Sunday 6 December 2026, 06:30","timezone":"UTC"}}}
	// 🔧 checked the time in UTC
}
