package tool

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// FuzzCall: any name and argument bytes the model might send give a
// response that marshals, carries exactly one of output or error, and never
// panics; a handler only ever sees an object valid for its schema.
func FuzzCall(f *testing.F) {
	schema := json.RawMessage(`{"type":"object","properties":{
		"q":{"type":"string","minLength":1,"maxLength":50,"pattern":"^[a-z ]+$"},
		"n":{"type":"integer","minimum":0,"maximum":10},
		"tags":{"type":"array","items":{"type":"string","enum":["a","b"]},"maxItems":3,"uniqueItems":true},
		"opt":{"type":"object","properties":{"deep":{"type":["boolean","null"]}},"additionalProperties":false},
		"any":{"anyOf":[{"type":"number"},{"type":"string","format":"date"}]}
	},"required":["q"],"additionalProperties":false}`)
	r := NewRegistry(Options{Timeout: 5 * time.Second, MaxArgBytes: 4096})
	check := func(_ context.Context, args json.RawMessage) (any, error) {
		var m map[string]any
		if err := json.Unmarshal(args, &m); err != nil || m == nil {
			panic("handler got a non-object: " + string(args))
		}
		if _, ok := m["q"].(string); !ok {
			panic("handler got args without the required q: " + string(args))
		}
		if n, ok := m["n"].(float64); ok && (n < 0 || n > 10 || n != float64(int(n))) {
			panic("n outside its schema")
		}
		return m, nil
	}
	if err := r.Add(
		Tool{Name: "search", Parameters: schema, Handler: check},
		Tool{Name: "free", Handler: func(_ context.Context, a json.RawMessage) (any, error) { return len(a), nil }},
	); err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = r.Close(context.Background()) })

	for _, s := range []struct{ name, args string }{
		{"search", `{"q":"cats"}`},
		{"search", `{"q":"cats","n":3,"tags":["a","b"],"opt":{"deep":null},"any":"2026-12-06"}`},
		{"search", `{"q":"Cats"}`},
		{"search", `{"q":"cats","n":3.5}`},
		{"search", `{"q":"cats","tags":["a","a"]}`},
		{"search", `{"q":"cats"} trailing`},
		{"search", `{"q":"\ud800"}`},
		{"search", `[]`},
		{"search", `null`},
		{"search", ``},
		{"search", `{"q":"x","n":1e400}`},
		{"free", `{"a":{"b":{"c":[1,2,3]}}}`},
		{"free", `"just a string"`},
		{"nope", `{}`},
		{"", `{}`},
	} {
		f.Add(s.name, []byte(s.args))
	}
	f.Fuzz(func(t *testing.T, name string, args []byte) {
		res := r.Call(context.Background(), FunctionCall{ID: "fz", Name: name, Args: args})
		if res.Cancelled {
			t.Fatal("cancelled without a cancellation")
		}
		b, err := json.Marshal(res.Response)
		if err != nil {
			t.Fatalf("response does not marshal: %v", err)
		}
		_, hasOut := res.Response.Response["output"]
		_, hasErr := res.Response.Response["error"]
		if hasOut == hasErr || (res.Err != nil) != hasErr {
			t.Fatalf("response %s with Err %v", b, res.Err)
		}
		if strings.ContainsAny(res.Summary, "\r\n") || !strings.HasPrefix(res.Summary, "🔧 ") {
			t.Fatalf("summary %q", res.Summary)
		}
	})
}
