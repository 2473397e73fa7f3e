package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/livecord/livecord/live"
)

// runChat is the chat command, reading stdin.
func runChat(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return chat(ctx, args, os.Stdin, stdout, stderr)
}

// chat reproduces the seed notebook's loop: one session, one turn per
// line, the reply's text printed and its audio saved as audio_N.wav.
func chat(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("chat", flag.ContinueOnError)
	fs.SetOutput(stderr)
	textOnly := fs.Bool("text", false, "ask for text replies (only for models that allow TEXT)")
	dir := fs.String("dir", ".", "where to write audio_N.wav")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := loadLiveConfig(os.Getenv)
	if err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	if *textOnly {
		cfg.Modality = live.Text
	}
	sess, err := live.Dial(ctx, cfg)
	if err != nil {
		return liveFailure(err)
	}
	defer sess.Close()

	// Reading stdin cannot be cancelled; this goroutine ends at EOF (or with
	// the process) and hands lines over only while someone listens.
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdin)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			case <-ctx.Done():
				return
			}
		}
	}()
	fmt.Fprintln(stderr, "Type a message, q to quit.")
	for n := 1; ; {
		fmt.Fprint(stderr, "> ")
		var line string
		var ok bool
		select {
		case line, ok = <-lines:
		case <-ctx.Done():
			return nil
		}
		if !ok {
			return nil
		}
		line = strings.TrimSpace(line)
		if line == "q" {
			return nil
		}
		if line == "" {
			continue
		}
		turn, err := sess.Send(ctx, line)
		if err != nil {
			fmt.Fprintln(stderr, liveFailure(err))
			continue
		}
		path := fmt.Sprintf("%s/audio_%d.wav", strings.TrimRight(*dir, "/"), n)
		if err := printTurn(ctx, turn, path, stdout, stderr); err != nil {
			fmt.Fprintln(stderr, err) // the conversation goes on: the next turn reconnects
		}
		if len(turn.Audio()) > 0 {
			n++
		}
	}
}
