package bot

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// maxSources caps the links listed under an answer.
const maxSources = 5

// extras renders what the answer used under its transcript: one line per
// tool call, then the grounding sources as links. Each link is wrapped in
// <…> so Discord shows no embed for it (the answer is the message, not a
// page preview); the voice and the WAV are unchanged.
func (r *reply) extras() string {
	var b strings.Builder
	for _, l := range r.tools {
		b.WriteString("\n" + l)
	}
	if len(r.sources) > 0 {
		b.WriteString("\n\n**Sources**")
		for i, s := range r.sources {
			if i == maxSources {
				fmt.Fprintf(&b, "\n… and %d more", len(r.sources)-maxSources)
				break
			}
			fmt.Fprintf(&b, "\n%d. %s", i+1, sourceLink(s.Title, s.URI))
		}
	}
	return b.String()
}

// sourceLink is a masked link with its embed suppressed, or the bare
// <uri> when there is no usable title. Only http(s) links are shown.
func sourceLink(title, uri string) string {
	u, err := url.Parse(uri)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return escapeMarkdown(title)
	}
	uri = strings.NewReplacer(" ", "%20", ">", "%3E", "<", "%3C", ")", "%29").Replace(uri)
	title = strings.TrimSpace(strings.Join(strings.Fields(title), " "))
	if title == "" {
		return "<" + uri + ">"
	}
	if r := []rune(title); len(r) > 80 {
		title = string(r[:79]) + "…"
	}
	return "[" + escapeMarkdown(title) + "](<" + uri + ">)"
}

// escapeMarkdown keeps a page title from being read as Markdown (or as a
// mention: titles are not the bot's to format).
func escapeMarkdown(s string) string {
	return strings.NewReplacer(`\`, `\\`, "[", `\[`, "]", `\]`, "*", `\*`, "_", `\_`, "`", "\\`",
		"~", `\~`, "|", `\|`, ">", `\>`, "#", `\#`, "@", "@\u200b").Replace(s)
}

// closeTools refuses new tool calls and waits, briefly, for abandoned ones.
func (b *Bot) closeTools() {
	if b.tools == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := b.tools.Close(ctx); err != nil {
		b.log.Warn("tools still running at shutdown", "err", err)
	}
}
