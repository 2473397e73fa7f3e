package main

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/livecord/livecord/admin"
)

// TestHealthcheck runs `bot health` against an admin listener on all
// interfaces (as in the container) whose check flips from healthy to not.
func TestHealthcheck(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	srv, err := admin.Listen("0.0.0.0:0", admin.NewMetrics(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Close(ctx)
	}()
	var down atomic.Bool
	srv.AddCheck("discord", func(context.Context) error {
		if down.Load() {
			return errors.New("the Discord gateway connection is down (reconnecting)")
		}
		return nil
	})
	_, port, _ := net.SplitHostPort(srv.Addr())
	t.Setenv("ADMIN_ADDR", "0.0.0.0:"+port)

	var out syncBuffer
	if err := runHealthcheck(context.Background(), nil, &out, &out); err != nil || !strings.Contains(out.String(), `"ok":true`) {
		t.Fatalf("healthy bot: %v, %s", err, out.String())
	}
	down.Store(true)
	out = syncBuffer{}
	err = runHealthcheck(context.Background(), nil, &out, &out)
	if err == nil || !strings.Contains(err.Error(), "503") || !strings.Contains(out.String(), "reconnecting") {
		t.Fatalf("unhealthy bot: %v, %s", err, out.String())
	}
	srv.Close(context.Background())
	if err := runHealthcheck(context.Background(), []string{"-timeout", "2s"}, &out, &out); err == nil || !strings.Contains(err.Error(), "no answer") {
		t.Fatalf("stopped bot: %v", err)
	}
	t.Setenv("ADMIN_ADDR", "off")
	if err := runHealthcheck(context.Background(), nil, &out, &out); err == nil {
		t.Fatal("ADMIN_ADDR=off: no error")
	}
}
