package livetest_test

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"go.uber.org/goleak"

	"github.com/livecord/livecord/live/livetest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const method = "GenerativeService.BidiGenerateContent"

// rawDial opens a WebSocket to path (+query) with headers, as a raw client.
func rawDial(t *testing.T, srv *livetest.Server, path string, h http.Header) *websocket.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, "ws://"+strings.TrimPrefix(srv.URL(), "http://")+path, &websocket.DialOptions{HTTPHeader: h})
	if err != nil {
		t.Fatalf("dial %s: %v", path, err)
	}
	ws.SetReadLimit(1 << 24)
	t.Cleanup(func() { ws.CloseNow() })
	return ws
}

func write(t *testing.T, ws *websocket.Conn, msg string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := ws.Write(ctx, websocket.MessageText, []byte(msg)); err != nil {
		t.Fatalf("write: %v", err)
	}
}

// read returns the next frame, or the close error.
func read(t *testing.T, ws *websocket.Conn) (websocket.MessageType, []byte, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return ws.Read(ctx)
}

const setup = `{"setup":{"model":"models/gemini-3.8-live","generationConfig":{"responseModalities":["AUDIO"]},"outputAudioTranscription":{},"sessionResumption":{}}}`

func TestPathsAndCredentials(t *testing.T) {
	srv := livetest.NewServer(t, livetest.Options{})
	v1beta := "/ws/google.ai.generativelanguage.v1beta." + method
	tests := []struct {
		name, path string
		h          http.Header
		cred       string
	}{
		{"query key", v1beta + "?key=" + srv.Key, nil, "key"},
		{"header key", v1beta, http.Header{"X-Goog-Api-Key": {srv.Key}}, "x-goog-api-key"},
		{"sdk double slash v1", "//ws/google.ai.generativelanguage.v1." + method + "?key=" + srv.Key, nil, "key"},
		{"prefix", "/proxy//ws/google.ai.generativelanguage.v1alpha." + method + "?key=" + srv.Key, nil, "key"},
		{"token query", "//ws/google.ai.generativelanguage.v1alpha." + method + "Constrained?access_token=" + srv.Token, nil, "access_token"},
		{"token header", "/ws/google.ai.generativelanguage.v1alpha." + method + "Constrained", http.Header{"Authorization": {"Token " + srv.Token}}, "authorization"},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ws := rawDial(t, srv, tc.path, tc.h)
			write(t, ws, setup)
			typ, b, err := read(t, ws)
			if err != nil {
				t.Fatal(err)
			}
			// The service sends binary frames of pretty-printed JSON.
			if typ != websocket.MessageBinary || string(b) != "{\n  \"setupComplete\": {}\n}\n" {
				t.Errorf("got %v %q", typ, b)
			}
			if c := srv.Conns(); len(c) != i+1 || c[i].Credential != tc.cred || c[i].Path != strings.SplitN(tc.path, "?", 2)[0] {
				t.Errorf("conn info %+v", c[len(c)-1])
			}
		})
	}
	// Anything else is not the Live endpoint.
	resp, err := http.Get(srv.URL() + "/ws/google.ai.generativelanguage.v1beta.GenerativeService.StreamGenerateContent")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("unknown path: %d", resp.StatusCode)
	}
}

func closeOf(t *testing.T, err error) websocket.CloseError {
	t.Helper()
	var ce websocket.CloseError
	if !errors.As(err, &ce) {
		t.Fatalf("want a close frame, got %v", err)
	}
	return ce
}

func TestRejections(t *testing.T) {
	srv := livetest.NewServer(t, livetest.Options{})
	path := "/ws/google.ai.generativelanguage.v1beta." + method
	key := "?key=" + srv.Key
	tests := []struct {
		name, query, first string
		code               websocket.StatusCode
		reason             string
	}{
		{"bad key", "?key=wrong", setup, 1007, "API key not valid. Please pass a valid API key."},
		{"no key", "", setup, 1008, "Method doesn't allow unregistered callers"},
		{"top-level responseModalities", key, `{"setup":{"model":"models/gemini-3.8-live","responseModalities":["AUDIO"]}}`, 1007,
			`Invalid JSON payload received. Unknown name "responseModalities" at 'setup': Cannot find field.`},
		{"unknown nested", key, `{"setup":{"model":"models/gemini-3.8-live","generation_config":{"bogus":1}}}`, 1007,
			`Invalid JSON payload received. Unknown name "bogus" at 'setup.generation_config': Cannot find field.`},
		{"bad enum", key, `{"setup":{"model":"models/gemini-3.8-live","generationConfig":{"thinkingConfig":{"thinkingLevel":"EXTREME"}}}}`, 1007,
			`Invalid value at 'setup.generation_config.thinking_config.thinking_level' (type.googleapis.com/google.ai.generativelanguage.v1beta.ThinkingConfig.ThinkingLevel), "EXTREME"`},
		{"system instruction string", key, `{"setup":{"model":"models/gemini-3.8-live","systemInstruction":"You are terse."}}`, 1007,
			`Invalid value at 'setup.system_instruction' (type.googleapis.com/google.ai.generativelanguage.v1beta.Content), "You are terse."`},
		{"text on audio model", key, `{"setup":{"model":"models/gemini-3.8-live","generationConfig":{"responseModalities":["TEXT"]}}}`, 1007,
			"Cannot extract voices from a non-audio request."},
		{"two modalities", key, `{"setup":{"model":"models/gemini-3.8-live","generationConfig":{"responseModalities":["AUDIO","TEXT"]}}}`, 1007, "Request contains an invalid argument."},
		{"retired model", key, `{"setup":{"model":"models/gemini-live-2.5-flash-preview"}}`, 1008,
			"models/gemini-live-2.5-flash-preview is not found for API version v1beta, or is not supported for bidiGenerateContent. Call ListMo"},
		{"stale handle", key, `{"setup":{"model":"models/gemini-3.8-live","sessionResumption":{"handle":"gone"}}}`, 1008, "BidiGenerateContent session not found"},
		{"not setup first", key, `{"realtimeInput":{"text":"hi"}}`, 1007, "Request contains an invalid argument."},
		{"two fields", key, `{"setup":{"model":"models/gemini-3.8-live"},"clientContent":{}}`, 1007, "Invalid JSON payload received. Oneof field 'message_type' is already set. Cannot set 'setup'"},
		{"not json", key, `{"setup":`, 1007, "Invalid JSON payload received."},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ws := rawDial(t, srv, path+tc.query, nil)
			write(t, ws, tc.first)
			_, b, err := read(t, ws)
			if err == nil {
				t.Fatalf("got a frame %q, want a close", b)
			}
			ce := closeOf(t, err)
			want := tc.reason
			if len(want) > 123 {
				want = want[:123] // the service's reasons are cut to 123 bytes
			}
			if ce.Code != tc.code || !strings.HasPrefix(ce.Reason, want) || len(ce.Reason) > 123 {
				t.Errorf("close %d %q, want %d %q (≤123 bytes)", ce.Code, ce.Reason, tc.code, tc.reason)
			}
		})
	}
}

// serverMsg is the subset of server messages the raw tests look at.
type serverMsg struct {
	ServerContent *struct {
		ModelTurn *struct {
			Parts []struct {
				InlineData *struct {
					MimeType string
					Data     []byte
				}
				Text string
			}
		}
		OutputTranscription *struct{ Text string }
		InputTranscription  *struct{ Text string }
		GenerationComplete  bool
		TurnComplete        bool
		Interrupted         bool
	}
	UsageMetadata *struct {
		ResponseTokenCount int
		TotalTokenCount    int
	}
	SessionResumptionUpdate *struct {
		NewHandle string
		Resumable bool
	}
	GoAway        *struct{ TimeLeft string }
	VoiceActivity *struct{ Type string }
}

// turn reads one turn's messages, up to and including turnComplete.
func turn(t *testing.T, ws *websocket.Conn) []serverMsg {
	t.Helper()
	var out []serverMsg
	for {
		_, b, err := read(t, ws)
		if err != nil {
			t.Fatalf("after %d messages: %v", len(out), err)
		}
		var m serverMsg
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
		if m.ServerContent != nil && m.ServerContent.TurnComplete {
			return out
		}
	}
}

// A snake_case client (like the cookbook's raw script) gets a full reply:
// 240 ms chunks, interleaved transcript, generationComplete, then
// turnComplete with usage, then a resumable handle.
func TestSnakeCaseTurn(t *testing.T) {
	srv := livetest.NewServer(t, livetest.Options{})
	ws := rawDial(t, srv, "/ws/google.ai.generativelanguage.v1beta."+method+"?key="+srv.Key, nil)
	write(t, ws, `{"setup":{"model":"models/gemini-3.8-live","generation_config":{"response_modalities":["AUDIO"],"speech_config":{"voice_config":{"prebuilt_voice_config":{"voice_name":"Kore"}}}},"output_audio_transcription":{},"session_resumption":{},"context_window_compression":{"sliding_window":{"target_tokens":"1000"},"trigger_tokens":2000}}}`)
	if _, _, err := read(t, ws); err != nil {
		t.Fatal(err)
	}
	write(t, ws, `{"client_content":{"turns":[{"role":"user","parts":[{"text":"Hi there"}]}],"turn_complete":true}}`)
	msgs := turn(t, ws)
	var audio []byte
	var transcript string
	gen, chunks, txMsgs := false, 0, 0
	for _, m := range msgs {
		sc := m.ServerContent
		if sc == nil {
			continue
		}
		if sc.ModelTurn != nil {
			for _, p := range sc.ModelTurn.Parts {
				if p.InlineData.MimeType != "audio/pcm;rate=24000" {
					t.Errorf("mime %q", p.InlineData.MimeType)
				}
				if gen {
					t.Error("audio after generationComplete")
				}
				if len(p.InlineData.Data) != 11520 && chunks > 0 && len(audio)+len(p.InlineData.Data) < 2*len(mustSpeak("Hi there")) {
					t.Errorf("chunk %d has %d bytes", chunks, len(p.InlineData.Data))
				}
				audio = append(audio, p.InlineData.Data...)
				chunks++
			}
		}
		if sc.OutputTranscription != nil {
			transcript += sc.OutputTranscription.Text
			txMsgs++
		}
		gen = gen || sc.GenerationComplete
	}
	want, wantText := livetest.Speak("Hi there")
	if len(audio) != 2*len(want) || transcript != wantText || !gen || txMsgs < 3 {
		t.Errorf("audio %d/%d bytes, transcript %q (%d fragments), generationComplete %v", len(audio), 2*len(want), transcript, txMsgs, gen)
	}
	last := msgs[len(msgs)-1]
	if last.UsageMetadata == nil || last.UsageMetadata.ResponseTokenCount == 0 {
		t.Errorf("turnComplete without usage")
	}
	_, b, err := read(t, ws)
	var m serverMsg
	if err != nil || json.Unmarshal(b, &m) != nil || m.SessionResumptionUpdate == nil || !m.SessionResumptionUpdate.Resumable {
		t.Fatalf("want a resumable handle after the turn, got %s %v", b, err)
	}
	if got := srv.Prompts(); len(got) != 1 || got[0] != "Hi there" {
		t.Errorf("prompts %q", got)
	}
	var st struct {
		GenerationConfig struct {
			SpeechConfig struct {
				VoiceConfig struct{ PrebuiltVoiceConfig struct{ VoiceName string } }
			}
		}
	}
	if json.Unmarshal(srv.LastSetup(), &st); st.GenerationConfig.SpeechConfig.VoiceConfig.PrebuiltVoiceConfig.VoiceName != "Kore" {
		t.Errorf("setup not normalised to camelCase: %s", srv.LastSetup())
	}
}

func mustSpeak(p string) []int16 { pcm, _ := livetest.Speak(p); return pcm }

// Audio arrives faster than real time.
func TestFasterThanRealTime(t *testing.T) {
	srv := livetest.NewServer(t, livetest.Options{})
	ws := rawDial(t, srv, "/ws/google.ai.generativelanguage.v1beta."+method+"?key="+srv.Key, nil)
	write(t, ws, setup)
	read(t, ws)
	srv.Script(livetest.Reply{Duration: 4 * time.Second})
	start := time.Now()
	write(t, ws, `{"realtimeInput":{"text":"go"}}`)
	turn(t, ws)
	if el := time.Since(start); el > 2*time.Second {
		t.Errorf("4 s of audio took %v", el)
	}
}

func TestGoAwayThenClose1011(t *testing.T) {
	srv := livetest.NewServer(t, livetest.Options{})
	ws := rawDial(t, srv, "/ws/google.ai.generativelanguage.v1beta."+method+"?key="+srv.Key, nil)
	write(t, ws, setup)
	read(t, ws)
	srv.GoAway(50 * time.Millisecond)
	_, b, err := read(t, ws)
	var m serverMsg
	if err != nil || json.Unmarshal(b, &m) != nil || m.GoAway == nil || m.GoAway.TimeLeft != "0.05s" {
		t.Fatalf("want goAway, got %s %v", b, err)
	}
	_, _, err = read(t, ws)
	if ce := closeOf(t, err); ce.Code != 1011 || ce.Reason != "Deadline expired before operation could complete." {
		t.Errorf("close %v", ce)
	}
}

func TestInterruptedByNewTurn(t *testing.T) {
	srv := livetest.NewServer(t, livetest.Options{})
	ws := rawDial(t, srv, "/ws/google.ai.generativelanguage.v1beta."+method+"?key="+srv.Key, nil)
	write(t, ws, setup)
	read(t, ws)
	srv.Script(livetest.Reply{Duration: time.Minute})
	write(t, ws, `{"clientContent":{"turns":[{"role":"user","parts":[{"text":"long"}]}],"turnComplete":true}}`)
	read(t, ws) // resumable:false
	read(t, ws) // first chunk
	write(t, ws, `{"clientContent":{"turns":[{"role":"user","parts":[{"text":"stop"}]}],"turnComplete":true}}`)
	msgs := turn(t, ws)
	n := len(msgs)
	if n < 2 || !msgs[n-2].ServerContent.Interrupted || msgs[n-1].ServerContent.GenerationComplete {
		t.Fatalf("want interrupted then turnComplete, got %d messages", n)
	}
	for _, m := range msgs {
		if m.ServerContent != nil && m.ServerContent.GenerationComplete {
			t.Error("generationComplete in an interrupted turn")
		}
	}
	// The new turn is answered in full.
	read(t, ws) // handle after the interrupted turn
	msgs = turn(t, ws)
	if !msgs[len(msgs)-2].ServerContent.GenerationComplete {
		t.Error("second turn incomplete")
	}
}

func TestFaults(t *testing.T) {
	for _, tc := range []struct {
		name  string
		fault livetest.Fault
		code  websocket.StatusCode
	}{
		{"close", livetest.Fault{Kind: livetest.FaultClose, AfterChunks: 1, Code: 1011, Reason: "The service is currently unavailable."}, 1011},
		{"drop", livetest.Fault{Kind: livetest.FaultDrop, AfterChunks: 1}, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := livetest.NewServer(t, livetest.Options{})
			ws := rawDial(t, srv, "/ws/google.ai.generativelanguage.v1beta."+method+"?key="+srv.Key, nil)
			write(t, ws, setup)
			read(t, ws)
			srv.Script(livetest.Reply{Fault: tc.fault})
			write(t, ws, `{"realtimeInput":{"text":"x"}}`)
			chunks := 0
			for {
				_, b, err := read(t, ws)
				if err != nil {
					if got := websocket.CloseStatus(err); got != tc.code {
						t.Errorf("close status %d, want %d (%v)", got, tc.code, err)
					}
					break
				}
				if strings.Contains(string(b), "inlineData") {
					chunks++
				}
			}
			if chunks != 1 {
				t.Errorf("%d chunks before the fault, want 1", chunks)
			}
		})
	}
}

func TestLifetime(t *testing.T) {
	srv := livetest.NewServer(t, livetest.Options{Lifetime: 200 * time.Millisecond})
	ws := rawDial(t, srv, "/ws/google.ai.generativelanguage.v1beta."+method+"?key="+srv.Key, nil)
	start := time.Now()
	write(t, ws, setup)
	read(t, ws)
	_, b, err := read(t, ws)
	var m serverMsg
	if err != nil || json.Unmarshal(b, &m) != nil || m.GoAway == nil || m.GoAway.TimeLeft != "0.02s" {
		t.Fatalf("want goAway{0.02s}, got %s %v", b, err)
	}
	_, _, err = read(t, ws)
	if ce := closeOf(t, err); ce.Code != 1011 || time.Since(start) < 200*time.Millisecond {
		t.Errorf("close %v after %v", ce, time.Since(start))
	}
}

// Malformed realtime input after a valid setup closes 1007 with the
// service's texts.
func TestRealtimeRejections(t *testing.T) {
	srv := livetest.NewServer(t, livetest.Options{})
	path := "/ws/google.ai.generativelanguage.v1beta." + method + "?key=" + srv.Key
	const manual = `{"setup":{"model":"models/gemini-3.8-live","realtimeInputConfig":{"automaticActivityDetection":{"disabled":true}}}}`
	tests := []struct {
		name, setup, msg string
		reason           string
	}{
		{"bad base64", setup, `{"realtimeInput":{"audio":{"mimeType":"audio/pcm;rate=16000","data":"!!"}}}`,
			`Invalid value at 'realtime_input.audio.data' (TYPE_BYTES), Base64 decoding failed for "!!"`},
		{"unknown field", setup, `{"realtimeInput":{"audio":{"mimeType":"audio/pcm;rate=16000","data":"AAA=","rate":16000}}}`,
			`Invalid JSON payload received. Unknown name "rate" at 'realtime_input.audio': Cannot find field.`},
		{"audioStreamEnd not a bool", setup, `{"realtimeInput":{"audioStreamEnd":"yes"}}`,
			`Invalid value at 'realtime_input.audio_stream_end' (TYPE_BOOL), "yes"`},
		{"not audio", setup, `{"realtimeInput":{"audio":{"mimeType":"image/jpeg","data":"AAA="}}}`, "Request contains an invalid argument."},
		{"activityStart with automatic detection", setup, `{"realtimeInput":{"activityStart":{}}}`, "Request contains an invalid argument."},
		{"audioStreamEnd without automatic detection", manual, `{"realtimeInput":{"audioStreamEnd":true}}`, "Request contains an invalid argument."},
		{"bad sensitivity", `{"setup":{"model":"models/gemini-3.8-live","realtimeInputConfig":{"automaticActivityDetection":{"startOfSpeechSensitivity":"LOUD"}}}}`, "",
			`Invalid value at 'setup.realtime_input_config.automatic_activity_detection.start_of_speech_sensitivity' (type.googleapis.com/google.ai.generativelanguage.v1beta.StartSensitivity), "LOUD"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ws := rawDial(t, srv, path, nil)
			write(t, ws, tc.setup)
			if tc.msg != "" {
				if _, b, err := read(t, ws); err != nil || !strings.Contains(string(b), "setupComplete") {
					t.Fatalf("setup: %q %v", b, err)
				}
				write(t, ws, tc.msg)
			}
			_, b, err := read(t, ws)
			if err == nil {
				t.Fatalf("got a frame %q, want a close", b)
			}
			if ce := closeOf(t, err); ce.Code != 1007 || ce.Reason != tc.reason[:min(123, len(tc.reason))] {
				t.Errorf("close %d %q, want 1007 %q", ce.Code, ce.Reason, tc.reason)
			}
		})
	}
}

// With activityHandling NO_INTERRUPTION, speech over a reply does not cut
// it: the reply completes, then the speech is answered (raw snake_case
// client, speech sent as one 16 kHz realtimeInput frame).
func TestNoInterruption(t *testing.T) {
	const question = "What is the weather like in Paris today?"
	srv := livetest.NewServer(t, livetest.Options{})
	srv.Hear(question, livetest.Say(question), livetest.SampleRate)
	srv.Script(livetest.Reply{Transcript: "A long answer.", Duration: 10 * time.Second})
	ws := rawDial(t, srv, "/ws/google.ai.generativelanguage.v1beta."+method+"?key="+srv.Key, nil)
	write(t, ws, `{"setup":{"model":"models/gemini-3.8-live","input_audio_transcription":{},"realtime_input_config":{"activity_handling":"NO_INTERRUPTION"}}}`)
	if _, b, err := read(t, ws); err != nil || !strings.Contains(string(b), "setupComplete") {
		t.Fatalf("setup: %q %v", b, err)
	}
	write(t, ws, `{"client_content":{"turns":[{"role":"user","parts":[{"text":"Tell me a story."}]}],"turn_complete":true}}`)
	if _, b, err := read(t, ws); err != nil || !strings.Contains(string(b), "inlineData") {
		t.Fatalf("first reply chunk: %q %v", b, err)
	}
	// 24 kHz to 16 kHz by keeping two samples of three: loudness is what counts.
	say := livetest.Say(question)
	pcm := make([]byte, 0, 2*len(say))
	for i := 0; i+2 < len(say); i += 3 {
		pcm = binary.LittleEndian.AppendUint16(pcm, uint16(say[i]))
		pcm = binary.LittleEndian.AppendUint16(pcm, uint16(say[i+1]))
	}
	pcm = append(pcm, make([]byte, 32000)...) // then a second of silence
	write(t, ws, `{"realtime_input":{"audio":{"mime_type":"audio/pcm;rate=16000","data":"`+base64.StdEncoding.EncodeToString(pcm)+`"}}}`)
	first, second := turn(t, ws), turn(t, ws)
	var gotStart, gotEnd bool
	for _, m := range append(first, second...) {
		if m.ServerContent != nil && m.ServerContent.Interrupted {
			t.Fatal("the reply was interrupted")
		}
		// Usually within the first reply; on a loaded machine the reply
		// may have ended before the speech was read.
		gotStart = gotStart || m.VoiceActivity != nil && m.VoiceActivity.Type == "ACTIVITY_START"
	}
	if !gotStart || first[len(first)-2].ServerContent == nil || !first[len(first)-2].ServerContent.GenerationComplete {
		t.Errorf("activity start %v, first turn ends %+v", gotStart, first[len(first)-2:])
	}
	heard := ""
	for _, m := range second {
		gotEnd = gotEnd || m.VoiceActivity != nil && m.VoiceActivity.Type == "ACTIVITY_END"
		if m.ServerContent != nil && m.ServerContent.InputTranscription != nil {
			heard += m.ServerContent.InputTranscription.Text
		}
	}
	if !gotEnd || heard != question {
		t.Errorf("second turn: activity end %v, heard %q", gotEnd, heard)
	}
}
