package live

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestConfigDefaultsAndValidate(t *testing.T) {
	d := Config{}.withDefaults()
	if d.Model != DefaultModel || d.APIVersion != "v1beta" || d.Modality != Audio || d.StallTimeout != DefaultStallTimeout {
		t.Errorf("withDefaults: %+v", d)
	}
	if err := (Config{}).Validate(); err != nil {
		t.Errorf("the zero Config: %v", err)
	}
	for _, c := range []Config{
		{StallTimeout: -time.Second},
		{Modality: "VIDEO"},
		{APIVersion: "v2"},
		{BaseURL: "ftp://example.com"},
		{Model: "a/../b"},
	} {
		if err := c.Validate(); err == nil {
			t.Errorf("%+v: valid", c)
		}
	}
}

func TestEndpoint(t *testing.T) {
	tests := []struct {
		base, key, version, want, header string
	}{
		{"", "K", "v1beta", "wss://generativelanguage.googleapis.com/ws/google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent", "X-Goog-Api-Key"},
		{"http://127.0.0.1:9/", "K", "v1", "ws://127.0.0.1:9/ws/google.ai.generativelanguage.v1.GenerativeService.BidiGenerateContent", "X-Goog-Api-Key"},
		{"https://proxy.example/p/?x=1", "K", "v1beta", "wss://proxy.example/p/ws/google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent", "X-Goog-Api-Key"},
		{"", "auth_tokens/abc", "v1alpha", "wss://generativelanguage.googleapis.com/ws/google.ai.generativelanguage.v1alpha.GenerativeService.BidiGenerateContentConstrained", "Authorization"},
	}
	for _, tc := range tests {
		c := Config{BaseURL: tc.base, APIKey: tc.key, APIVersion: tc.version}.withDefaults()
		u, h, err := c.endpoint()
		if err != nil || u != tc.want || h.Get(tc.header) == "" || strings.Contains(u, tc.key) {
			t.Errorf("%+v: %q %v %v", tc, u, h, err)
		}
	}
	for _, bad := range []Config{{BaseURL: "ftp://x"}, {APIVersion: "v2"}, {Model: "../x"}, {Model: "m?key=1"}} {
		if _, _, err := bad.withDefaults().endpoint(); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}

func TestSetupMessage(t *testing.T) {
	c := Config{Model: "models/gemini-3.8-live", Voice: "Kore", Language: "en-US", SystemInstruction: "Be brief.",
		InputTranscription: true, OutputTranscription: true, Compression: true}.withDefaults()
	b, _ := json.Marshal(c.setup("h1"))
	want := `{"model":"models/gemini-3.8-live","generationConfig":{"responseModalities":["AUDIO"],"speechConfig":{"voiceConfig":{"prebuiltVoiceConfig":{"voiceName":"Kore"}},"languageCode":"en-US"}},"systemInstruction":{"role":"user","parts":[{"text":"Be brief."}]},"sessionResumption":{"handle":"h1"},"inputAudioTranscription":{},"outputAudioTranscription":{},"contextWindowCompression":{"slidingWindow":{}}}`
	if string(b) != want {
		t.Errorf("got  %s\nwant %s", b, want)
	}
	c = Config{Modality: Text, Voice: "Kore", OutputTranscription: true}.withDefaults()
	b, _ = json.Marshal(c.setup(""))
	if want := `{"model":"models/gemini-3.8-live","generationConfig":{"responseModalities":["TEXT"]},"sessionResumption":{}}`; string(b) != want {
		t.Errorf("text: %s", b)
	}
}
