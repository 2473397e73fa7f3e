package bot_test

import (
	"context"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/livecord/livecord/discordtest"
	"github.com/livecord/livecord/live/livetest"
	"github.com/livecord/livecord/voice/voicetest"
)

// BenchmarkTalk runs spoken exchanges on the emulators (no DAVE), each
// iteration a question whose long answer alice talks over, then the
// answer to her interruption in full. It reports the bot's share of the
// voice-to-voice latency, (first reply RTP packet at the voice server −
// last voiced packet in) − (Live's own time: last input chunk out → first
// reply chunk in), median and p99 over every answered turn, and the
// barge-in latency (alice's first voiced packet at the voice server → the
// bot's last audio packet there), median. The same-run references are
// Live's own time (the emulator on loopback) and the 20 ms frame.
//
//	go test -run='^$' -bench=Talk -benchtime=10x ./bot/
func BenchmarkTalk(b *testing.B) {
	th := newTalkHarness(b, livetest.Options{Speed: 20})
	q, stop := phrase(b, "weather"), phrase(b, "interrupt")
	th.lv.Respond(func(r livetest.Request) livetest.Reply {
		if r.Prompt == q.Text {
			return livetest.Reply{Transcript: "A long answer.", Duration: 10 * time.Second}
		}
		return livetest.Reply{}
	})
	th.start()
	th.startTalk(b)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	sp := th.speaker(ctx, b, th.alice.ID)
	app := th.dc.AppID()
	var added, own, barge []time.Duration
	measure := func(from int) {
		th.mu.Lock()
		exs := slices.Clone(th.exs[from:])
		th.mu.Unlock()
		sent := th.vt.Frames(app)
		for _, x := range exs {
			if x.FirstReply.IsZero() || x.LastVoiced.IsZero() || x.LastSent.IsZero() {
				continue
			}
			i := slices.IndexFunc(sent, func(f voicetest.Frame) bool { return !f.IsSilence() && f.Arrival.After(x.FirstReply) })
			if i < 0 {
				continue
			}
			o := x.FirstReply.Sub(x.LastSent)
			own = append(own, o)
			added = append(added, sent[i].Arrival.Sub(x.LastVoiced)-o)
		}
	}
	for b.Loop() {
		th.mu.Lock()
		from := len(th.exs)
		th.mu.Unlock()
		playing := len(th.vt.Frames(app)) + 50
		if err := sp.Speak(ctx, q.PCM, voicetest.SpeakOptions{Gate: true}); err != nil {
			b.Fatal(err)
		}
		if _, err := th.vt.WaitFrames(ctx, app, func(fs []voicetest.Frame) bool { return len(fs) >= playing }); err != nil {
			b.Fatal(err)
		}
		before := len(th.vt.Frames(sp.UserID()))
		if err := sp.Speak(ctx, stop.PCM, voicetest.SpeakOptions{Gate: true}); err != nil {
			b.Fatal(err)
		}
		th.exchange(ctx, b) // the cut answer
		th.exchange(ctx, b) // the answer to the interruption, played in full
		onset := th.vt.Frames(sp.UserID())[before].Arrival
		var last time.Time
		for _, f := range th.vt.Frames(app) {
			if !f.IsSilence() && f.Arrival.After(onset) && f.Arrival.Before(onset.Add(time.Second)) {
				last = f.Arrival
			}
		}
		barge = append(barge, max(last.Sub(onset), 0))
		measure(from)
	}
	pct := func(d []time.Duration, p float64) float64 {
		s := slices.Clone(d)
		slices.Sort(s)
		if len(s) == 0 {
			return 0
		}
		return float64(s[min(int(float64(len(s))*p), len(s)-1)].Microseconds()) / 1000
	}
	b.ReportMetric(pct(added, 0.5), "added-ms-p50")
	b.ReportMetric(pct(added, 0.99), "added-ms-p99")
	b.ReportMetric(pct(own, 0.5), "live-own-ms-p50")
	b.ReportMetric(pct(barge, 0.5), "barge-in-ms-p50")
	b.ReportMetric(pct(barge, 0.99), "barge-in-ms-max")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkTalkMemory is the heap a listening channel adds: /talk in a
// channel the bot already sits in (after /join, the reference measured in
// the same run), until its Live session is open and listening.
//
//	go test -run='^$' -bench=TalkMemory -benchtime=5x ./bot/
func BenchmarkTalkMemory(b *testing.B) {
	th := newTalkHarness(b, livetest.Options{Speed: 20})
	th.start()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	heap := func() int64 {
		runtime.GC()
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return int64(m.HeapAlloc)
	}
	var joined, talking []int64
	for b.Loop() {
		h0 := heap()
		ia := th.run(th.alice, "join", nil)
		if _, err := ia.WaitOriginal(ctx, func(m discordtest.Message) bool { return strings.Contains(m.Content, "Joined") }); err != nil {
			b.Fatal(err)
		}
		h1 := heap()
		conns := len(th.lv.Conns())
		th.startTalk(b)
		for len(th.lv.Conns()) == conns { // the talk's Live session is dialled right after the notice
			if ctx.Err() != nil {
				b.Fatal("no Live session for the talk")
			}
			time.Sleep(time.Millisecond)
		}
		h2 := heap()
		joined, talking = append(joined, h1-h0), append(talking, h2-h1)
		ia = th.run(th.alice, "leave", nil)
		if _, err := ia.WaitCallback(ctx); err != nil {
			b.Fatal(err)
		}
		if err := th.dc.WaitVoiceChannel(ctx, th.guild.ID, th.dc.AppID(), ""); err != nil {
			b.Fatal(err)
		}
	}
	med := func(v []int64) float64 {
		s := slices.Clone(v)
		slices.Sort(s)
		return float64(s[len(s)/2]) / 1024
	}
	b.ReportMetric(med(joined), "join-KiB")
	b.ReportMetric(med(talking), "talk-KiB")
	b.ReportMetric(med(talking)/med(joined), "talk/join")
	b.ReportMetric(0, "ns/op")
}
