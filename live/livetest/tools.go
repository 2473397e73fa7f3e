package livetest

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
)

// ToolCall is a function call the emulated model makes before its reply
// (Reply.ToolCalls).
type ToolCall struct {
	// ID defaults to "function-call-<n>", unique per server.
	ID   string
	Name string
	// Args is the arguments object (default {}).
	Args json.RawMessage
	// Cancel sends toolCallCancellation for this call right after the
	// toolCall, as the service does when the user interrupts; its response
	// is then neither awaited nor wanted.
	Cancel bool
}

// FunctionResult is one functionResponse the emulator received.
type FunctionResult struct {
	ID, Name   string
	Response   json.RawMessage
	Scheduling string
}

// Grounding is the groundingMetadata a reply carries when the setup
// offered googleSearch (Reply.Grounding).
type Grounding struct {
	Queries []string
	Sources []Source
}

// Source is a web page in groundingChunks.
type Source struct{ URI, Title string }

// Image is an inlineData part of a clientContent turn (Request.Images).
type Image struct {
	MIMEType string
	Data     []byte
}

// imageMIMEs are the image types Gemini takes inline.
var imageMIMEs = map[string]bool{"image/jpeg": true, "image/png": true, "image/webp": true, "image/heic": true, "image/heif": true}

// functionNameRE is the service's rule for function names.
var functionNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.:-]{0,63}$`)

const invalidArgument = "Request contains an invalid argument."

// checkTools applies the service's checks on setup.tools beyond the schema
// and reports the declared function names and whether Google Search is on.
func checkTools(setup map[string]any) (names map[string]bool, search bool, reason string) {
	tools, _ := setup["tools"].([]any)
	names = map[string]bool{}
	for i, t := range tools {
		tm, _ := t.(map[string]any)
		if _, ok := tm["googleSearch"]; ok {
			search = true
		}
		decls, _ := tm["functionDeclarations"].([]any)
		for j, d := range decls {
			dm, _ := d.(map[string]any)
			name, _ := dm["name"].(string)
			if !functionNameRE.MatchString(name) {
				return nil, false, fmt.Sprintf("* BidiGenerateContentSetup.tools[%d].function_declarations[%d].name: Invalid function name. Must start with a letter or an underscore. Must be alphameric (a-z, A-Z, 0-9), underscores (_), dots (.), colons (:), or dashes (-), with a maximum length of 64.", i, j)
			}
			if names[name] {
				return nil, false, fmt.Sprintf("Duplicate function declaration found: %s", name)
			}
			_, p1 := dm["parameters"]
			_, p2 := dm["parametersJsonSchema"]
			if p1 && p2 {
				return nil, false, invalidArgument
			}
			names[name] = true
		}
	}
	return names, search, ""
}

// contentImages returns the inline images of clientContent turns, or the
// 1007 reason for a part the service refuses (a type it does not take, or
// bytes that are not that type).
func contentImages(turns any) ([]Image, string) {
	var out []Image
	arr, _ := turns.([]any)
	for _, t := range arr {
		tm, _ := t.(map[string]any)
		parts, _ := tm["parts"].([]any)
		for _, p := range parts {
			pm, _ := p.(map[string]any)
			blob, ok := pm["inlineData"].(map[string]any)
			if !ok {
				continue
			}
			mime, _ := blob["mimeType"].(string)
			data, _ := blob["data"].(string)
			b, err := base64.StdEncoding.DecodeString(data)
			if err != nil {
				b, _ = base64.URLEncoding.DecodeString(data) // validated already
			}
			switch {
			case strings.HasPrefix(mime, "audio/"):
				continue
			case !imageMIMEs[mime]:
				return nil, fmt.Sprintf("Unsupported MIME type: %s", mime)
			case !magicMatches(mime, b):
				return nil, "Unable to process input image. Please retry or report in https://developers.generativeai.google/guide/troubleshooting"
			}
			out = append(out, Image{MIMEType: mime, Data: b})
		}
	}
	return out, ""
}

// magicMatches checks that b starts like the type it claims to be.
func magicMatches(mime string, b []byte) bool {
	switch mime {
	case "image/jpeg":
		return bytes.HasPrefix(b, []byte{0xFF, 0xD8, 0xFF})
	case "image/png":
		return bytes.HasPrefix(b, []byte("\x89PNG\r\n\x1a\n"))
	case "image/webp":
		return len(b) >= 12 && string(b[:4]) == "RIFF" && string(b[8:12]) == "WEBP"
	}
	return len(b) > 0
}

// toolResponses matches a toolResponse against the calls awaiting an
// answer; an id never issued (or answered already) is the service's 1007.
func (c *emuConn) toolResponses(tr map[string]any) string {
	frs, _ := tr["functionResponses"].([]any)
	var got []FunctionResult
	c.toolMu.Lock()
	for _, fr := range frs {
		m, _ := fr.(map[string]any)
		id, _ := m["id"].(string)
		name, _ := m["name"].(string)
		want, ok := c.pendingCalls[id]
		if !ok {
			if c.cancelledCalls[id] {
				continue // a late answer to a withdrawn call is ignored
			}
			c.toolMu.Unlock()
			return invalidArgument
		}
		if name != "" && name != want {
			c.toolMu.Unlock()
			return invalidArgument
		}
		delete(c.pendingCalls, id)
		resp, _ := json.Marshal(m["response"])
		sched, _ := m["scheduling"].(string)
		got = append(got, FunctionResult{ID: id, Name: want, Response: resp, Scheduling: sched})
	}
	c.toolMu.Unlock()
	c.srv.mu.Lock()
	c.srv.toolResults = append(c.srv.toolResults, got...)
	c.srv.mu.Unlock()
	for _, r := range got {
		select {
		case c.toolResp <- r:
		default: // nobody is waiting (the turn was interrupted)
		}
	}
	return ""
}

// callTools sends r's toolCall and waits for the answers to the calls not
// cancelled; ok is false if the turn ended first (interrupted: pending
// calls are cancelled) or the connection did.
func (c *emuConn) callTools(j *job, calls []ToolCall) (results []FunctionResult, ok bool) {
	fcs := make([]map[string]any, len(calls))
	var cancel []string
	wait := map[string]bool{}
	c.toolMu.Lock()
	for i, tc := range calls {
		if tc.ID == "" {
			c.srv.mu.Lock()
			c.srv.callSeq++
			tc.ID = fmt.Sprintf("function-call-%d", c.srv.callSeq)
			c.srv.mu.Unlock()
		}
		args := tc.Args
		if len(args) == 0 {
			args = json.RawMessage(`{}`)
		}
		fcs[i] = map[string]any{"id": tc.ID, "name": tc.Name, "args": args}
		if tc.Cancel {
			cancel = append(cancel, tc.ID)
			c.cancelledCalls[tc.ID] = true
		} else {
			c.pendingCalls[tc.ID] = tc.Name
			wait[tc.ID] = true
		}
	}
	c.toolMu.Unlock()
	if c.send(map[string]any{"toolCall": map[string]any{"functionCalls": fcs}}) != nil {
		return nil, false
	}
	if len(cancel) > 0 && c.send(map[string]any{"toolCallCancellation": map[string]any{"ids": cancel}}) != nil {
		return nil, false
	}
	for len(wait) > 0 {
		select {
		case r := <-c.toolResp:
			if wait[r.ID] {
				delete(wait, r.ID)
				results = append(results, r)
			}
		case <-j.ctx.Done():
			c.withdraw(wait)
			return results, false
		}
	}
	return results, true
}

// withdraw cancels calls still awaited when their turn is interrupted.
func (c *emuConn) withdraw(wait map[string]bool) {
	if c.ctx.Err() != nil || len(wait) == 0 {
		return
	}
	ids := make([]string, 0, len(wait))
	c.toolMu.Lock()
	for id := range wait {
		delete(c.pendingCalls, id)
		c.cancelledCalls[id] = true
		ids = append(ids, id)
	}
	c.toolMu.Unlock()
	c.send(map[string]any{"toolCallCancellation": map[string]any{"ids": ids}})
}

// toolTranscript is the default reply after tool calls: what the model was
// told, so a test can check that the results reached it.
func toolTranscript(results []FunctionResult) string {
	var b strings.Builder
	for i, r := range results {
		if i > 0 {
			b.WriteString(" ")
		}
		fmt.Fprintf(&b, "%s said %s.", r.Name, r.Response)
	}
	return b.String()
}

// ToolResults returns every functionResponse received, in order.
func (s *Server) ToolResults() []FunctionResult {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]FunctionResult(nil), s.toolResults...)
}

// groundingJSON is groundingMetadata as the service sends it.
func groundingJSON(g *Grounding) map[string]any {
	chunks := make([]any, len(g.Sources))
	for i, s := range g.Sources {
		chunks[i] = map[string]any{"web": map[string]string{"uri": s.URI, "title": s.Title}}
	}
	m := map[string]any{"groundingChunks": chunks,
		"searchEntryPoint": map[string]string{"renderedContent": "<style>.container{}</style><div class=\"container\"></div>"}}
	if len(g.Queries) > 0 {
		m["webSearchQueries"] = g.Queries
	}
	return m
}
