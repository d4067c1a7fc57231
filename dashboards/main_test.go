package main

import (
	"flag"
	"testing"

	"footfall/internal/envflag"
)

func TestReadmeListsEveryFlag(t *testing.T) {
	var c config
	fs := flag.NewFlagSet("dashboards", flag.ContinueOnError)
	c.register(fs)
	if err := envflag.CheckDocumented(fs, "../README.md"); err != nil {
		t.Error(err)
	}
}
