package live_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/livecord/livecord/live"
	"github.com/livecord/livecord/live/livetest"
)

// rawServer accepts TCP connections and hands each to serve, which plays a
// broken server. Connections and goroutines end at cleanup.
func rawServer(t *testing.T, serve func(net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() { defer wg.Done(); serve(c) }()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return "http://" + ln.Addr().String()
}

// upgrade answers the WebSocket upgrade on c, as a server would.
func upgrade(c net.Conn) bool {
	req, err := http.ReadRequest(bufio.NewReader(c))
	if err != nil {
		return false
	}
	h := sha1.Sum([]byte(req.Header.Get("Sec-WebSocket-Key") + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	_, err = io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Accept: "+base64.StdEncoding.EncodeToString(h[:])+"\r\n\r\n")
	return err == nil
}

// binaryFrame is an unmasked server frame of a short payload.
func binaryFrame(p string) []byte { return append([]byte{0x82, byte(len(p))}, p...) }

func dialErr(t *testing.T, cfg live.Config) (*live.Error, time.Duration) {
	t.Helper()
	// The backstop is far past any deadline under test: without the
	// connect deadline the dial would wait for it.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := time.Now()
	s, err := live.Dial(ctx, cfg)
	el := time.Since(start)
	if err == nil {
		s.Close()
		t.Fatal("Dial succeeded")
	}
	var le *live.Error
	if !errors.As(err, &le) {
		t.Fatalf("%v is not a *live.Error", err)
	}
	return le, el
}

// An endpoint that accepts TCP but never answers the upgrade, or answers it
// but never completes the setup, fails within ConnectTimeout, however long
// the caller's context allows.
func TestConnectDeadline(t *testing.T) {
	const timeout = 400 * time.Millisecond
	silent := rawServer(t, func(c net.Conn) { io.Copy(io.Discard, c) })
	noSetup := rawServer(t, func(c net.Conn) {
		if upgrade(c) {
			io.Copy(io.Discard, c)
		}
	})
	for _, tc := range []struct {
		name, url string
		class     live.ErrorClass
		op        string
	}{
		{"no upgrade answer", silent, live.ClassUnreachable, "dial"},
		{"no setupComplete", noSetup, live.ClassTimeout, "setup"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			le, el := dialErr(t, live.Config{APIKey: "k", BaseURL: tc.url, ConnectTimeout: timeout})
			if le.Class != tc.class || le.Op != tc.op {
				t.Errorf("got %v (class %v, op %s), want %v in %s", le, le.Class, le.Op, tc.class, tc.op)
			}
			if el < timeout || el > 10*timeout {
				t.Errorf("failed after %v, want about %v", el, timeout)
			}
			if le.UserMessage() == "" || !le.Class.Retryable() {
				t.Errorf("user message %q, retryable %v", le.UserMessage(), le.Class.Retryable())
			}
		})
	}
}

// Dial failures say which setting is wrong: an endpoint that is not the Live
// API is ClassUnreachable, never a model problem.
func TestDialClasses(t *testing.T) {
	status := func(code int) string {
		s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(code) }))
		t.Cleanup(s.Close)
		return s.URL
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := "http://" + ln.Addr().String()
	ln.Close()
	for _, tc := range []struct {
		name, url string
		class     live.ErrorClass
	}{
		{"connection refused", refused, live.ClassUnreachable},
		{"unresolvable host", "http://livecord-no-such-host.invalid", live.ClassUnreachable},
		{"not found", status(404), live.ClassUnreachable},
		{"plain web server", status(200), live.ClassUnreachable},
		{"unauthorized", status(401), live.ClassAuth},
		{"rate limited", status(429), live.ClassQuota},
		{"unavailable", status(503), live.ClassTransient},
	} {
		t.Run(tc.name, func(t *testing.T) {
			le, _ := dialErr(t, live.Config{APIKey: "k", BaseURL: tc.url, ConnectTimeout: 5 * time.Second})
			if le.Class != tc.class || le.Op != "dial" {
				t.Errorf("got %v (class %v), want %v", le, le.Class, tc.class)
			}
		})
	}
}

// A server that drips a message every 240 ms never trips the stall timer;
// the turn deadline ends the turn anyway, and the session recovers. The
// deadline is derived from the first-audio latency of a reference turn in
// the same run, so a loaded machine still sees the drip before it.
func TestTurnDeadline(t *testing.T) {
	srv := livetest.NewServer(t, livetest.Options{Speed: 1})
	pcm := livetest.Loop([]int16{1000, -1000}, time.Second) // given up front: no synthesis time
	srv.Script(livetest.Reply{PCM: pcm, Transcript: "ref", Duration: 500 * time.Millisecond})
	ref := dial(t, config(srv, nil))
	start := time.Now()
	turn := send(t, ref, "reference")
	if ev, err := turn.Next(withDeadline(t, 20*time.Second)); err != nil || ev.Kind != live.EventAudio {
		t.Fatalf("reference turn: %v %v", ev.Kind, err)
	}
	firstAudio := time.Since(start)
	drain(t, turn)

	cfg := config(srv, nil)
	cfg.TurnTimeout = time.Second + 4*firstAudio
	cfg.StallTimeout = 3 * cfg.TurnTimeout
	s := dial(t, cfg)
	srv.Script(livetest.Reply{PCM: pcm, Duration: 2 * time.Minute})
	start = time.Now()
	r := drain(t, send(t, s, "drip"))
	el := time.Since(start)
	var le *live.Error
	if !errors.As(r.err, &le) || le.Class != live.ClassTimeout || le.PartialAudio == 0 {
		t.Fatalf("got %v, want a timeout after some audio", r.err)
	}
	if el < cfg.TurnTimeout || el >= cfg.StallTimeout {
		t.Errorf("turn ended after %v; deadline %v, stall %v", el, cfg.TurnTimeout, cfg.StallTimeout)
	}
	srv.Script(livetest.Reply{PCM: pcm, Transcript: "ok", Duration: 100 * time.Millisecond})
	if r := drain(t, send(t, s, "again")); r.err != nil || r.transcript != "ok" {
		t.Fatalf("after the deadline: %v %q", r.err, r.transcript)
	}
}

func withDeadline(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// A reply flooding far faster than real time past MaxReply ends at the cap:
// the audio up to it is kept, the turn says it was cut, the connection is
// dropped, and the next turn works.
func TestReplyCap(t *testing.T) {
	srv := livetest.NewServer(t, livetest.Options{Speed: math.Inf(1)})
	cfg := config(srv, nil)
	cfg.MaxReply = 3 * time.Second
	s := dial(t, cfg)
	srv.Script(livetest.Reply{Duration: 2 * time.Minute})
	turn := send(t, s, "flood")
	r := drain(t, turn)
	var le *live.Error
	if !errors.As(r.err, &le) || le.Class != live.ClassTooLong || le.PartialAudio != cfg.MaxReply {
		t.Fatalf("got %v (partial %v), want too-long after %v", r.err, le.PartialAudio, cfg.MaxReply)
	}
	pcm, _ := livetest.Speak("flood")
	want := pcmBytes(livetest.Loop(pcm, cfg.MaxReply))
	if !bytes.Equal(r.audio, want) || !bytes.Equal(turn.Audio(), want) {
		t.Errorf("kept %d bytes (Turn.Audio %d), want the first %d bytes of the reply", len(r.audio), len(turn.Audio()), len(want))
	}
	if m := le.UserMessage(); !bytes.Contains([]byte(m), []byte("cut off")) || !bytes.Contains([]byte(m), []byte("kept")) {
		t.Errorf("user message %q", m)
	}
	srv.Script(livetest.Reply{Transcript: "short", Duration: 100 * time.Millisecond})
	if r := drain(t, send(t, s, "again")); r.err != nil || r.transcript != "short" {
		t.Fatalf("after the cap: %v %q", r.err, r.transcript)
	}
	if n := len(srv.Conns()); n != 2 {
		t.Errorf("%d connections, want 2 (the flooded one dropped)", n)
	}
}

// Close returns promptly even when the server never answers the close
// frame (coder/websocket alone waits 5 s for the answer).
func TestCloseBounded(t *testing.T) {
	url := rawServer(t, func(c net.Conn) {
		if !upgrade(c) {
			return
		}
		if _, err := c.Write(binaryFrame(`{"setupComplete":{}}`)); err != nil {
			return
		}
		io.Copy(io.Discard, c) // reads everything, answers nothing
	})
	s := dial(t, live.Config{APIKey: "k", BaseURL: url})
	start := time.Now()
	s.Close()
	if el := time.Since(start); el > 4*time.Second {
		t.Errorf("Close took %v", el)
	}
}
