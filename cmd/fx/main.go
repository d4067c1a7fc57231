// Command fx loads the exchange-rate table the reports convert amounts
// with (internal/money): a CSV of daily reference rates in the ECB's
// layout (eurofxref-hist.csv, "Date,USD,JPY,..." rows of rates against
// the euro), from a file or standard input.
//
//	bin/fx load eurofxref-hist.csv
//	curl -s .../eurofxref-hist.zip | funzip | bin/fx load -
//	bin/fx list
//
// The ClickHouse flags are every program's (-clickhouse-addr...,
// FOOTFALL_CLICKHOUSE_*); the user must be allowed to write.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"footfall/internal/chsql"
	"footfall/internal/envflag"
	"footfall/internal/money"
)

func main() { os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) }

const usage = "usage: fx load FILE|-   (the ECB's CSV of daily rates)\n       fx list\n"

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 || (args[0] != "load" && args[0] != "list") {
		fmt.Fprint(stderr, usage)
		return 2
	}
	cmd := args[0]
	var cfg chsql.Config
	fs := flag.NewFlagSet("fx "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg.RegisterFlags(fs)
	if err := envflag.Parse(fs, args[1:], nil); err != nil {
		return 2
	}
	if cmd == "load" && fs.NArg() != 1 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	db, err := chsql.Open(ctx, cfg)
	if err != nil {
		fmt.Fprintln(stderr, "fx:", err)
		return 1
	}
	defer db.Close()
	if cmd == "load" {
		in := stdin
		if name := fs.Arg(0); name != "-" {
			f, err := os.Open(name)
			if err != nil {
				fmt.Fprintln(stderr, "fx:", err)
				return 1
			}
			defer f.Close()
			in = f
		}
		rates, err := money.ParseECB(in)
		if err != nil {
			fmt.Fprintln(stderr, "fx: read rates:", err)
			return 1
		}
		n, err := money.Load(ctx, db, rates)
		if err != nil {
			fmt.Fprintln(stderr, "fx:", err)
			return 1
		}
		fmt.Fprintf(stdout, "loaded %d rates (the euro's own included)\n", n)
	}
	loaded, err := money.List(ctx, db)
	if err != nil {
		fmt.Fprintln(stderr, "fx: list:", err)
		return 1
	}
	for _, l := range loaded {
		fmt.Fprintf(stdout, "%s %s to %s, %d days\n", l.Currency, l.First.Format(time.DateOnly), l.Last.Format(time.DateOnly), l.Days)
	}
	return 0
}
