// Command flockctl is the FlockMQ tenants' command-line tool: sign up, manage
// devices and credentials, publish and subscribe as a device, decode MQTT
// packets and run benchmarks. Each subcommand lives in its own file and
// registers itself with register.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"sort"
	"syscall"
)

// command is one flockctl subcommand.
type command struct {
	name    string // first word on the command line, e.g. "devices"
	summary string // one line for `flockctl help`
	run     func(ctx context.Context, args []string) error
}

var commands = map[string]command{}

// register adds a subcommand; it panics on a duplicate name (a programming error).
func register(c command) {
	if _, dup := commands[c.name]; dup {
		panic("flockctl: duplicate command " + c.name)
	}
	commands[c.name] = c
}

// errUsage marks an error caused by the command line; main prints it with a hint.
var errUsage = errors.New("usage")

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:])
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "flockctl:", err)
		if errors.Is(err, errUsage) {
			fmt.Fprintln(os.Stderr, "run 'flockctl help' for the list of commands")
			os.Exit(2)
		}
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage()
		return nil
	}
	c, ok := commands[args[0]]
	if !ok {
		return fmt.Errorf("unknown command %q: %w", args[0], errUsage)
	}
	return c.run(ctx, args[1:])
}

func usage() {
	fmt.Println("flockctl — the FlockMQ command-line tool")
	fmt.Println()
	fmt.Println("Commands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Printf("  %-12s %s\n", n, commands[n].summary)
	}
	fmt.Println()
	fmt.Println("Run 'flockctl <command> -h' for a command's flags.")
}
