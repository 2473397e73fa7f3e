package bot_test

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/livecord/livecord/admin"
	"github.com/livecord/livecord/audio/wav"
	"github.com/livecord/livecord/discordtest"
	"github.com/livecord/livecord/live/livetest"
)

// TestAskEndToEnd: a user runs /ask; the bot defers within 3 s, streams
// the transcript into the reply, and ends with the quoted prompt, the
// emulator's transcript, the duration and reply.wav holding exactly the PCM
// the Live emulator sent, without tripping a rate limit or pinging anyone.
func TestAskEndToEnd(t *testing.T) {
	h := newHarness(t, discordtest.Options{}, livetest.Options{Speed: 4})
	met := admin.NewMetrics()
	h.cfg.Metrics = met
	h.start()
	prompt := "Hello? Gemini are you there? Tell me about the weather on the coast today."
	wantPCM, wantTranscript := livetest.Speak(prompt)

	ia := h.ask(h.alice, prompt)
	cb, err := ia.WaitCallback(h.ctx())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("defer latency: %v", cb.Latency)
	if cb.Type != discordtest.CallbackDeferred || cb.Latency >= 3*time.Second {
		t.Fatalf("first response: type %d after %v, want a defer (5) within 3 s", cb.Type, cb.Latency)
	}
	m := answered(t, ia)

	if !strings.Contains(m.Content, "> "+prompt) {
		t.Errorf("final message does not quote the prompt:\n%s", m.Content)
	}
	if !strings.Contains(m.Content, "\n\n"+wantTranscript+"\n\n") {
		t.Errorf("final message transcript differs from the emulator's %q:\n%s", wantTranscript, m.Content)
	}
	dur := time.Duration(len(wantPCM)) * time.Second / 24000
	if want := fmt.Sprintf("🔊 %.1f s", dur.Seconds()); !strings.Contains(m.Content, want) {
		t.Errorf("final message lacks the duration %q:\n%s", want, m.Content)
	}
	if len(m.Attachments) != 1 || m.Attachments[0].Name != "reply.wav" {
		t.Fatalf("attachments = %+v, want reply.wav", m.Attachments)
	}
	f, err := wav.Decode(m.Attachments[0].Data)
	if err != nil {
		t.Fatal(err)
	}
	if f.SampleRate != 24000 || f.Channels != 1 || !bytes.Equal(f.Data, pcmBytes(wantPCM)) {
		t.Fatalf("reply.wav: %d Hz, %d ch, %d bytes; want 24000 Hz mono, exactly the emulator's %d bytes",
			f.SampleRate, f.Channels, len(f.Data), 2*len(wantPCM))
	}
	hist := ia.History()
	streamed := false
	for _, v := range hist {
		if p := v.Pings(); len(p) != 0 || (v.AllowedMentions == nil && v.Flags&discordtest.FlagLoading == 0) {
			t.Errorf("message version %q would ping %v (allowed_mentions %s)", v.Content, p, v.AllowedMentions)
		}
		if strings.HasSuffix(v.Content, " ▍") {
			streamed = true
		}
	}
	if !streamed {
		t.Errorf("no streaming edit among %d versions", len(hist))
	}
	if n := h.dc.RateLimited(); n != 0 {
		t.Errorf("the bot hit %d rate limits", n)
	}
	if got := h.lv.Prompts(); len(got) != 1 || got[0] != prompt {
		t.Errorf("Live received %q", got)
	}
	for name, got := range map[string]float64{
		"turns ok":       metric(t, met.Turns.WithLabelValues("ok")).GetCounter().GetValue(),
		"live sessions":  metric(t, met.LiveSessions).GetGauge().GetValue(),
		"queued turns":   metric(t, met.QueuedTurns).GetGauge().GetValue(),
		"defer observed": float64(metric(t, met.DeferLatency).GetHistogram().GetSampleCount()),
	} {
		want := map[string]float64{"turns ok": 1, "live sessions": 1, "queued turns": 0, "defer observed": 1}[name]
		if got != want {
			t.Errorf("metric %s = %v, want %v", name, got, want)
		}
	}
}

// metric reads one Prometheus metric's current value.
func metric(t *testing.T, m prometheus.Metric) *dto.Metric {
	t.Helper()
	var out dto.Metric
	if err := m.Write(&out); err != nil {
		t.Fatal(err)
	}
	return &out
}
