package bot

import (
	"net/http"
	"strings"
	"sync"

	"github.com/bwmarrin/discordgo"
)

// DiscordAPIVersion is the Discord API version the bot speaks, REST and
// gateway alike: the one Discord's OpenAPI description documents.
// discordgo v0.29.0 defaults to 9.
const DiscordAPIVersion = "10"

const (
	restV9  = "/api/v9/"
	restV10 = "/api/v" + DiscordAPIVersion + "/"
)

var gatewayVersion sync.Once

// apiV10 sends discordgo's REST requests to API v10. discordgo builds its
// endpoint URLs from APIVersion once, at package initialisation, so a
// later change of the variable reaches only the gateway URL (wsapi.go
// appends "?v="+APIVersion when it connects); the REST paths are rewritten
// here instead, per request, for Discord and the emulator alike.
type apiV10 struct{ next http.RoundTripper }

// withAPIv10 wraps next (nil: http.DefaultTransport) so its requests use
// API v10, and makes discordgo's gateway connections ask for v10.
func withAPIv10(next http.RoundTripper) http.RoundTripper {
	// Written once, before any session built on this transport opens
	// its gateway (the write happens before every read that follows a
	// call here; discordgo reads it only in Session.Open).
	gatewayVersion.Do(func() { discordgo.APIVersion = DiscordAPIVersion })
	if _, ok := next.(apiV10); ok {
		return next
	}
	if next == nil {
		next = http.DefaultTransport
	}
	return apiV10{next: next}
}

// apiV10Client returns c with its transport wrapped by withAPIv10 (c
// itself is left as it is; its CloseIdleConnections reaches the same
// transport).
func apiV10Client(c *http.Client) *http.Client {
	out := *c
	out.Transport = withAPIv10(c.Transport)
	return &out
}

func (a apiV10) RoundTrip(req *http.Request) (*http.Response, error) {
	if rest, ok := strings.CutPrefix(req.URL.Path, restV9); ok {
		req = req.Clone(req.Context())
		req.URL.Path = restV10 + rest
		if req.URL.RawPath != "" {
			req.URL.RawPath = restV10 + strings.TrimPrefix(req.URL.RawPath, restV9)
		}
	}
	return a.next.RoundTrip(req)
}

// CloseIdleConnections lets http.Client.CloseIdleConnections reach the
// transport underneath.
func (a apiV10) CloseIdleConnections() {
	if c, ok := a.next.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}
