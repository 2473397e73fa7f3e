package tool

import (
	"encoding/json"
	"fmt"

	"github.com/google/jsonschema-go/jsonschema"
)

// compileSchema resolves a JSON Schema for validating arguments and returns
// the form to declare to Live: the same schema without the meta keywords
// ($schema, $id, $comment) that parametersJsonSchema does not need.
func compileSchema(raw json.RawMessage) (*jsonschema.Resolved, json.RawMessage, error) {
	var s jsonschema.Schema
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, nil, fmt.Errorf("not a JSON Schema: %w", err)
	}
	if s.Type != "" && s.Type != "object" {
		return nil, nil, fmt.Errorf("type is %q; function parameters must be an object", s.Type)
	}
	resolved, err := s.Resolve(nil)
	if err != nil {
		return nil, nil, fmt.Errorf("resolve: %w", err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, nil, fmt.Errorf("not a JSON object: %w", err)
	}
	delete(m, "$schema")
	delete(m, "$id")
	delete(m, "$comment")
	if _, ok := m["type"]; !ok {
		m["type"] = json.RawMessage(`"object"`)
	}
	decl, err := json.Marshal(m)
	if err != nil {
		return nil, nil, err
	}
	return resolved, decl, nil
}
