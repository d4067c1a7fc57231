package app

import (
	"context"
	"flag"
	"strings"
	"testing"

	"footfall/internal/envflag"
)

func TestReadmeListsEveryFlag(t *testing.T) {
	var c Config
	fs := flag.NewFlagSet("dashboards", flag.ContinueOnError)
	c.RegisterFlags(fs)
	if err := envflag.CheckDocumented(fs, "../../README.md"); err != nil {
		t.Error(err)
	}
}

// TestStartRefusesBadBounds: a funnel sample too small to mean anything
// and a negative -max-reports stop the start with the flag's name, before
// anything connects.
func TestStartRefusesBadBounds(t *testing.T) {
	var good Config
	good.RegisterFlags(flag.NewFlagSet("dashboards", flag.ContinueOnError))
	for flagName, c := range map[string]Config{
		"-funnel-sample-events": func() Config { c := good; c.FunnelSample = minFunnelSample - 1; return c }(),
		"-max-reports":          func() Config { c := good; c.MaxReports = -1; return c }(),
	} {
		p, err := Start(context.Background(), c)
		if err == nil {
			p.Shutdown(context.Background())
			t.Errorf("%s: started, want refused", flagName)
		} else if !strings.HasPrefix(err.Error(), flagName+":") {
			t.Errorf("%s: %v, want the flag named", flagName, err)
		}
	}
}
