package app

import (
	"flag"
	"testing"

	"footfall/internal/envflag"
)

func TestReadmeListsEveryFlag(t *testing.T) {
	var c Config
	fs := flag.NewFlagSet("collector", flag.ContinueOnError)
	c.RegisterFlags(fs)
	if err := envflag.CheckDocumented(fs, "../../README.md"); err != nil {
		t.Error(err)
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
