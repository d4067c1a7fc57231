// Package envflag parses a program's flags and lets every flag that was not
// given on the command line fall back to an environment variable, so the same
// binary is configured by flags in development and by env in deployment.
package envflag

import (
	"flag"
	"fmt"
	"os"
	"strings"
)

// EnvName is the environment variable that backs a flag: -kafka-brokers is
// FOOTFALL_KAFKA_BROKERS.
func EnvName(flagName string) string {
	return "FOOTFALL_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// Parse parses args into fs, then sets every flag not given in args from its
// environment variable when that is set. getenv is os.Getenv outside tests.
func Parse(fs *flag.FlagSet, args []string, getenv func(string) string) error {
	if getenv == nil {
		getenv = os.Getenv
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if given[f.Name] || err != nil {
			return
		}
		name := EnvName(f.Name)
		if v := getenv(name); v != "" {
			if e := f.Value.Set(v); e != nil {
				err = fmt.Errorf("environment %s=%q for -%s: %w", name, v, f.Name, e)
			}
		}
	})
	return err
}

// Secret marks flags whose values Describe must not print.
type Secret map[string]bool

// Describe lists every flag and its effective value, one "name=value" per
// line, hiding secrets, for the start-up log.
func Describe(fs *flag.FlagSet, secret Secret) []any {
	var out []any
	fs.VisitAll(func(f *flag.Flag) {
		v := f.Value.String()
		if secret[f.Name] && v != "" {
			v = "(set)"
		}
		out = append(out, f.Name, v)
	})
	return out
}

// CheckDocumented returns an error naming the flags of fs that the file at
// path (a README) does not mention as `-name`, so that a test keeps the
// documentation complete.
func CheckDocumented(fs *flag.FlagSet, path string) error {
	doc, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var missing []string
	fs.VisitAll(func(f *flag.Flag) {
		if !strings.Contains(string(doc), "`-"+f.Name+"`") {
			missing = append(missing, f.Name)
		}
	})
	if len(missing) > 0 {
		return fmt.Errorf("%s does not document %v", path, missing)
	}
	return nil
}
