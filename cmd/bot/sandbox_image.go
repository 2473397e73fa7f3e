package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	_ "image/gif" // DecodeConfig of what the emulator received
	_ "image/jpeg"
	_ "image/png"
	"mime"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/livecord/livecord/discordtest"
	"github.com/livecord/livecord/live/livetest"
)

// serveSandboxImage serves the file at path on loopback, as Discord's CDN
// serves an attachment, and describes it as /ask's image option. stop
// shuts the server down.
func serveSandboxImage(path string) (discordtest.Attachment, func(), error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return discordtest.Attachment{}, nil, fmt.Errorf("image: %w", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return discordtest.Attachment{}, nil, fmt.Errorf("image: serve: %w", err)
	}
	name := filepath.Base(path)
	ctype := mime.TypeByExtension(filepath.Ext(name))
	if ctype == "" {
		ctype = http.DetectContentType(data)
	}
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", ctype)
		w.Write(data)
	})}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			fmt.Fprintln(os.Stderr, "sandbox: image server:", err)
		}
	}()
	stop := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		<-done
	}
	return discordtest.Attachment{Filename: name, ContentType: ctype, Size: len(data),
		URL: "http://" + ln.Addr().String() + "/attachments/" + name}, stop, nil
}

// sandboxSeen is what the Live emulator received, for the report.
type sandboxSeen struct {
	mu     sync.Mutex
	images []livetest.Image
}

// scriptSandboxLive makes the emulated model use a tool and ground its
// answer before it speaks (the spoken reply is the usual one), so the
// default run shows the 🔧 line and the sources as a real grounded,
// tool-using answer would.
func scriptSandboxLive(lv *livetest.Server) *sandboxSeen {
	seen := &sandboxSeen{}
	lv.Respond(func(r livetest.Request) livetest.Reply {
		seen.mu.Lock()
		seen.images = append(seen.images, r.Images...)
		seen.mu.Unlock()
		pcm, transcript := livetest.Speak(r.Prompt)
		reply := livetest.Reply{PCM: pcm, Transcript: transcript,
			Grounding: &livetest.Grounding{Queries: []string{r.Prompt}, Sources: []livetest.Source{
				{URI: "https://ai.google.dev/gemini-api/docs/live", Title: "Gemini Live API"}}}}
		for _, name := range r.Tools {
			if name == "current_time" {
				reply.ToolCalls = []livetest.ToolCall{{Name: name}}
			}
		}
		return reply
	})
	return seen
}

// describe says what image reached the emulator ("" if none).
func (s *sandboxSeen) describe() string {
	if s == nil {
		return ""
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.images) == 0 {
		return ""
	}
	im := s.images[0]
	cfg, _, err := image.DecodeConfig(bytes.NewReader(im.Data))
	if err != nil {
		return fmt.Sprintf("%s, %d bytes sent to Live", im.MIMEType, len(im.Data))
	}
	return fmt.Sprintf("%s %d×%d, %d bytes sent to Live", im.MIMEType, cfg.Width, cfg.Height, len(im.Data))
}

// answerExtras splits an answer's body (after the quoted prompt) into the
// transcript, the 🔧 tool lines and the sources listed under it.
func answerExtras(body string) (transcript string, tools, sources []string) {
	var keep []string
	inSources := false
	for _, l := range strings.Split(body, "\n") {
		switch {
		case strings.HasPrefix(l, "🔧 "):
			tools = append(tools, strings.TrimPrefix(l, "🔧 "))
		case l == "**Sources**":
			inSources = true
		case inSources && l != "":
			sources = append(sources, l)
		case inSources:
			inSources = false
		default:
			keep = append(keep, l)
		}
	}
	return strings.TrimSpace(strings.Join(keep, "\n")), tools, sources
}
