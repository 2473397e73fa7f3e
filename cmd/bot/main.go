// Command bot is livecord: a Discord bot that speaks Gemini Live replies in
// voice channels. Subcommands register themselves in commands (one file each),
// so the pieces of the binary can grow independently.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"syscall"

	"github.com/joho/godotenv"
)

// command is one subcommand of the binary.
type command struct {
	summary string
	// run gets the arguments after the subcommand's name; ctx is cancelled on
	// SIGINT or SIGTERM.
	run func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

var commands = map[string]command{}

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
	cmd, ok := commands[name]
	if !ok {
		fmt.Fprintf(stderr, "bot: unknown command %q\n\n", name)
		usage(stderr)
		return 2
	}
	err := cmd.run(ctx, args, stdout, stderr)
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
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-8s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w, "\nRun 'bot COMMAND -h' for a command's flags. With no command, bot runs the Discord bot.")
}
