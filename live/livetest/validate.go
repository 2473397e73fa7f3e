package livetest

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// The emulator parses client frames the way the real service does (strict
// proto3 JSON): camelCase and snake_case names both work, unknown names and
// bad values close the socket with 1007 and a reason naming the snake_case
// path. The schema below covers the BidiGenerateContent client messages.

type kind int

const (
	kString kind = iota
	kBool
	kNumber // int32/int64/float: JSON number or numeric string
	kBytes  // base64 string
	kEnum
	kMessage
	kAny // google.protobuf.Struct / Value and SDK extras: any JSON
)

type field struct {
	kind     kind
	repeated bool
	msg      *message
	enum     []string
	enumType string // proto type name for error texts
}

type message struct {
	name   string // proto type name, e.g. "GenerationConfig"
	fields map[string]*field
}

func msg(name string, fields map[string]*field) *message { return &message{name: name, fields: fields} }

func f(k kind) *field                        { return &field{kind: k} }
func sub(m *message) *field                  { return &field{kind: kMessage, msg: m} }
func list(fl *field) *field                  { fl.repeated = true; return fl }
func enum(typ string, vals ...string) *field { return &field{kind: kEnum, enum: vals, enumType: typ} }

var (
	blobMsg    = msg("Blob", map[string]*field{"mimeType": f(kString), "data": f(kBytes)})
	partMsg    = msg("Part", map[string]*field{"text": f(kString), "inlineData": sub(blobMsg), "thought": f(kBool), "thoughtSignature": f(kBytes), "functionCall": f(kAny), "functionResponse": f(kAny), "fileData": f(kAny), "executableCode": f(kAny), "codeExecutionResult": f(kAny)})
	contentMsg = msg("Content", map[string]*field{"role": f(kString), "parts": list(sub(partMsg))})
	emptyMsg   = msg("Empty", map[string]*field{})

	toolMsg = msg("Tool", map[string]*field{
		"functionDeclarations": list(sub(msg("FunctionDeclaration", map[string]*field{
			"name": f(kString), "description": f(kString),
			"behavior":   enum("FunctionDeclaration.Behavior", "UNSPECIFIED", "BLOCKING", "NON_BLOCKING"),
			"parameters": f(kAny), "parametersJsonSchema": f(kAny), "response": f(kAny), "responseJsonSchema": f(kAny),
		}))),
		"googleSearch":          sub(msg("Tool.GoogleSearch", map[string]*field{"timeRangeFilter": f(kAny)})),
		"googleSearchRetrieval": f(kAny), "codeExecution": f(kAny), "urlContext": f(kAny),
		"computerUse": f(kAny), "fileSearch": f(kAny), "googleMaps": f(kAny),
	})
	functionResponseMsg = msg("FunctionResponse", map[string]*field{
		"id": f(kString), "name": f(kString), "response": f(kAny), "parts": f(kAny), "willContinue": f(kBool),
		"scheduling": enum("FunctionResponse.Scheduling", "SCHEDULING_UNSPECIFIED", "SILENT", "WHEN_IDLE", "INTERRUPT"),
	})

	transcriptionCfg = msg("AudioTranscriptionConfig", map[string]*field{"languageCodes": list(f(kString)), "customVocabulary": f(kAny), "wordTimestamp": f(kBool), "diarization": f(kAny), "mode": f(kAny)})

	setupMsg = msg("BidiGenerateContentSetup", map[string]*field{
		"model": f(kString),
		"generationConfig": sub(msg("GenerationConfig", map[string]*field{
			"responseModalities": list(enum("GenerationConfig.Modality", "MODALITY_UNSPECIFIED", "TEXT", "IMAGE", "AUDIO")),
			"temperature":        f(kNumber), "topP": f(kNumber), "topK": f(kNumber), "maxOutputTokens": f(kNumber),
			"seed": f(kNumber), "candidateCount": f(kNumber), "presencePenalty": f(kNumber), "frequencyPenalty": f(kNumber),
			"mediaResolution": enum("GenerationConfig.MediaResolution", "MEDIA_RESOLUTION_UNSPECIFIED", "MEDIA_RESOLUTION_LOW", "MEDIA_RESOLUTION_MEDIUM", "MEDIA_RESOLUTION_HIGH"),
			"speechConfig": sub(msg("SpeechConfig", map[string]*field{
				"voiceConfig":             sub(msg("VoiceConfig", map[string]*field{"prebuiltVoiceConfig": sub(msg("PrebuiltVoiceConfig", map[string]*field{"voiceName": f(kString)}))})),
				"languageCode":            f(kString),
				"multiSpeakerVoiceConfig": f(kAny),
			})),
			"thinkingConfig": sub(msg("ThinkingConfig", map[string]*field{
				"thinkingBudget": f(kNumber), "includeThoughts": f(kBool),
				"thinkingLevel": enum("ThinkingConfig.ThinkingLevel", "THINKING_LEVEL_UNSPECIFIED", "MINIMAL", "LOW", "MEDIUM", "HIGH"),
			})),
			"enableAffectiveDialog": f(kBool),
			"translationConfig":     f(kAny),
		})),
		"systemInstruction":        sub(contentMsg),
		"tools":                    list(sub(toolMsg)),
		"sessionResumption":        sub(msg("SessionResumptionConfig", map[string]*field{"handle": f(kString)})),
		"inputAudioTranscription":  sub(transcriptionCfg),
		"outputAudioTranscription": sub(transcriptionCfg),
		"realtimeInputConfig": sub(msg("RealtimeInputConfig", map[string]*field{
			"automaticActivityDetection": sub(msg("AutomaticActivityDetection", map[string]*field{
				"disabled":                 f(kBool),
				"startOfSpeechSensitivity": enum("StartSensitivity", "START_SENSITIVITY_UNSPECIFIED", "START_SENSITIVITY_HIGH", "START_SENSITIVITY_LOW"),
				"endOfSpeechSensitivity":   enum("EndSensitivity", "END_SENSITIVITY_UNSPECIFIED", "END_SENSITIVITY_HIGH", "END_SENSITIVITY_LOW"),
				"prefixPaddingMs":          f(kNumber), "silenceDurationMs": f(kNumber),
			})),
			"activityHandling": enum("RealtimeInputConfig.ActivityHandling", "ACTIVITY_HANDLING_UNSPECIFIED", "START_OF_ACTIVITY_INTERRUPTS", "NO_INTERRUPTION"),
			"turnCoverage":     enum("RealtimeInputConfig.TurnCoverage", "TURN_COVERAGE_UNSPECIFIED", "TURN_INCLUDES_ONLY_ACTIVITY", "TURN_INCLUDES_ALL_INPUT", "TURN_INCLUDES_AUDIO_ACTIVITY_AND_ALL_VIDEO"),
		})),
		"contextWindowCompression": sub(msg("ContextWindowCompressionConfig", map[string]*field{
			"slidingWindow": sub(msg("SlidingWindow", map[string]*field{"targetTokens": f(kNumber)})),
			"triggerTokens": f(kNumber),
		})),
		"proactivity":   sub(msg("ProactivityConfig", map[string]*field{"proactiveAudio": f(kBool), "proactiveVideo": f(kBool)})),
		"historyConfig": sub(msg("HistoryConfig", map[string]*field{"initialHistoryInClientContent": f(kBool)})),
	})

	clientMsg = msg("BidiGenerateContentClientMessage", map[string]*field{
		"setup":         sub(setupMsg),
		"clientContent": sub(msg("BidiGenerateContentClientContent", map[string]*field{"turns": list(sub(contentMsg)), "turnComplete": f(kBool)})),
		"realtimeInput": sub(msg("BidiGenerateContentRealtimeInput", map[string]*field{
			"mediaChunks": list(sub(blobMsg)), "audio": sub(blobMsg), "video": sub(blobMsg), "text": f(kString),
			"activityStart": sub(emptyMsg), "activityEnd": sub(emptyMsg), "audioStreamEnd": f(kBool),
		})),
		"toolResponse":  sub(msg("BidiGenerateContentToolResponse", map[string]*field{"functionResponses": list(sub(functionResponseMsg))})),
		"contextUpdate": f(kAny),
	})
)

// badRequest is a protocol violation: the connection closes with 1007.
type badRequest struct{ reason string }

func (b *badRequest) Error() string { return b.reason }

// parseClientMessage validates one client frame against the schema and
// returns it with every known name in camelCase, plus the name of the one
// top-level field that was set.
func parseClientMessage(data []byte, apiVersion string) (map[string]any, string, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, "", &badRequest{"Invalid JSON payload received. Unexpected token."}
	}
	if dec.More() {
		return nil, "", &badRequest{"Invalid JSON payload received. Unexpected token."}
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, "", &badRequest{"Invalid JSON payload received. Expected an object."}
	}
	norm, err := walkMessage(obj, clientMsg, "", apiVersion)
	if err != nil {
		return nil, "", err
	}
	var top string
	for k := range norm {
		if top != "" {
			first, second := top, k
			if second < first {
				first, second = second, first
			}
			return nil, "", &badRequest{fmt.Sprintf("Invalid JSON payload received. Oneof field 'message_type' is already set. Cannot set '%s'", second)}
		}
		top = k
	}
	if top == "" {
		return nil, "", &badRequest{"Request contains an invalid argument."}
	}
	return norm, top, nil
}

func walkMessage(obj map[string]any, m *message, path, ver string) (map[string]any, error) {
	out := make(map[string]any, len(obj))
	for name, val := range obj {
		camel := toCamel(name)
		fd, ok := m.fields[camel]
		if !ok {
			at := ""
			if path != "" {
				at = fmt.Sprintf(" at '%s'", path)
			}
			return nil, &badRequest{fmt.Sprintf("Invalid JSON payload received. Unknown name %q%s: Cannot find field.", name, at)}
		}
		if val == nil {
			continue // null means default in proto3 JSON
		}
		fpath := join(path, toSnake(camel))
		if fd.repeated {
			arr, ok := val.([]any)
			if !ok {
				return nil, invalidValue(fpath, fd, val, ver)
			}
			outArr := make([]any, len(arr))
			for i, e := range arr {
				nv, err := walkValue(e, fd, fmt.Sprintf("%s[%d]", fpath, i), ver)
				if err != nil {
					return nil, err
				}
				outArr[i] = nv
			}
			out[camel] = outArr
			continue
		}
		nv, err := walkValue(val, fd, fpath, ver)
		if err != nil {
			return nil, err
		}
		out[camel] = nv
	}
	return out, nil
}

func walkValue(val any, fd *field, path, ver string) (any, error) {
	switch fd.kind {
	case kAny:
		return val, nil
	case kString:
		if _, ok := val.(string); ok {
			return val, nil
		}
	case kBool:
		if _, ok := val.(bool); ok {
			return val, nil
		}
	case kNumber:
		switch x := val.(type) {
		case json.Number:
			return val, nil
		case string:
			if _, err := strconv.ParseFloat(x, 64); err == nil {
				return json.Number(x), nil
			}
		}
	case kBytes:
		if s, ok := val.(string); ok {
			if _, err := base64.StdEncoding.DecodeString(s); err == nil {
				return val, nil
			}
			if _, err := base64.URLEncoding.DecodeString(s); err == nil {
				return val, nil
			}
			return nil, &badRequest{truncate(fmt.Sprintf("Invalid value at '%s' (TYPE_BYTES), Base64 decoding failed for %q", path, s))}
		}
	case kEnum:
		if s, ok := val.(string); ok {
			for _, e := range fd.enum {
				if s == e {
					return val, nil
				}
			}
		}
	case kMessage:
		if obj, ok := val.(map[string]any); ok {
			return walkMessage(obj, fd.msg, path, ver)
		}
	}
	return nil, invalidValue(path, fd, val, ver)
}

func invalidValue(path string, fd *field, val any, ver string) error {
	typ := map[kind]string{kString: "TYPE_STRING", kBool: "TYPE_BOOL", kNumber: "TYPE_INT32", kBytes: "TYPE_BYTES"}[fd.kind]
	switch fd.kind {
	case kEnum:
		typ = "type.googleapis.com/google.ai.generativelanguage." + ver + "." + fd.enumType
	case kMessage:
		typ = "type.googleapis.com/google.ai.generativelanguage." + ver + "." + fd.msg.name
	}
	b, _ := json.Marshal(val)
	if s, ok := val.(string); ok {
		b = []byte(strconv.Quote(s))
	}
	return &badRequest{truncate(fmt.Sprintf("Invalid value at '%s' (%s), %s", path, typ, b))}
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

// toCamel maps snake_case to lowerCamelCase; camelCase passes unchanged.
func toCamel(s string) string {
	if !strings.Contains(s, "_") {
		return s
	}
	var b strings.Builder
	up := false
	for _, r := range s {
		if r == '_' {
			up = true
			continue
		}
		if up && r >= 'a' && r <= 'z' {
			r -= 'a' - 'A'
		}
		up = false
		b.WriteRune(r)
	}
	return b.String()
}

// toSnake maps lowerCamelCase to snake_case, as the service's error paths do.
func toSnake(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r >= 'A' && r <= 'Z' {
			b.WriteByte('_')
			r += 'a' - 'A'
		}
		b.WriteRune(r)
	}
	return b.String()
}

// maxReason is the longest close reason the service sends (RFC 6455 allows
// 123 bytes of text after the code).
const maxReason = 123

// truncate cuts s to maxReason bytes on a UTF-8 boundary, as the service does.
func truncate(s string) string {
	if len(s) <= maxReason {
		return s
	}
	cut := maxReason
	for cut > 0 && s[cut]&0xC0 == 0x80 {
		cut--
	}
	return s[:cut]
}
