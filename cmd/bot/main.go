// Command bot is livecord: a Discord bot that speaks Gemini Live replies in
// voice channels. Its subcommands are listed in commands, each written in a
// file of its own.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"syscall"

	"github.com/joho/godotenv"
)

// command is one subcommand of the binary.
type command struct {
	name    string
	summary string
	// run gets the arguments after the subcommand's name; ctx is cancelled on
	// SIGINT or SIGTERM.
	run func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

// commands lists the subcommands, in usage order.
var commands = []command{
	{name: "run", summary: "the Discord bot (default)", run: runBot},
	{name: "ask", summary: "one Live turn from the terminal: prints the reply text, writes reply.wav", run: runAsk},
	{name: "chat", summary: "a multi-turn Live conversation in the terminal (q quits; audio_N.wav per turn)", run: runChat},
	{name: "check", summary: "validate configuration and credentials against Discord and Gemini (takes run's flags)", run: runCheck},
	{name: "health", summary: "ask a running bot's /healthz; exits 1 unless healthy (Docker HEALTHCHECK)", run: runHealthcheck},
	{name: "sandbox", summary: "try /ask offline on the in-repo emulators: writes reply.wav and heard.wav, prints timings", run: runSandbox},
	{name: "emulate", summary: "run an in-repo emulator alone (emulate live: the Gemini Live service)", run: runEmulate},
}

func main() {
	loadDotEnv()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := dispatch(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// loadDotEnv reads ./.env into the environment: it fills in what the
// environment lacks, and the environment wins. A missing file is fine.
func loadDotEnv() { _ = godotenv.Load() }

func dispatch(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	name := "run"
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		name, args = args[0], args[1:]
	}
	if name == "help" || name == "-h" || name == "--help" {
		usage(stdout)
		return 0
	}
	i := slices.IndexFunc(commands, func(c command) bool { return c.name == name })
	if i < 0 {
		fmt.Fprintf(stderr, "bot: unknown command %q\n\n", name)
		usage(stderr)
		return 2
	}
	err := commands[i].run(ctx, args, stdout, stderr)
	if errors.Is(err, flag.ErrHelp) {
		// The flag set has printed the command's usage already.
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "bot %s: %v\n", name, err)
		return 1
	}
	return 0
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: bot [command] [flags]\n\ncommands:")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-8s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nRun 'bot COMMAND -h' for a command's flags. With no command, bot runs the Discord bot.")
}
