package store

import (
	"encoding/json"
	"reflect"
	"testing"
)

// FuzzStoreParseState: the import parser never panics, and what it
// accepts survives a round trip through the format the bot wrote.
func FuzzStoreParseState(f *testing.F) {
	for _, s := range []string{oldState, `{}`, `{"voices":{"guild:1":"Kore"}}`, `{"handles":null}`,
		`{"commands":{"global":"a"},"extra":[1,2]}`, `{"voices":{"a":"\u0000"}}`, `[`, `{"voices":{"a":1}}`, " \n{}\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		st, err := parseState(b)
		if err != nil {
			return
		}
		enc, err := json.MarshalIndent(&st, "", "  ")
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		again, err := parseState(enc)
		if err != nil {
			t.Fatalf("re-encoded state %q does not parse: %v", enc, err)
		}
		norm := func(m map[string]string) map[string]string {
			if len(m) == 0 {
				return nil
			}
			return m
		}
		if !reflect.DeepEqual(norm(st.Voices), norm(again.Voices)) || !reflect.DeepEqual(norm(st.Handles), norm(again.Handles)) ||
			!reflect.DeepEqual(norm(st.Commands), norm(again.Commands)) {
			t.Fatalf("round trip changed %+v into %+v", st, again)
		}
	})
}
