package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/livecord/livecord/audio/wav"
	"github.com/livecord/livecord/live"
)

// runAsk reproduces the seed notebook's single turn: send the prompt, print
// the reply's text, save its audio as a 24 kHz mono 16-bit WAV.
func runAsk(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("ask", flag.ContinueOnError)
	fs.SetOutput(stderr)
	textOnly := fs.Bool("text", false, "ask for a text reply (only for models that allow TEXT)")
	out := fs.String("o", "reply.wav", "where to write the reply audio")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: bot ask [-text] [-o reply.wav] \"prompt\"\n\nUses GEMINI_API_KEY, GEMINI_MODEL, GEMINI_BASE_URL… (see .env.example).")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	prompt := strings.TrimSpace(strings.Join(fs.Args(), " "))
	if prompt == "" {
		fs.Usage()
		return errors.New("no prompt given")
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
	turn, err := sess.Send(ctx, prompt)
	if err != nil {
		return liveFailure(err)
	}
	return printTurn(ctx, turn, *out, stdout, stderr)
}

// printTurn streams a turn with a progress line on stderr, then prints the
// reply text and writes its audio (also the partial audio of a failed turn).
func printTurn(ctx context.Context, turn *live.Turn, wavPath string, stdout, stderr io.Writer) error {
	start := time.Now()
	chunks, progress := 0, false
	var turnErr error
	for {
		ev, err := turn.Next(ctx)
		if err == io.EOF {
			break
		}
		if err != nil {
			turnErr = err
			break
		}
		if ev.Kind == live.EventAudio {
			chunks++
			progress = true
			fmt.Fprintf(stderr, "\rreceiving audio: %5.1f s in %d chunks (%.1f s elapsed)",
				live.AudioDuration(len(turn.Audio())).Seconds(), chunks, time.Since(start).Seconds())
		}
	}
	if progress {
		fmt.Fprintln(stderr)
	}
	if text := turn.Transcript(); text != "" {
		fmt.Fprintln(stdout, text)
	}
	for _, src := range turn.Sources() {
		fmt.Fprintf(stdout, "source: %s %s\n", src.URI, src.Title)
	}
	if audio := turn.Audio(); len(audio) > 0 {
		if err := writeWAV(wavPath, audio); err != nil {
			return err
		}
		fmt.Fprintf(stderr, "wrote %s (%.1f s, 24 kHz mono 16-bit)\n", wavPath, live.AudioDuration(len(audio)).Seconds())
	}
	if turnErr != nil {
		return liveFailure(turnErr)
	}
	return nil
}

func writeWAV(path string, pcm []byte) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("write reply audio: %w", err)
	}
	if err := wav.Encode(f, live.SampleRate, 1, pcm); err != nil {
		f.Close()
		return fmt.Errorf("write reply audio: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write reply audio: %w", err)
	}
	return nil
}

// liveFailure puts the plain-words explanation first and the details after.
func liveFailure(err error) error {
	var le *live.Error
	if errors.As(err, &le) {
		return fmt.Errorf("%s\n  (%w)", le.UserMessage(), err)
	}
	return err
}
