package app

import (
	"flag"
	"testing"

	"footfall/internal/envflag"
)

func TestReadmeListsEveryFlag(t *testing.T) {
	var c Config
	fs := flag.NewFlagSet("processor", flag.ContinueOnError)
	c.RegisterFlags(fs)
	if err := envflag.CheckDocumented(fs, "../../README.md"); err != nil {
		t.Error(err)
	}
}
