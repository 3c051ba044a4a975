package app

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"slices"
	"syscall"

	"github.com/lookout-dev/lookout/internal/config"
)

// Build identifies the binary, for `lookout version`.
type Build struct {
	Version, Commit, Date string
}

const usage = `lookout — real-time monitoring in one binary

Usage:
  lookout run [-config FILE] [-data DIR] [-listen ADDR] [-insecure-listen]
              [-log-format text|json] [-log-level info] [-print-default-config]
  lookout check -config FILE
  lookout version

Without -config, "lookout run" monitors this machine with the built-in default
configuration ("lookout run -print-default-config" prints it).
`

// Main runs the command line and returns the process exit code.
func Main(args []string, build Build, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "run":
		return cmdRun(args[1:], build, stdout, stderr)
	case "check":
		return cmdCheck(args[1:], stdout, stderr)
	case "version", "-version", "--version":
		fmt.Fprintf(stdout, "lookout %s (commit %s, built %s, %s %s/%s)\n",
			build.Version, build.Commit, build.Date, runtime.Version(), runtime.GOOS, runtime.GOARCH)
		return 0
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "lookout: unknown command %q\n\n%s", args[0], usage)
	return 2
}

func cmdRun(args []string, build Build, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var opts Options
	var printDefault bool
	fs.StringVar(&opts.ConfigPath, "config", "", "config file (default: the built-in configuration)")
	fs.StringVar(&opts.DataDir, "data", "", "data directory (overrides storage.path; default ./data)")
	fs.StringVar(&opts.Listen, "listen", "", "listen address (overrides server.listen; default 127.0.0.1:9470)")
	fs.BoolVar(&opts.InsecureListen, "insecure-listen", false, "allow a non-loopback listen address without API tokens")
	fs.StringVar(&opts.LogFormat, "log-format", "text", "log format: text or json")
	fs.StringVar(&opts.LogLevel, "log-level", "info", "log level: debug, info, warn or error")
	fs.BoolVar(&printDefault, "print-default-config", false, "print the built-in default configuration and exit")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "lookout run: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	if printDefault {
		_, _ = stdout.Write(config.DefaultYAML())
		return 0
	}
	opts.Build = build
	opts.Stderr = stderr
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := Run(ctx, opts); err != nil {
		var ce config.Errors
		if errors.As(err, &ce) {
			fmt.Fprintln(stderr, ce.Error())
		} else {
			fmt.Fprintf(stderr, "lookout: %v\n", err)
		}
		return 1
	}
	return 0
}

func cmdCheck(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "config file to check")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *path == "" && fs.NArg() == 1 {
		*path = fs.Arg(0)
	}
	if *path == "" {
		fmt.Fprintln(stderr, "lookout check: -config FILE is required")
		return 2
	}
	// Every problem at once: the expressions and templates of the parts
	// that decoded are compiled even when others have structural errors.
	cfg, err := config.LoadPartial(*path)
	if cfg != nil {
		err = joinErrors(err, Check(cfg))
	}
	if err != nil {
		var ce config.Errors
		if errors.As(err, &ce) {
			fmt.Fprintln(stderr, ce.Error())
		} else {
			fmt.Fprintf(stderr, "%s: %v\n", *path, err)
		}
		return 1
	}
	fmt.Fprintf(stdout, "%s: ok (%d sources, %d pipelines, %d rules, %d notifiers)\n",
		*path, len(cfg.Sources), len(cfg.Pipelines), len(cfg.Rules), len(cfg.Notifiers))
	return 0
}

// joinErrors merges config errors, in line order; a non-config error wins.
func joinErrors(a, b error) error {
	var all config.Errors
	for _, err := range []error{a, b} {
		var ce config.Errors
		switch {
		case err == nil:
		case errors.As(err, &ce):
			all = append(all, ce...)
		default:
			return err
		}
	}
	if len(all) == 0 {
		return nil
	}
	slices.SortStableFunc(all, func(x, y config.Error) int { return x.Line - y.Line })
	return all
}
