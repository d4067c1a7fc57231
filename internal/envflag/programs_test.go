package envflag_test

import (
	"flag"
	"fmt"
	"regexp"
	"strings"
	"testing"

	collector "footfall/collector/app"
	dashboards "footfall/dashboards/app"
	"footfall/internal/envflag"
	processor "footfall/processor/app"
)

// secretName is a flag whose name says it holds a secret, or a URL that
// may carry one (user:password@, a token in the path or query).
var secretName = regexp.MustCompile(`secret|password|passwd|token|credential|dsn|-urls?$`)

// notSecret are flags secretName matches that hold no secret, each with
// why; a bool flag holds none either.
var notSecret = map[string]string{
	"dashboards -collector-url": "the collector's public address, written into every newsletter link",
}

// TestProgramsHideSecrets: in each program's start-up log line (Describe
// with the program's Secrets), no flag listed as secret shows its value,
// and every flag whose name says it holds a secret is listed (the
// processor's -erasure-secret was printed in clear).
func TestProgramsHideSecrets(t *testing.T) {
	for _, p := range []struct {
		name     string
		register func(*flag.FlagSet)
		secrets  map[string]bool
	}{
		{"collector", func(fs *flag.FlagSet) { new(collector.Config).RegisterFlags(fs) }, collector.Secrets},
		{"processor", func(fs *flag.FlagSet) { new(processor.Config).RegisterFlags(fs) }, processor.Secrets},
		{"dashboards", func(fs *flag.FlagSet) { new(dashboards.Config).RegisterFlags(fs) }, dashboards.Secrets},
	} {
		fs := flag.NewFlagSet(p.name, flag.ContinueOnError)
		p.register(fs)
		fs.VisitAll(func(f *flag.Flag) {
			b, isBool := f.Value.(interface{ IsBoolFlag() bool })
			if secretName.MatchString(f.Name) && !p.secrets[f.Name] && notSecret[p.name+" -"+f.Name] == "" && !(isBool && b.IsBoolFlag()) {
				t.Errorf("%s: -%s looks like a secret but is not in Secrets: its value would be logged at start", p.name, f.Name)
			}
		})
		set := map[string]string{}
		for name := range p.secrets {
			if fs.Lookup(name) == nil {
				t.Errorf("%s: Secrets names -%s, which the program lacks", p.name, name)
				continue
			}
			v := "https://user:sentinel-" + name + "@x.example/sentinel-" + name
			if err := fs.Set(name, v); err != nil {
				t.Fatalf("%s: -%s: %v", p.name, name, err)
			}
			set[name] = "sentinel-" + name
		}
		line := fmt.Sprint(envflag.Describe(fs, p.secrets)...)
		for name, sentinel := range set {
			if strings.Contains(line, sentinel) {
				t.Errorf("%s: the start-up log shows -%s's value", p.name, name)
			}
		}
	}
}
