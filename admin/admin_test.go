package admin

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res.StatusCode, string(b)
}

func TestMetricsExposeSeries(t *testing.T) {
	m := NewMetrics()
	s, err := Listen("127.0.0.1:0", m, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(context.Background())
	http.DefaultClient.CloseIdleConnections()
	defer http.DefaultClient.CloseIdleConnections()

	m.Turns.WithLabelValues("ok").Inc()
	m.Errors.WithLabelValues("quota").Add(2)
	m.DeferLatency.Observe(0.012)
	m.VoiceConnections.Set(3)

	code, body := get(t, "http://"+s.Addr()+"/metrics")
	if code != 200 {
		t.Fatalf("status %d", code)
	}
	for _, want := range []string{
		`livecord_turns_total{outcome="ok"} 1`,
		`livecord_turns_total{outcome="error"} 0`,
		`livecord_errors_total{class="quota"} 2`,
		`livecord_defer_latency_seconds_bucket{le="0.025"} 1`,
		`livecord_defer_latency_seconds_count 1`,
		`livecord_voice_connections 3`,
		`livecord_live_sessions 0`,
		`go_goroutines `,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

func TestHealthz(t *testing.T) {
	s, err := Listen("127.0.0.1:0", NewMetrics(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(context.Background())
	defer http.DefaultClient.CloseIdleConnections()

	s.AddCheck("gateway", func(context.Context) error { return nil })
	code, body := get(t, "http://"+s.Addr()+"/healthz")
	if code != 200 {
		t.Fatalf("healthy: status %d body %s", code, body)
	}

	s.AddCheck("live", func(context.Context) error { return errors.New("live: dial: connection refused") })
	code, body = get(t, "http://"+s.Addr()+"/healthz")
	if code != http.StatusServiceUnavailable {
		t.Fatalf("unhealthy: status %d", code)
	}
	var got struct {
		OK     bool
		Checks []struct {
			Name, Error string
			OK          bool
		}
	}
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatal(err)
	}
	if got.OK || len(got.Checks) != 2 || got.Checks[0].Name != "gateway" || !got.Checks[0].OK ||
		got.Checks[1].Name != "live" || got.Checks[1].OK || !strings.Contains(got.Checks[1].Error, "refused") {
		t.Fatalf("unexpected health body: %s", body)
	}
}

func TestListenRejectsBusyAddress(t *testing.T) {
	s, err := Listen("127.0.0.1:0", NewMetrics(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(context.Background())
	if _, err := Listen(s.Addr(), NewMetrics(), nil); err == nil || !strings.Contains(err.Error(), "admin: listen") {
		t.Fatalf("want a wrapped listen error, got %v", err)
	}
}
