package discordtest_test

import (
	"net/http"
	"strings"

	"github.com/livecord/livecord/discordtest"
)

// v10Client is srv.HTTPClient with discordgo's /api/v9/ REST paths moved
// to /api/v10/, the version of Discord's OpenAPI description that
// NewServer checks every exchange against (the bot does the same in
// bot/apiversion.go; TestMain sets discordgo's gateway version).
func v10Client(srv *discordtest.Server) *http.Client {
	c := srv.HTTPClient()
	c.Transport = v10{c.Transport}
	return c
}

type v10 struct{ next http.RoundTripper }

func (v v10) RoundTrip(req *http.Request) (*http.Response, error) {
	if rest, ok := strings.CutPrefix(req.URL.Path, "/api/v9/"); ok {
		req = req.Clone(req.Context())
		req.URL.Path = "/api/v10/" + rest
	}
	return v.next.RoundTrip(req)
}

func (v v10) CloseIdleConnections() {
	if c, ok := v.next.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}
