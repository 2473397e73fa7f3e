package bot

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/bwmarrin/discordgo"

	"github.com/livecord/livecord/discordtest"
)

// TestAPIv10: every request discordgo makes through the bot's transport
// reaches Discord under /api/v10/, and the gateway is opened with v=10,
// both for a test's HTTP client (Config.HTTPClient) and for APITransport
// (Config.APIURL, as production and `bot check` build it).
func TestAPIv10(t *testing.T) {
	dc := discordtest.NewServer(t, discordtest.Options{})
	g := dc.AddGuild("g")
	rt, base, err := APITransport(dc.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer base.CloseIdleConnections()
	for name, client := range map[string]*http.Client{
		"HTTPClient":   apiV10Client(dc.HTTPClient()),
		"APITransport": {Transport: rt, Timeout: 10 * time.Second},
	} {
		dg, err := discordgo.New("Bot " + dc.Token())
		if err != nil {
			t.Fatal(err)
		}
		dg.Client = client
		if err := dg.Open(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if _, err := dg.Guild(g.ID); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		if _, err := dg.ApplicationCommandBulkOverwrite(dc.AppID(), g.ID, []*discordgo.ApplicationCommand{{Name: "ping", Description: "Ping"}}); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		_ = dg.Close()
		client.CloseIdleConnections()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := dc.WaitChecked(ctx); err != nil {
		t.Fatal(err)
	}
	rep := dc.Spec()
	if len(rep.Prefixes) != 1 || rep.Prefixes["/api/v10/"] != 6 {
		t.Errorf("requests by prefix %v, want 6, all under /api/v10/", rep.Prefixes)
	}
	if len(rep.Gateway) != 1 || rep.Gateway["10"] != 2 {
		t.Errorf("gateway connections by version %v, want 2, all v=10", rep.Gateway)
	}
	// The rewrite is for discordgo's v9 paths only.
	if got := rewritten(t, "https://discord.com/api/v9/users/@me"); got != "/api/v10/users/@me" {
		t.Errorf("v9 path became %q", got)
	}
	if got := rewritten(t, "https://discord.com/api/v10/users/@me"); got != "/api/v10/users/@me" {
		t.Errorf("v10 path became %q", got)
	}
	if got := rewritten(t, "https://cdn.example/attachments/api/v9/x"); got != "/attachments/api/v9/x" {
		t.Errorf("other path became %q", got)
	}
}

type pathOf struct{ got *string }

func (p pathOf) RoundTrip(r *http.Request) (*http.Response, error) {
	*p.got = r.URL.Path
	return &http.Response{StatusCode: 204, Body: http.NoBody, Request: r}, nil
}

func rewritten(t *testing.T, u string) string {
	t.Helper()
	var got string
	req, _ := http.NewRequest("GET", u, nil)
	resp, err := withAPIv10(pathOf{&got}).RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return got
}
