package livetest

import (
	"encoding/json"
	"testing"

	"github.com/livecord/livecord/live/internal/wire"
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
		// Realtime input and its configuration.
		`{"realtimeInput":{"audioStreamEnd":true}}`,
		`{"realtimeInput":{"activityStart":{}}}`,
		`{"realtime_input":{"activity_end":{}}}`,
		`{"realtimeInput":{"audio":{"data":"AAAAAAAAAAAAAA==","mimeType":"audio/pcm;rate=8000"}}}`,
		`{"realtimeInput":{"mediaChunks":[{"data":"AAAA","mimeType":"audio/pcm"}]}}`,
		`{"clientContent":{"turns":[{"role":"user","parts":[{"text":"Alice is speaking."}]}]}}`,
		`{"setup":{"model":"models/gemini-3.8-live","inputAudioTranscription":{},"realtimeInputConfig":{"automaticActivityDetection":{"disabled":false,"startOfSpeechSensitivity":"START_SENSITIVITY_LOW","endOfSpeechSensitivity":"END_SENSITIVITY_HIGH","prefixPaddingMs":20,"silenceDurationMs":"300"},"activityHandling":"START_OF_ACTIVITY_INTERRUPTS"}}}`,
		// Tools, tool responses and image parts.
		`{"setup":{"model":"models/gemini-3.8-live","tools":[{"functionDeclarations":[{"name":"current_time","behavior":"NON_BLOCKING","parametersJsonSchema":{"type":"object"}}]},{"googleSearch":{}}]}}`,
		`{"setup":{"tools":[{"function_declarations":[{"name":"9x","parameters":{},"parametersJsonSchema":{}},{"name":"9x"}]}]}}`,
		`{"toolResponse":{"functionResponses":[{"id":"function-call-1","name":"current_time","response":{"output":"09:41"},"scheduling":"WHEN_IDLE"}]}}`,
		`{"tool_response":{"function_responses":[{"id":7,"will_continue":true}]}}`,
		`{"clientContent":{"turns":[{"role":"user","parts":[{"inlineData":{"mimeType":"image/png","data":"iVBORw0KGgo="}},{"text":"what is this?"}]}],"turnComplete":true}}`,
		`{"clientContent":{"turns":[{"parts":[{"inlineData":{"mimeType":"image/jpeg","data":"_-8="}}]}]}}`,
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
		b, err := json.Marshal(norm)
		if err != nil {
			t.Fatal(err)
		}
		// What the emulator does next with a valid message never panics:
		// the setup's activity settings, the realtime audio and its
		// activity detection, in both detection modes.
		switch top {
		case "clientContent":
			cc, _ := norm[top].(map[string]any)
			if ims, reason := contentImages(cc["turns"]); reason == "" {
				for _, im := range ims {
					if !imageMIMEs[im.MIMEType] {
						t.Fatalf("accepted image type %q", im.MIMEType)
					}
				}
			}
		case "toolResponse":
			tr, _ := norm[top].(map[string]any)
			c := &emuConn{srv: &Server{}, pendingCalls: map[string]string{"function-call-1": "current_time"},
				cancelledCalls: map[string]bool{}, toolResp: make(chan FunctionResult, 1)}
			c.toolResponses(tr)
		case "setup":
			checkTools(norm[top].(map[string]any))
			var m struct{ Setup wire.Setup }
			if json.Unmarshal(b, &m) == nil && m.Setup.RealtimeInputConfig != nil {
				newVAD(m.Setup.RealtimeInputConfig.AutomaticActivityDetection)
			}
		case "realtimeInput":
			ri, _ := norm[top].(map[string]any)
			for _, manual := range []bool{false, true} {
				c := &emuConn{vad: newVAD(&wire.AutomaticActivityDetection{PrefixPaddingMs: 20, SilenceDurationMs: 20}), manual: manual}
				c.realtime(ri, func(ev vadEvent, utt []int16) {
					if ev != vadStart && ev != vadEnd {
						t.Fatalf("event %d", ev)
					}
				})
			}
		}
	})
}
