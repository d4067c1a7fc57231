package server

import (
	"flag"
	"os"
	"testing"

	"footfall/internal/envflag"
)

func TestReadmeListsEveryFlag(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	var c Config
	fs := flag.NewFlagSet("collector", flag.ContinueOnError)
	c.RegisterFlags(fs)
	if missing := envflag.Undocumented(fs, string(readme)); len(missing) > 0 {
		t.Errorf("README does not document %v", missing)
	}
}

func TestParseSiteKeys(t *testing.T) {
	keys, err := parseSiteKeys("demo=demo-secret-key, shop=another-long-key")
	if err != nil || keys["demo-secret-key"] != "demo" || keys["another-long-key"] != "shop" {
		t.Fatalf("%v %v", keys, err)
	}
	for _, bad := range []string{"demo", "demo=short", "=abcdefghij"} {
		if _, err := parseSiteKeys(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
