package bot_test

import (
	"context"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/livecord/livecord/audio/wav"
	"github.com/livecord/livecord/discordtest"
	"github.com/livecord/livecord/live"
	"github.com/livecord/livecord/live/livetest"
)

// silentLive accepts TCP connections and never answers a byte: a Gemini
// endpoint that hangs the WebSocket upgrade. It returns the base URL.
func silentLive(t *testing.T) string {
	u, _ := silentLiveAccepts(t)
	return u
}

// silentLiveAccepts is silentLive with a channel that receives each accepted
// connection.
func silentLiveAccepts(t *testing.T) (string, <-chan struct{}) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	done := make(chan struct{})
	accepted := make(chan struct{}, 16)
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			select {
			case accepted <- struct{}{}:
			default:
			}
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		for _, c := range conns {
			c.Close()
		}
	})
	return "http://" + ln.Addr().String(), accepted
}

// TestLiveUnreachableDoesNotHoldQueue: with a Gemini endpoint that never
// answers the upgrade, each /ask gets a plain message with its prompt echoed
// once the connect deadline passes, and the question queued behind it is
// answered too, long before the bot's turn timeout would have released the
// queue.
func TestLiveUnreachableDoesNotHoldQueue(t *testing.T) {
	h := newHarness(t, discordtest.Options{}, livetest.Options{})
	h.cfg.Live.BaseURL = silentLive(t)
	h.cfg.Live.ConnectTimeout = 500 * time.Millisecond
	h.cfg.TurnTimeout = 10 * time.Minute
	h.start()
	start := time.Now()
	first, second := h.ask(h.alice, "first question"), h.ask(h.bob, "second question")
	// Both must be answered well inside one turn timeout: wait half of it.
	ctx, cancel := context.WithTimeout(context.Background(), h.cfg.TurnTimeout/2)
	defer cancel()
	for ia, prompt := range map[*discordtest.Interaction]string{first: "first question", second: "second question"} {
		m, err := ia.WaitOriginal(ctx, isFinal)
		if err != nil {
			t.Fatalf("%q never answered: %v", prompt, err)
		}
		if !strings.Contains(m.Content, "could not reach Gemini") || !strings.Contains(m.Content, "> "+prompt) {
			t.Fatalf("answer to %q:\n%s", prompt, m.Content)
		}
	}
	t.Logf("both answered after %v (connect deadline %v each)", time.Since(start), h.cfg.Live.ConnectTimeout)
}

// TestReplyOverCapIsCut: a reply longer than Live's MaxReply ends the turn
// at the cap: the answer holds the audio up to it and says it was cut.
func TestReplyOverCapIsCut(t *testing.T) {
	h := newHarness(t, discordtest.Options{}, livetest.Options{Speed: 50})
	h.cfg.Live.MaxReply = 2 * time.Second
	h.lv.Respond(func(livetest.Request) livetest.Reply { return livetest.Reply{Duration: 6 * time.Second} })
	h.start()
	m := answered(t, h.ask(h.alice, "talk for a while"))
	if !strings.Contains(m.Content, "longer than the bot allows") || !strings.Contains(m.Content, "> talk for a while") {
		t.Fatalf("answer over the cap:\n%s", m.Content)
	}
	if len(m.Attachments) != 1 {
		t.Fatalf("%d attachments, want the audio up to the cap", len(m.Attachments))
	}
	f, err := wav.Decode(m.Attachments[0].Data)
	if err != nil {
		t.Fatal(err)
	}
	if got := live.AudioDuration(len(f.Data)); got > h.cfg.Live.MaxReply || got < h.cfg.Live.MaxReply/2 {
		t.Fatalf("attached %v of audio, want up to the %v cap", got, h.cfg.Live.MaxReply)
	}
}

// TestShutdownWhileLiveHangs: SIGTERM while a turn waits on a Live endpoint
// that never answers: the bot stops without waiting for the connect
// deadline, and the asker is told to ask again.
func TestShutdownWhileLiveHangs(t *testing.T) {
	h := newHarness(t, discordtest.Options{}, livetest.Options{})
	url, accepted := silentLiveAccepts(t)
	h.cfg.Live.BaseURL = url
	h.cfg.Live.ConnectTimeout = time.Minute
	h.start()
	ia := h.ask(h.alice, "anyone there?")
	select {
	case <-accepted: // the turn is inside Live's connect
	case <-h.ctx().Done():
		t.Fatal("the bot never connected to Live")
	}
	start := time.Now()
	h.stop()
	took := time.Since(start)
	if took > h.cfg.Live.ConnectTimeout/2 {
		t.Fatalf("shutdown took %v: it waited on Live's connect (deadline %v)", took, h.cfg.Live.ConnectTimeout)
	}
	m, ok := ia.Original()
	if !ok || !strings.Contains(m.Content, "restarting") || !strings.Contains(m.Content, "> anyone there?") {
		t.Fatalf("the asker was not told (%v):\n%s", ok, m.Content)
	}
	t.Logf("stopped in %v while Live's connect hung", took)
}
