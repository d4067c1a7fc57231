package main

import (
	"flag"
	"os"
	"testing"

	"footfall/internal/envflag"
)

func TestReadmeListsEveryFlag(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	var c config
	fs := flag.NewFlagSet("processor", flag.ContinueOnError)
	c.register(fs)
	if missing := envflag.Undocumented(fs, string(readme)); len(missing) > 0 {
		t.Errorf("README does not document %v", missing)
	}
}
