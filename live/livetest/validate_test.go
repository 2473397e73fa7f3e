package livetest

import (
	"encoding/json"
	"testing"
)

func TestCaseConversion(t *testing.T) {
	for in, want := range map[string]string{"generation_config": "generationConfig", "responseModalities": "responseModalities", "a_b_c": "aBC", "x": "x"} {
		if got := toCamel(in); got != want {
			t.Errorf("toCamel(%q) = %q", in, got)
		}
	}
	for in, want := range map[string]string{"generationConfig": "generation_config", "thinkingLevel": "thinking_level", "model": "model"} {
		if got := toSnake(in); got != want {
			t.Errorf("toSnake(%q) = %q", in, got)
		}
	}
	if got := truncate("ééé" + string(make([]byte, 200))); len(got) > maxReason {
		t.Errorf("truncate gave %d bytes", len(got))
	}
}

func FuzzParseClientMessage(f *testing.F) {
	for _, s := range []string{
		`{"setup":{"model":"models/gemini-3.8-live","generationConfig":{"responseModalities":["AUDIO"]}}}`,
		`{"client_content":{"turns":[{"role":"user","parts":[{"text":"hi"}]}],"turn_complete":true}}`,
		`{"realtimeInput":{"audio":{"data":"AAAA","mimeType":"audio/pcm;rate=16000"}}}`,
		`{"setup":{"contextWindowCompression":{"slidingWindow":{"targetTokens":"1000"},"triggerTokens":2000}}}`,
		`{"setup":null}`, `[]`, `{"a":1}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		norm, top, err := parseClientMessage(data, "v1beta")
		if err != nil {
			if _, ok := err.(*badRequest); !ok {
				t.Fatalf("error %v", err)
			}
			return
		}
		if _, ok := norm[top]; !ok || len(norm) != 1 {
			t.Fatalf("top %q of %v", top, norm)
		}
		if _, err := json.Marshal(norm); err != nil {
			t.Fatal(err)
		}
	})
}
