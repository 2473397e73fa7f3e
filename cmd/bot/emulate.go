package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strings"
	"time"

	"github.com/livecord/livecord/live/livetest"
)

// emulators are the in-repo emulators `bot emulate NAME` can run alone.
// Each runs until ctx ends, printing how to point a client at it.
var emulators = map[string]func(ctx context.Context, args []string, stdout, stderr io.Writer) error{
	"live": emulateLive,
}

// runEmulate is the emulate command.
func runEmulate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	names := make([]string, 0, len(emulators))
	for n := range emulators {
		names = append(names, n)
	}
	sort.Strings(names)
	if len(args) == 0 || emulators[args[0]] == nil {
		return fmt.Errorf("usage: bot emulate {%s} [flags]", strings.Join(names, "|"))
	}
	return emulators[args[0]](ctx, args[1:], stdout, stderr)
}

// emulateLive runs livetest until interrupted and prints the two variables
// that point `bot ask`, `bot chat`, the bot or the official SDK at it.
func emulateLive(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("emulate live", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:0", "address to listen on")
	speed := fs.Float64("speed", 20, "how many times faster than real time to stream audio")
	lifetime := fs.Duration("lifetime", 10*time.Minute, "end each connection after this long (goAway first), as the service does; 0 never")
	verbose := fs.Bool("v", false, "log every connection")
	if err := fs.Parse(args); err != nil {
		return err
	}
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelInfo
	}
	srv, err := livetest.New(livetest.Options{Addr: *addr, Speed: *speed, Lifetime: *lifetime,
		Logger: slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))})
	if err != nil {
		return err
	}
	defer srv.Close()
	fmt.Fprintf(stdout, "GEMINI_BASE_URL=%s\nGEMINI_API_KEY=%s\n", srv.URL(), srv.Key)
	fmt.Fprintln(stderr, "Live emulator running (Ctrl-C stops it). Use the two variables above, e.g.:")
	fmt.Fprintf(stderr, "  GEMINI_BASE_URL=%s GEMINI_API_KEY=%s go run ./cmd/bot ask \"Hello? Gemini are you there?\"\n", srv.URL(), srv.Key)
	<-ctx.Done()
	return nil
}
