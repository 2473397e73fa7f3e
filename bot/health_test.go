package bot

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/livecord/livecord/discordtest"
	"github.com/livecord/livecord/live"
	"github.com/livecord/livecord/live/livetest"
)

func TestCheckLive(t *testing.T) {
	srv := livetest.NewServer(t, livetest.Options{})
	newBot := func(key string) *Bot {
		b, err := New(Config{Token: "t", DataDir: t.TempDir(),
			Live: live.Config{APIKey: key, BaseURL: srv.URL(), StallTimeout: 5 * time.Second}})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	good := newBot(srv.Key)
	if err := good.CheckLive(ctx); err != nil {
		t.Fatalf("reachable Live reported unhealthy: %v", err)
	}
	conns := len(srv.Conns())
	// A fresh success answers the next poll without another connection.
	if err := good.CheckLive(ctx); err != nil {
		t.Fatal(err)
	}
	if got := len(srv.Conns()); got != conns {
		t.Errorf("second health poll dialled Live again: %d connections, want %d", got, conns)
	}

	bad := newBot("wrong-key-Secret")
	err := bad.CheckLive(ctx)
	if err == nil {
		t.Fatal("a rejected key was reported healthy")
	}
	if !strings.Contains(err.Error(), "key") || strings.Contains(err.Error(), "Secret") {
		t.Errorf("health error %q should name the key problem without the key", err)
	}

	// A conversation's own dial outcome is what health reports next.
	good.liveHealth.record(&live.Error{Class: live.ClassQuota, Code: 1011, Reason: "quota"})
	if err := good.CheckLive(ctx); err == nil || !strings.Contains(err.Error(), "quota") {
		t.Errorf("after a quota failure health said %v", err)
	}
	// Cancellation by the bot itself says nothing about Live.
	good.liveHealth.record(context.Canceled)
	if err := good.CheckLive(ctx); err == nil {
		t.Error("a cancelled dial overwrote the quota failure")
	}
}

// TestCheckGateway: unhealthy until connected and commands are registered,
// healthy while connected.
func TestCheckGateway(t *testing.T) {
	dc := discordtest.NewServer(t, discordtest.Options{})
	g := dc.AddGuild("g")
	b, err := New(Config{Token: dc.Token(), GuildID: g.ID, DataDir: t.TempDir(), HTTPClient: dc.HTTPClient()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := b.CheckGateway(ctx); err == nil || !strings.Contains(err.Error(), "not connected") {
		t.Fatalf("before Run: %v", err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- b.Run(runCtx) }()
	select {
	case <-b.Ready():
	case err := <-done:
		t.Fatalf("Run: %v", err)
	case <-ctx.Done():
		t.Fatal("not ready")
	}
	if err := b.CheckGateway(ctx); err != nil {
		t.Fatalf("connected bot unhealthy: %v", err)
	}
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
