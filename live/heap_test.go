package live_test

import (
	"bufio"
	"context"
	"fmt"
	"math"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/livecord/livecord/live"
	"github.com/livecord/livecord/live/livetest"
)

// emulatorEnv makes the test binary run only an emulator (see TestMain), so
// that a heap measurement sees the client alone.
const emulatorEnv = "LIVECORD_LIVE_EMULATOR_PROCESS"

// serveEmulator runs an emulator whose every reply is 6 s of audio,
// streamed without pauses; it prints its URL and key and stops when stdin
// closes.
func serveEmulator() {
	srv, err := livetest.New(livetest.Options{Speed: math.Inf(1)})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	srv.Respond(func(livetest.Request) livetest.Reply {
		return livetest.Reply{Transcript: "A long answer.", Duration: 6 * time.Second}
	})
	fmt.Println(srv.URL(), srv.Key)
	bufio.NewReader(os.Stdin).ReadString('\n')
	srv.Close()
	os.Exit(0)
}

// heapInUse is the live heap plus goroutine stacks after a full collection.
func heapInUse() (heap, stack uint64) {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc, ms.StackInuse
}

// An idle Session keeps nothing of its finished turns: each turn (with its
// 6 s, 288 KB reply) becomes unreachable once the caller drops it, and an
// idle session costs at most 32 KiB of heap and stack (issue 17).
func TestIdleSessionHeap(t *testing.T) {
	if testing.Short() {
		t.Skip("starts an emulator process")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), emulatorEnv+"=1")
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	defer stdin.Close()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	url, key, ok := strings.Cut(strings.TrimSpace(line), " ")
	if err != nil || !ok {
		t.Fatalf("emulator said %q: %v", line, err)
	}
	cfg := live.Config{APIKey: key, BaseURL: url, OutputTranscription: true, Compression: true}

	const n = 24
	freed := make(chan struct{}, n)
	converse := func(s *live.Session) {
		turn := send(t, s, "Tell me something long.")
		if r := drain(t, turn); r.err != nil || len(r.audio) != 6*48000 {
			t.Fatalf("turn: %v, %d bytes", r.err, len(r.audio))
		}
		runtime.SetFinalizer(turn, func(*live.Turn) { freed <- struct{}{} })
	}
	// Warm up pools, the HTTP transport and the emulator's caches.
	w := dial(t, cfg)
	converse(w)
	w.Close()
	<-freedAfterGC(t, freed, 1)

	heap0, stack0 := heapInUse()
	g0 := runtime.NumGoroutine()
	sessions := make([]*live.Session, n)
	for i := range sessions {
		sessions[i] = dial(t, cfg)
		converse(sessions[i])
	}
	<-freedAfterGC(t, freed, n) // no finished turn is reachable from a session
	heap1, stack1 := heapInUse()
	perHeap := (int64(heap1) - int64(heap0)) / n
	perStack := (int64(stack1) - int64(stack0)) / n
	goroutines := runtime.NumGoroutine() - g0
	t.Logf("idle live.Session: %d B heap, %d goroutine(s) with %d B of stack each (%d sessions, each after a 288 KB reply)",
		perHeap, goroutines/n, perStack, n)
	if perHeap > 32<<10 {
		t.Errorf("an idle session holds %d bytes of heap, want at most 32 KiB", perHeap)
	}
	// The stack is one reader goroutine's (8 KiB measured without the race
	// detector, which doubles it); how far the runtime has shrunk it varies,
	// so the count is what is held to.
	if goroutines != n {
		t.Errorf("%d goroutines for %d idle sessions, want one each", goroutines, n)
	}
	runtime.KeepAlive(sessions)

	// Reference in the same run: a bare coder/websocket connection to the
	// same endpoint after its setup, with one goroutine blocked reading.
	heap0, _ = heapInUse()
	u := "ws" + strings.TrimPrefix(url, "http") + "/ws/google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent"
	var wg sync.WaitGroup
	bare := make([]*websocket.Conn, n)
	for i := range bare {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		ws, _, err := websocket.Dial(ctx, u, &websocket.DialOptions{HTTPHeader: http.Header{"X-Goog-Api-Key": {key}}})
		if err == nil {
			err = ws.Write(ctx, websocket.MessageText, []byte(`{"setup":{"model":"models/gemini-3.8-live"}}`))
		}
		if err == nil {
			_, _, err = ws.Read(ctx)
		}
		cancel()
		if err != nil {
			t.Fatalf("bare connection: %v", err)
		}
		bare[i] = ws
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				if _, _, err := ws.Read(context.Background()); err != nil {
					return
				}
			}
		}()
	}
	heap1, _ = heapInUse()
	perBare := (int64(heap1) - int64(heap0)) / n
	for _, ws := range bare {
		ws.CloseNow()
	}
	wg.Wait()
	t.Logf("reference: a bare coder/websocket connection holds %d B of heap; an idle live.Session is %.2fx that", perBare, float64(perHeap)/float64(perBare))
}

// freedAfterGC collects until want finalizers have run; it fails the test
// if they do not within a deadline (a turn still reachable never is).
func freedAfterGC(t *testing.T, freed chan struct{}, want int) <-chan struct{} {
	t.Helper()
	done := make(chan struct{})
	deadline := time.Now().Add(10 * time.Second)
	got := 0
	for got < want {
		runtime.GC()
		select {
		case <-freed:
			got++
			continue
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d finished turns still reachable after GC", want-got, want)
		}
	}
	close(done)
	return done
}
