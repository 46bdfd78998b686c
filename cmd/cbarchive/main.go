// Command cbarchive archives the call-back history of Volcengine Live into PostgreSQL.
//
// See docs/reference.md for commands, settings and exit codes: 0 every domain caught up, 1 a
// domain failed for a reason a retry may fix, 2 usage or configuration a retry cannot fix.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/alecthomas/kong"

	"github.com/cbarchive/cbarchive/extract"
	"github.com/cbarchive/cbarchive/internal/redact"
	"github.com/cbarchive/cbarchive/load"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// Exit codes (docs/reference.md, "Exit codes").
const (
	exitOK     = 0
	exitFailed = 1 // a domain failed for a reason a retry may fix, or a signal stopped the run
	exitUsage  = 2 // usage or configuration a retry cannot fix, found before or during the run
)

// CLI is the command line.
type CLI struct {
	Settings

	Migrate     MigrateCmd     `cmd:"" help:"Schema migrations: up, down (one step) or status."`
	Sync        SyncCmd        `cmd:"" help:"Incremental run over every domain (the CronJob's command)."`
	Backfill    BackfillCmd    `cmd:"" help:"Re-archive a past range, for incidents."`
	Status      StatusCmd      `cmd:"" help:"Per domain: watermark, lag, last run and its outcome."`
	Verify      VerifyCmd      `cmd:"" help:"Compare the API's counts per day with the archive's rows."`
	Renormalize RenormalizeCmd `cmd:"" help:"Re-derive the normalized columns from raw."`
	Version     VersionCmd     `cmd:"" help:"Print the version."`
}

// env is what a command runs with.
type env struct {
	ctx    context.Context
	stdout io.Writer
	stderr io.Writer
	red    *redact.Replacer
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run parses args and runs the command; it returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var cli CLI
	cli.AccessKey = os.Getenv("VOLC_ACCESSKEY")
	cli.SecretKey = os.Getenv("VOLC_SECRETKEY")
	red := redact.New(cli.SecretKey, redact.Password(os.Getenv("DATABASE_URL")))
	safeOut := &redactingWriter{w: stdout, r: red}
	safeErr := &redactingWriter{w: stderr, r: red}

	if len(args) > 0 && args[0] == "help" {
		// `cbarchive help [COMMAND...]` is `cbarchive [COMMAND...] --help`.
		args = append(append([]string{}, args[1:]...), "--help")
	}
	parser, err := kong.New(&cli,
		kong.Name("cbarchive"),
		kong.Description("Archive the call-back history of Volcengine Live into PostgreSQL.\n\n"+
			"`cbarchive help COMMAND` shows a command's own flags, then the settings; every setting is also an environment "+
			"variable (shown as $NAME), the flag wins. Credentials come from VOLC_ACCESSKEY and VOLC_SECRETKEY in the "+
			"environment. Exit codes: 0 caught up; 1 failed, a retry may fix it; 2 usage or configuration a retry cannot fix. "+
			"Reference: docs/reference.md."),
		kong.ExplicitGroups(settingGroups),
		kong.Writers(safeOut, safeErr),
		kong.Exit(func(int) {}),
		kong.UsageOnError(),
		kong.Vars{"max_conns": strconv.Itoa(load.DefaultMaxConns)},
	)
	if err != nil {
		fmt.Fprintf(safeErr, "cbarchive: internal error building the command line: %v\n", err)
		return exitUsage
	}
	kctx, err := parser.Parse(args)
	if err != nil {
		if isHelp(args) {
			return exitOK
		}
		fmt.Fprintf(safeErr, "cbarchive: %v\nRun `cbarchive help` (or `cbarchive help COMMAND`) for the commands, settings and accepted values.\n", err)
		return exitUsage
	}
	if isHelp(args) {
		return exitOK
	}
	// The URL's password is known only now if it came from a flag.
	red = redact.New(cli.SecretKey, redact.Password(cli.DatabaseURL))
	safeOut.r, safeErr.r = red, red

	e := &env{ctx: ctx, stdout: safeOut, stderr: safeErr, red: red}
	err = kctx.Run(e, &cli.Settings)
	var fe *failedError
	if err != nil && !errors.As(err, &fe) {
		// A failedError has been logged by the command; anything else is said here.
		fmt.Fprintf(safeErr, "cbarchive: %v\n", err)
	}
	return exitCode(err)
}

// exitCode maps a command's error to the exit code: 2 for usage and for configuration that no
// retry can fix (credentials refused by the API, a database role, password, database or
// privilege refused, a schema this binary cannot use), 1 for anything a retry may fix.
func exitCode(err error) int {
	var ue *usageError
	var fe *failedError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ue):
		return exitUsage
	case errors.As(err, &fe) && fe.config:
		return exitUsage
	case isConfigError(err):
		return exitUsage
	default:
		return exitFailed
	}
}

// isConfigError reports whether err is configuration that a retry cannot fix.
func isConfigError(err error) bool {
	return load.IsConfigError(err) || extract.IsCredentialError(err)
}

// failedError is a run that failed and has already logged why ("run finished"): n domains
// failed (0 when the run failed before any domain started), config says whether a retry cannot
// fix it, err is the run-level cause if any.
type failedError struct {
	n      int
	config bool
	err    error
}

func (e *failedError) Error() string {
	if e.err != nil {
		return e.err.Error()
	}
	return fmt.Sprintf("%d domain(s) failed", e.n)
}

func (e *failedError) Unwrap() error { return e.err }

func isHelp(args []string) bool {
	for _, a := range args {
		if a == "--help" || a == "-h" {
			return true
		}
	}
	return false
}

// VersionCmd prints the version.
type VersionCmd struct{}

// Run prints the version.
func (c *VersionCmd) Run(e *env, _ *Settings) error {
	_, err := fmt.Fprintf(e.stdout, "cbarchive %s\n", strings.TrimSpace(version))
	return err
}
