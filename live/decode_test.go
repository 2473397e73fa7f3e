package live

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func kinds(evs []Event) []EventKind {
	var k []EventKind
	for _, e := range evs {
		k = append(k, e.Kind)
	}
	return k
}

func TestContentEvents(t *testing.T) {
	tests := []struct {
		name string
		msg  string
		want []EventKind
		text string
	}{
		{"audio", `{"serverContent":{"modelTurn":{"parts":[{"inlineData":{"mimeType":"audio/pcm;rate=24000","data":"AAEC"}}]}}}`,
			[]EventKind{EventAudio}, ""},
		{"3.x combined: audio, transcript, usage", `{"serverContent":{"modelTurn":{"parts":[{"inlineData":{"mimeType":"audio/pcm;rate=24000","data":"AAE="}}]},"outputTranscription":{"text":" Hi"}},"usageMetadata":{"responseTokenCount":3}}`,
			[]EventKind{EventAudio, EventOutputTranscript}, " Hi"},
		{"thought dropped", `{"serverContent":{"modelTurn":{"parts":[{"text":"**Planning**","thought":true},{"text":"Yes"}]}}}`,
			[]EventKind{EventText}, "Yes"},
		{"non-audio inline data dropped", `{"serverContent":{"modelTurn":{"parts":[{"inlineData":{"mimeType":"image/png","data":"AAE="}}]}}}`,
			nil, ""},
		{"interrupted then complete", `{"serverContent":{"interrupted":true,"turnComplete":true}}`,
			[]EventKind{EventInterrupted, EventTurnComplete}, ""},
		{"generation then turn complete", `{"serverContent":{"generationComplete":true,"turnComplete":true,"turnCompleteReason":"NEED_MORE_INPUT","waitingForInput":true}}`,
			[]EventKind{EventGenerationComplete, EventTurnComplete}, ""},
		{"input transcript", `{"serverContent":{"inputTranscription":{"text":"what"}}}`, []EventKind{EventInputTranscript}, "what"},
		{"unknown fields and messages", `{"voiceActivity":{"type":"ACTIVITY_START"},"serverContent":{"groundingMetadata":{}, "newThing":1}}`, nil, ""},
		{"pretty-printed", "{\n  \"serverContent\": {\n    \"turnComplete\": true\n  },\n  \"usageMetadata\": {\n    \"totalTokenCount\": 9\n  }\n}\n",
			[]EventKind{EventTurnComplete}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := decodeServerMessage([]byte(tc.msg))
			if err != nil {
				t.Fatal(err)
			}
			evs := contentEvents(m.ServerContent, usageOf(m.UsageMetadata), nil)
			if !slices.Equal(kinds(evs), tc.want) {
				t.Fatalf("kinds %v, want %v", kinds(evs), tc.want)
			}
			var text string
			for _, e := range evs {
				text += e.Text
				if e.Kind == EventTurnComplete && m.UsageMetadata != nil && e.Usage.TotalTokens != m.UsageMetadata.TotalTokenCount {
					t.Errorf("usage %+v", e.Usage)
				}
			}
			if text != tc.text {
				t.Errorf("text %q, want %q", text, tc.text)
			}
		})
	}
}

// Odd-length chunks: the odd byte is carried so every event is whole samples
// and the concatenation is exact.
func TestTurnCarriesOddByte(t *testing.T) {
	tr := &Turn{}
	var got []byte
	for _, chunk := range [][]byte{{1}, {2, 3}, {4, 5, 6}, {7}, {}, {8, 9}} {
		ev, ok := tr.consume(item{ev: Event{Kind: EventAudio, Audio: chunk}})
		if !ok {
			continue
		}
		if len(ev.Audio)%2 != 0 {
			t.Fatalf("event of %d bytes", len(ev.Audio))
		}
		got = append(got, ev.Audio...)
	}
	if want := []byte{1, 2, 3, 4, 5, 6, 7, 8}; !bytes.Equal(got, want) || !bytes.Equal(tr.Audio(), want) {
		t.Errorf("got %v, Audio() %v", got, tr.Audio())
	}
}

func TestParseTimeLeft(t *testing.T) {
	for in, want := range map[string]string{"50s": "50s", "1.5s": "1.5s", "": "0s", "-3s": "0s", "x": "0s"} {
		if got := parseTimeLeft(in).String(); got != want {
			t.Errorf("%q: %s", in, got)
		}
	}
}

func TestClassify(t *testing.T) {
	tests := []struct {
		code   int
		reason string
		want   ErrorClass
	}{
		{1007, "Request contains an invalid argument.", ClassInvalidConfig},
		{1007, "API key not valid. Please pass a valid API key.", ClassAuth},
		{1008, "models/x is not found for API version v1beta, or is not supported for bidiGenerateContent. Call ListMo", ClassNotFound},
		{1008, "BidiGenerateContent session not found", ClassSessionExpired},
		{1008, "The operation was aborted.", ClassNotFound},
		{1011, "Internal error encountered.", ClassTransient},
		{1011, "Deadline expired before operation could complete.", ClassTransient},
		{1011, "You exceeded your current quota, please check your plan and billing details. For more information on this error, head to: h", ClassQuota},
		{1011, "Resource has been exhausted (e.g. check quota).", ClassQuota},
		{1006, "", ClassTransient},
	}
	for _, tc := range tests {
		if got := classify(tc.code, tc.reason); got != tc.want {
			t.Errorf("%d %q: %v, want %v", tc.code, tc.reason, got, tc.want)
		}
	}
}

// frame240ms is a 240 ms audio chunk as the service sends it: binary,
// pretty-printed JSON with 11520 bytes of base64 PCM.
func frame240ms(tb testing.TB) []byte {
	pcm := make([]byte, 11520)
	for i := range pcm {
		pcm[i] = byte(i * 7)
	}
	m := map[string]any{"serverContent": map[string]any{"modelTurn": map[string]any{"parts": []any{
		map[string]any{"inlineData": map[string]any{"mimeType": "audio/pcm;rate=24000", "data": pcm}}}}}}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		tb.Fatal(err)
	}
	return append(b, '\n')
}

// BenchmarkReceiveChunk is the client's per-message receive path: decode a
// 240 ms audio frame into typed events, base64 included.
func BenchmarkReceiveChunk(b *testing.B) {
	frame := frame240ms(b)
	b.SetBytes(int64(len(frame)))
	b.ReportAllocs()
	var evs []Event
	for b.Loop() {
		m, err := decodeServerMessage(frame)
		if err != nil {
			b.Fatal(err)
		}
		evs = contentEvents(m.ServerContent, usageOf(m.UsageMetadata), evs[:0])
		if len(evs) != 1 || len(evs[0].Audio) != 11520 {
			b.Fatal("bad decode")
		}
	}
}

// BenchmarkReceiveChunkGeneric is the reference: decode into map[string]any
// and base64-decode the string, as a quick untyped client would.
func BenchmarkReceiveChunkGeneric(b *testing.B) {
	frame := frame240ms(b)
	b.SetBytes(int64(len(frame)))
	b.ReportAllocs()
	for b.Loop() {
		var m map[string]any
		if err := json.Unmarshal(frame, &m); err != nil {
			b.Fatal(err)
		}
		part := m["serverContent"].(map[string]any)["modelTurn"].(map[string]any)["parts"].([]any)[0]
		data := part.(map[string]any)["inlineData"].(map[string]any)["data"].(string)
		pcm, err := base64.StdEncoding.DecodeString(data)
		if err != nil || len(pcm) != 11520 {
			b.Fatal("bad decode")
		}
	}
}

func FuzzDecodeServerMessage(f *testing.F) {
	f.Add(frame240ms(f))
	seeds, _ := filepath.Glob("testdata/server/*.json")
	for _, p := range seeds {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"serverContent":{"modelTurn":{"parts":[{"inlineData":{"data":"AAE"}}]}}}`))
	f.Add([]byte(`{"goAway":{"timeLeft":"-9999999999999s"}}`))
	f.Add([]byte(`[1,2,3]`))
	// Realtime input's replies: activity, what was heard, barge-in.
	f.Add([]byte(`{"voiceActivity":{"type":"ACTIVITY_START","audioOffset":"1.5s"}}`))
	f.Add([]byte(`{"voiceActivity":{"voiceActivityType":"ACTIVITY_END"}}`))
	f.Add([]byte(`{"serverContent":{"inputTranscription":{"text":"What is the weather like?"}}}`))
	f.Add([]byte(`{"serverContent":{"interrupted":true}}`))
	f.Add([]byte(`{"voiceActivity":{"type":7},"serverContent":{"inputTranscription":{"text":"x","finished":true},"turnComplete":true}}`))
	// Tools and grounding.
	f.Add([]byte(`{"toolCall":{"functionCalls":[{"id":"function-call-1","name":"current_time","args":{"zone":"Europe/Paris"}}]}}`))
	f.Add([]byte(`{"toolCall":{"functionCalls":[{"name":"x","args":[1]},{"id":7}]}}`))
	f.Add([]byte(`{"toolCallCancellation":{"ids":["function-call-1","function-call-2"]}}`))
	f.Add([]byte(`{"serverContent":{"groundingMetadata":{"webSearchQueries":["match score"],"groundingChunks":[{"web":{"uri":"https://example.com/a","title":"A"}},{"web":{}},{}],"searchEntryPoint":{"renderedContent":"<div></div>"}}}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := decodeServerMessage(data)
		if err != nil {
			return
		}
		evs := activityEvents(m.VoiceActivity, nil)
		if len(evs) > 1 || len(evs) == 1 && evs[0].Kind != EventActivityStart && evs[0].Kind != EventActivityEnd {
			t.Fatalf("activity events %v", kinds(evs))
		}
		evs = toolEvents(m, evs)
		evs = contentEvents(m.ServerContent, usageOf(m.UsageMetadata), evs)
		tr := &Turn{}
		for _, ev := range evs {
			switch {
			case ev.Kind == EventToolCall && len(ev.Calls) == 0, ev.Kind == EventToolCancel && len(ev.IDs) == 0,
				ev.Kind == EventGrounding && len(ev.Sources)+len(ev.Queries) == 0:
				t.Fatalf("empty %v event", ev.Kind)
			}
			for _, src := range ev.Sources {
				if src.URI == "" {
					t.Fatal("source without a URI")
				}
			}
			if ev, ok := tr.consume(item{ev: ev}); ok && len(ev.Audio)%2 != 0 {
				t.Fatalf("odd audio event")
			}
		}
		if m.GoAway != nil && parseTimeLeft(m.GoAway.TimeLeft) < 0 {
			t.Fatal("negative timeLeft")
		}
		// The session's routing of the message, listening, with a small
		// cap: any message, repeated, keeps the bounds.
		s := &Session{cfg: Config{Realtime: &Realtime{}}.withDefaults(), listening: true, maxBytes: 64,
			incomingCh: make(chan struct{}, 1)}
		c := &conn{setupDone: make(chan struct{}), handleCh: make(chan struct{}, 1)}
		for range 12 {
			if _, drop := s.dispatch(c, m, nil); drop {
				break
			}
		}
		if len(s.incoming) > maxUnclaimed || len(c.turns) > 1 {
			t.Fatalf("%d unclaimed turns, %d open", len(s.incoming), len(c.turns))
		}
		for _, tr := range s.incoming {
			if tr.recv > s.maxBytes || tr.recvText > maxReplyText {
				t.Fatalf("turn holds %d bytes of audio", tr.recv)
			}
		}
	})
}
