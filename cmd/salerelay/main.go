// Command salerelay relays sale decisions from Appwrite to Pusher through NATS JetStream.
// See README.md; `salerelay help` lists the commands.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"syscall"

	"github.com/salerelay/salerelay/cmd/internal/app"
	"github.com/salerelay/salerelay/cmd/internal/config"
)

// Set at build time: -ldflags "-X main.version=v1.2.3 -X main.commit=abc123".
var (
	version = "dev"
	commit  = "none"
)

const usage = `usage: salerelay <command> [arguments]

commands:
  serve                              webhook receiver, old endpoint, admin API and workers
  dev                                serve with everything local, for trying it out
  dlq list [--json]                  dead-lettered events
  dlq show ID                        one record in full
  dlq replay ID... | --all [--since DURATION]
  dlq purge ID... | --all
  reconcile [--since DURATION] [--dry-run]
  version                            version, commit and Go version

Configuration comes from the environment; see README.md.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// Exit codes (SPEC §5).
const (
	exitOK     = 0
	exitFailed = 1
	exitUsage  = 2
)

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	switch cmd, rest := args[0], args[1:]; cmd {
	case "serve":
		return serve(ctx, stderr, false)
	case "dev":
		return serve(ctx, stderr, true)
	case "dlq":
		return dlqCmd(ctx, rest, stdout, stderr)
	case "reconcile":
		return reconcileCmd(ctx, rest, stdout, stderr)
	case "version", "--version":
		fmt.Fprintf(stdout, "salerelay %s (commit %s, %s)\n", version, commit, runtime.Version())
		return exitOK
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return exitOK
	default:
		fmt.Fprintf(stderr, "salerelay: unknown command %q\n\n%s", cmd, usage)
		return exitUsage
	}
}

// loadConfig reads and validates the environment; problems are printed, one per line.
func loadConfig(stderr io.Writer, need config.Need) (config.Config, bool) {
	cfg, err := config.Load()
	// Unparseable variables fall back to their defaults, so the rest is still checked.
	err = errors.Join(err, cfg.Validate(need))
	if err != nil {
		fmt.Fprintln(stderr, "salerelay: invalid configuration:")
		for _, e := range unjoin(err) {
			fmt.Fprintf(stderr, "  %s\n", e)
		}
		return cfg, false
	}
	return cfg, true
}

func serve(ctx context.Context, stderr io.Writer, dev bool) int {
	cfg, ok := loadConfig(stderr, config.Need{Pusher: !dev})
	if !ok {
		return exitUsage
	}

	if dev {
		local, host, err := app.StartDevPusher(os.Stdout)
		if err != nil {
			fmt.Fprintln(stderr, "salerelay:", err)
			return exitFailed
		}
		defer local.Close()
		cfg = app.DevConfig(cfg, host)
	}

	log := app.NewLogger(stderr, cfg.LogLevel, cfg.LogFormat)
	a, err := app.New(ctx, cfg, app.Options{Logger: log})
	if err != nil {
		log.Error("start failed", "err", err)
		return exitFailed
	}
	if dev {
		app.PrintDevBanner(os.Stdout, cfg)
	}
	if err := a.Run(ctx); err != nil {
		log.Error("stopped with error", "err", err)
		return exitFailed
	}
	return exitOK
}

func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, unjoin(e)...)
		}
		return out
	}
	return []error{errors.Unwrap(err), err}[1:]
}
