// Package deploy_test checks the deployment files that cannot run here
// (the Dockerfile, compose/compose.yaml, k8s/) with the parsers of their
// own formats: BuildKit's Dockerfile parser and linter, compose-go's
// loader (the Compose schema, interpolation, merges), and the Kubernetes
// API types decoded strictly. Beyond the format, each file must agree
// with the programs: every FOOTFALL_* variable it sets is a flag of the
// program it runs, with a value that flag takes; ports, probe paths and
// grace periods match what the programs listen on, serve and need.
package deploy_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/linter"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/yaml"

	collector "footfall/collector/app"
	dashboards "footfall/dashboards/app"
	"footfall/internal/envflag"
	"footfall/internal/ops"
	processor "footfall/processor/app"
)

// program is one of the three programs as its main.go sets it up.
type program struct {
	name     string
	register func(*flag.FlagSet)
	// grace is how long the program may take to stop after SIGTERM,
	// from its parsed flags (its main.go's shutdown).
	grace func(fs *flag.FlagSet) time.Duration
}

var programs = map[string]program{
	"collector": {"collector", func(fs *flag.FlagSet) { new(collector.Config).RegisterFlags(fs) },
		// Shutdown: /readyz fails for -shutdown-delay, then Kafka gets
		// -shutdown-timeout for what is queued.
		func(fs *flag.FlagSet) time.Duration {
			return duration(fs, "shutdown-delay") + duration(fs, "shutdown-timeout")
		}},
	"processor": {"processor", func(fs *flag.FlagSet) { new(processor.Config).RegisterFlags(fs) },
		// processor/main.go: twice -shutdown-timeout (the final insert,
		// then the queued webhook posts).
		func(fs *flag.FlagSet) time.Duration { return 2 * duration(fs, "shutdown-timeout") }},
	"dashboards": {"dashboards", func(fs *flag.FlagSet) { new(dashboards.Config).RegisterFlags(fs) },
		// dashboards/main.go gives running requests 10 s.
		func(*flag.FlagSet) time.Duration { return 10 * time.Second }},
}

func duration(fs *flag.FlagSet, name string) time.Duration {
	d, err := time.ParseDuration(fs.Lookup(name).Value.String())
	if err != nil {
		panic(err)
	}
	return d
}

// settings is one program's configuration as a deployment file gives it.
type settings struct {
	where string // for messages
	prog  program
	fs    *flag.FlagSet
}

func newSettings(t *testing.T, where, name string) *settings {
	t.Helper()
	p, ok := programs[name]
	if !ok {
		t.Fatalf("%s: runs %q, which is none of the programs", where, name)
	}
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	p.register(fs)
	return &settings{where: where, prog: p, fs: fs}
}

// set checks that variable is the fallback of one of the program's flags
// and that the flag takes value; "" (unset) and values from a Secret
// (secret true) are only checked for the flag.
func (s *settings) set(t *testing.T, variable, value string, secret bool) {
	t.Helper()
	var name string
	s.fs.VisitAll(func(f *flag.Flag) {
		if envflag.EnvName(f.Name) == variable {
			name = f.Name
		}
	})
	if name == "" {
		t.Errorf("%s: %s is no flag of the %s (no -%s)", s.where, variable, s.prog.name,
			strings.ReplaceAll(strings.ToLower(strings.TrimPrefix(variable, "FOOTFALL_")), "_", "-"))
		return
	}
	if secret || value == "" {
		return
	}
	if err := s.fs.Set(name, value); err != nil {
		t.Errorf("%s: %s=%q: -%s refuses it: %v", s.where, variable, value, name, err)
	}
}

// port is the port of the address flag name, as set or by default.
func (s *settings) port(t *testing.T, name string) int {
	t.Helper()
	_, p, err := net.SplitHostPort(s.fs.Lookup(name).Value.String())
	n, _ := strconv.Atoi(p)
	if err != nil || n == 0 {
		t.Errorf("%s: -%s %q has no port", s.where, name, s.fs.Lookup(name).Value)
	}
	return n
}

// checkListens checks that the address flags names do not listen on
// loopback only (the flags' default): nothing outside a container would
// reach them.
func (s *settings) checkListens(t *testing.T, names ...string) {
	t.Helper()
	for _, name := range names {
		host, _, _ := net.SplitHostPort(s.fs.Lookup(name).Value.String())
		if ip := net.ParseIP(host); host == "localhost" || ip != nil && ip.IsLoopback() {
			t.Errorf("%s: -%s listens on %s only: nothing outside the container reaches it", s.where, name, host)
		}
	}
}

// listenFlags are the address flags of each program: its public listener
// (none for the processor) and its ops listener.
func listenFlags(name string) (public, opsFlag string) {
	switch name {
	case "collector":
		return "listen", "collector-ops-listen"
	case "dashboards":
		return "dashboards-listen", "dashboards-ops-listen"
	}
	return "", "processor-ops-listen"
}

// binary returns which program a container's command starts.
func binary(t *testing.T, where string, command []string) string {
	t.Helper()
	if len(command) == 0 || !strings.HasPrefix(command[0], "/usr/local/bin/") {
		t.Fatalf("%s: command %q is not one of the image's programs (/usr/local/bin/...)", where, command)
	}
	return strings.TrimPrefix(command[0], "/usr/local/bin/")
}

// image is what the Dockerfile builds, as the other checks need it.
type image struct {
	programs []string // in /usr/local/bin of the last stage
	exposed  []int
}

func TestDockerfile(t *testing.T) { parseDockerfile(t) }

func parseDockerfile(t *testing.T) image {
	t.Helper()
	src, err := os.ReadFile("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	res, err := parser.Parse(bytes.NewReader(src))
	if err != nil {
		t.Fatalf("Dockerfile: %v", err)
	}
	for _, w := range res.Warnings {
		t.Errorf("Dockerfile: %s", w.Short)
	}
	lint := linter.New(&linter.Config{Warn: func(rule, _, _, msg string, loc []parser.Range) {
		t.Errorf("Dockerfile line %v: %s: %s", loc, rule, msg)
	}})
	stages, args, err := instructions.Parse(res.AST, lint)
	if err != nil {
		t.Fatalf("Dockerfile: %v", err)
	}
	if len(stages) < 2 {
		t.Fatalf("Dockerfile: %d stage, want a build stage and a runtime stage", len(stages))
	}

	// The build stage's Go is go.mod's.
	mod, err := os.ReadFile("../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	goLine := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindSubmatch(mod)
	goVersion := ""
	for _, a := range args {
		for _, kv := range a.Args {
			if kv.Key == "GO_VERSION" && kv.Value != nil {
				goVersion = *kv.Value
			}
		}
	}
	if goLine == nil || goVersion != string(goLine[1]) {
		t.Errorf("Dockerfile: ARG GO_VERSION=%s, go.mod says go %s", goVersion, goLine[1])
	}

	names := map[string]bool{}
	var img image
	for i, st := range stages {
		env := map[string]string{}
		built := map[string]bool{}
		for _, c := range st.Commands {
			switch c := c.(type) {
			case *instructions.EnvCommand:
				for _, kv := range c.Env {
					env[kv.Key] = kv.Value
				}
			case *instructions.RunCommand:
				run := strings.Join(c.CmdLine, " ")
				if strings.Contains(run, "go build") {
					if env["CGO_ENABLED"] != "0" {
						t.Errorf("Dockerfile stage %q: go build without CGO_ENABLED=0: the binaries would not be static", st.Name)
					}
					for p := range programs {
						if strings.Contains(run, p) {
							built[p] = true
						}
					}
				}
			case *instructions.CopyCommand:
				if c.From != "" && !names[c.From] {
					t.Errorf("Dockerfile stage %q: COPY --from=%s, no earlier stage of that name", st.Name, c.From)
				}
				if i == len(stages)-1 && c.DestPath == "/usr/local/bin/" {
					for _, s := range c.SourcePaths {
						img.programs = append(img.programs, filepath.Base(s))
					}
				}
			case *instructions.ExposeCommand:
				for _, p := range c.Ports {
					n, err := strconv.Atoi(p)
					if err != nil {
						t.Errorf("Dockerfile: EXPOSE %s", p)
					}
					img.exposed = append(img.exposed, n)
				}
			}
		}
		if i == 0 && len(built) != len(programs) {
			t.Errorf("Dockerfile build stage builds %v, want all of %v", built, programs)
		}
		names[st.Name] = true
	}

	last := stages[len(stages)-1]
	if !strings.HasPrefix(last.BaseName, "gcr.io/distroless/static") && last.BaseName != "scratch" {
		t.Errorf("Dockerfile: the runtime stage is FROM %s, want distroless/static (CA certificates, no shell) or scratch", last.BaseName)
	}
	user := ""
	for _, c := range last.Commands {
		if u, ok := c.(*instructions.UserCommand); ok {
			user = u.User
		}
	}
	if uid := strings.Split(user, ":")[0]; uid == "" || uid == "0" || uid == "root" {
		t.Errorf("Dockerfile: the runtime stage runs as %q, want a user other than root", user)
	}
	slices.Sort(img.programs)
	if !slices.Equal(img.programs, []string{"collector", "dashboards", "processor"}) {
		t.Errorf("Dockerfile: the runtime stage has %v in /usr/local/bin, want the three programs", img.programs)
	}
	return img
}

// servedPaths checks that the ops listener, which every program starts
// from internal/ops, answers the probes' paths.
func servedPaths(t *testing.T, paths map[string]bool) {
	t.Helper()
	srv, err := ops.Start(ops.Config{Listen: "127.0.0.1:0"}, func() error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown(context.Background())
	for path := range paths {
		resp, err := http.Get("http://" + srv.Addr() + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("probe path %s: the ops listener answers %d", path, resp.StatusCode)
		}
	}
}

// composeEnv is what a filled-in .env gives (env.example's names).
func composeEnv(t *testing.T) map[string]string {
	t.Helper()
	raw, err := os.ReadFile("compose/env.example")
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{}
	for _, line := range strings.Split(string(raw), "\n") {
		k, v, ok := strings.Cut(line, "=")
		if !ok || strings.HasPrefix(line, "#") {
			continue
		}
		if v == "" {
			v = "test-" + strings.ToLower(k) + "-0123456789"
		}
		env[k] = v
	}
	return env
}

func TestCompose(t *testing.T) {
	img := parseDockerfile(t)
	dir, _ := filepath.Abs("compose")
	project, err := loader.LoadWithContext(context.Background(), types.ConfigDetails{
		WorkingDir:  dir,
		ConfigFiles: []types.ConfigFile{{Filename: filepath.Join(dir, "compose.yaml")}},
		Environment: composeEnv(t),
	}, loader.WithProfiles([]string{"monitoring"}))
	if err != nil {
		t.Fatalf("compose.yaml: %v", err)
	}
	for _, want := range []string{"kafka", "clickhouse", "migrate", "collector", "processor", "dashboards", "prometheus", "grafana"} {
		if _, ok := project.Services[want]; !ok {
			t.Errorf("compose.yaml: no service %s", want)
		}
	}
	if img := project.Services["kafka"].Environment["KAFKA_PROCESS_ROLES"]; img == nil || *img != "broker,controller" {
		t.Error("compose.yaml: kafka does not run in KRaft mode (KAFKA_PROCESS_ROLES broker,controller)")
	}

	opsPorts := map[string]int{} // service -> ops port, for prometheus.yml
	probes := map[string]bool{"/healthz": true, "/readyz": true}
	for name, svc := range project.Services {
		if svc.Build == nil {
			continue
		}
		where := "compose.yaml service " + name
		if svc.Build.Dockerfile != "deploy/Dockerfile" {
			t.Errorf("%s: built from %s", where, svc.Build.Dockerfile)
		}
		prog := binary(t, where, svc.Entrypoint)
		if !slices.Contains(img.programs, prog) {
			t.Errorf("%s: runs %s, which the image does not have", where, prog)
		}
		s := newSettings(t, where, prog)
		for k, v := range svc.Environment {
			val := ""
			if v != nil {
				val = *v
			}
			s.set(t, k, val, false)
		}
		if name == "migrate" {
			continue
		}
		public, opsFlag := listenFlags(prog)
		s.checkListens(t, opsFlag)
		opsPorts[name] = s.port(t, opsFlag)
		if public != "" {
			s.checkListens(t, public)
			p := s.port(t, public)
			published := false
			for _, sp := range svc.Ports {
				published = published || sp.Target == uint32(p)
			}
			if !published {
				t.Errorf("%s: listens on %d (-%s), which it does not publish (%v)", where, p, public, svc.Ports)
			}
			if !slices.Contains(img.exposed, p) {
				t.Errorf("%s: port %d is not EXPOSEd by the Dockerfile", where, p)
			}
		}
		if !slices.Contains(img.exposed, opsPorts[name]) {
			t.Errorf("%s: ops port %d is not EXPOSEd by the Dockerfile", where, opsPorts[name])
		}
		if svc.StopGracePeriod == nil || time.Duration(*svc.StopGracePeriod) <= s.prog.grace(s.fs) {
			t.Errorf("%s: stop_grace_period %v, the program may take %s to stop", where, svc.StopGracePeriod, s.prog.grace(s.fs))
		}
	}
	servedPaths(t, probes)

	// Prometheus scrapes each program's ops port.
	var prom struct {
		ScrapeConfigs []struct {
			JobName       string `json:"job_name"`
			StaticConfigs []struct {
				Targets []string `json:"targets"`
			} `json:"static_configs"`
		} `json:"scrape_configs"`
		Global map[string]string `json:"global"`
	}
	readYAML(t, "compose/prometheus.yml", &prom)
	scraped := map[string]bool{}
	for _, sc := range prom.ScrapeConfigs {
		for _, st := range sc.StaticConfigs {
			for _, target := range st.Targets {
				host, port, _ := net.SplitHostPort(target)
				if want, ok := opsPorts[host]; !ok || strconv.Itoa(want) != port {
					t.Errorf("prometheus.yml: target %s, but %s's ops listener is on %d", target, host, want)
				}
				scraped[host] = true
			}
		}
	}
	for name := range opsPorts {
		if !scraped[name] {
			t.Errorf("prometheus.yml does not scrape %s", name)
		}
	}

	// Grafana gets the project's dashboards and a data source of each
	// type they use.
	g := project.Services["grafana"]
	var dashDir string
	for _, v := range g.Volumes {
		if v.Target == "/var/lib/grafana/dashboards/footfall" {
			dashDir = v.Source
		}
	}
	var provider struct {
		Providers []struct {
			Options struct{ Path string } `json:"options"`
		} `json:"providers"`
	}
	readYAML(t, "compose/grafana/provisioning/dashboards/footfall.yaml", &provider)
	if len(provider.Providers) != 1 || provider.Providers[0].Options.Path != "/var/lib/grafana/dashboards/footfall" {
		t.Errorf("grafana dashboards provider: %+v, want the mounted /var/lib/grafana/dashboards/footfall", provider)
	}
	repoDash, _ := filepath.Abs("../dashboards/grafana")
	if dashDir != repoDash {
		t.Errorf("grafana mounts %q at the dashboards' path, want %s", dashDir, repoDash)
	}
	var sources struct {
		Datasources []struct{ Type string } `json:"datasources"`
	}
	readYAML(t, "compose/grafana/provisioning/datasources/footfall.yaml", &sources)
	have := map[string]bool{}
	for _, d := range sources.Datasources {
		have[d.Type] = true
	}
	files, _ := filepath.Glob(filepath.Join(repoDash, "*.json"))
	if len(files) == 0 {
		t.Error("no dashboards in dashboards/grafana")
	}
	for _, f := range files {
		raw, _ := os.ReadFile(f)
		var dash struct {
			Templating struct {
				List []struct{ Type, Query string } `json:"list"`
			} `json:"templating"`
		}
		if err := json.Unmarshal(raw, &dash); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, v := range dash.Templating.List {
			if v.Type == "datasource" && !have[v.Query] {
				t.Errorf("%s needs a %s data source, which grafana's provisioning does not make", filepath.Base(f), v.Query)
			}
		}
	}
}

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(raw, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func TestKubernetes(t *testing.T) {
	img := parseDockerfile(t)
	var kust struct {
		Resources []string `json:"resources"`
		Namespace string   `json:"namespace"`
		Images    []struct {
			Name string `json:"name"`
		} `json:"images"`
	}
	readYAML(t, "k8s/kustomization.yaml", &kust)
	listed, _ := filepath.Glob("k8s/*.yaml")
	if len(kust.Resources) != len(listed)-1 {
		t.Errorf("kustomization.yaml lists %v, k8s/ has %v", kust.Resources, listed)
	}

	var (
		deployments = map[string]*appsv1.Deployment{}
		configMaps  = map[string]*corev1.ConfigMap{}
		secrets     = map[string]*corev1.Secret{}
		services    []*corev1.Service
		hpas        []*autoscalingv2.HorizontalPodAutoscaler
		pdbs        []*policyv1.PodDisruptionBudget
	)
	for _, file := range kust.Resources {
		raw, err := os.ReadFile(filepath.Join("k8s", file))
		if err != nil {
			t.Fatal(err)
		}
		for i, doc := range regexp.MustCompile(`(?m)^---\s*$`).Split(string(raw), -1) {
			if strings.TrimSpace(doc) == "" {
				continue
			}
			where := fmt.Sprintf("k8s/%s document %d", file, i+1)
			var meta metav1.TypeMeta
			if err := yaml.Unmarshal([]byte(doc), &meta); err != nil {
				t.Fatalf("%s: %v", where, err)
			}
			var obj interface{ GetName() string }
			switch meta.APIVersion + " " + meta.Kind {
			case "v1 Namespace":
				obj = &corev1.Namespace{}
			case "v1 ConfigMap":
				obj = &corev1.ConfigMap{}
			case "v1 Secret":
				obj = &corev1.Secret{}
			case "v1 Service":
				obj = &corev1.Service{}
			case "apps/v1 Deployment":
				obj = &appsv1.Deployment{}
			case "autoscaling/v2 HorizontalPodAutoscaler":
				obj = &autoscalingv2.HorizontalPodAutoscaler{}
			case "policy/v1 PodDisruptionBudget":
				obj = &policyv1.PodDisruptionBudget{}
			default:
				t.Fatalf("%s: %s %s is not a kind these manifests use", where, meta.APIVersion, meta.Kind)
			}
			// Strict: a misspelt or misplaced field is an error, as the
			// API server's field validation makes it.
			if err := yaml.UnmarshalStrict([]byte(doc), obj); err != nil {
				t.Fatalf("%s: %v", where, err)
			}
			for _, msg := range validation.IsDNS1123Subdomain(obj.GetName()) {
				t.Errorf("%s: name %q: %s", where, obj.GetName(), msg)
			}
			switch o := obj.(type) {
			case *appsv1.Deployment:
				deployments[o.Name] = o
			case *corev1.ConfigMap:
				configMaps[o.Name] = o
			case *corev1.Secret:
				secrets[o.Name] = o
			case *corev1.Service:
				services = append(services, o)
			case *autoscalingv2.HorizontalPodAutoscaler:
				hpas = append(hpas, o)
			case *policyv1.PodDisruptionBudget:
				pdbs = append(pdbs, o)
			}
		}
	}

	probes := map[string]bool{}
	for _, want := range []string{"collector", "processor", "dashboards"} {
		d := deployments[want]
		if d == nil {
			t.Errorf("k8s: no Deployment %s", want)
			continue
		}
		where := "k8s Deployment " + d.Name
		if !matches(d.Spec.Selector, d.Spec.Template.Labels) {
			t.Errorf("%s: its selector does not select its pods", where)
		}
		if len(d.Spec.Template.Spec.Containers) != 1 {
			t.Fatalf("%s: %d containers", where, len(d.Spec.Template.Spec.Containers))
		}
		c := d.Spec.Template.Spec.Containers[0]
		if !slices.ContainsFunc(kust.Images, func(i struct {
			Name string `json:"name"`
		}) bool {
			return i.Name == c.Image
		}) {
			t.Errorf("%s: image %q, which kustomization.yaml does not set", where, c.Image)
		}
		prog := binary(t, where, c.Command)
		if !slices.Contains(img.programs, prog) {
			t.Errorf("%s: runs %s, which the image does not have", where, prog)
		}
		s := newSettings(t, where, prog)
		for _, from := range c.EnvFrom {
			if from.ConfigMapRef == nil {
				t.Errorf("%s: envFrom other than a ConfigMap", where)
				continue
			}
			cm := configMaps[from.ConfigMapRef.Name]
			if cm == nil {
				t.Errorf("%s: no ConfigMap %s", where, from.ConfigMapRef.Name)
				continue
			}
			for k, v := range cm.Data {
				s.set(t, k, v, false)
			}
		}
		for _, e := range c.Env {
			if e.ValueFrom != nil {
				ref := e.ValueFrom.SecretKeyRef
				if ref == nil || secrets[ref.Name] == nil {
					t.Errorf("%s: %s from no Secret of these manifests", where, e.Name)
				} else if _, ok := secrets[ref.Name].StringData[ref.Key]; !ok {
					t.Errorf("%s: %s from key %s, which Secret %s does not have", where, e.Name, ref.Key, ref.Name)
				}
				s.set(t, e.Name, "", true)
				continue
			}
			s.set(t, e.Name, e.Value, false)
		}
		public, opsFlag := listenFlags(prog)
		ports := map[string]int32{}
		for _, p := range c.Ports {
			ports[p.Name] = p.ContainerPort
		}
		s.checkListens(t, opsFlag)
		if want := s.port(t, opsFlag); ports["ops"] != int32(want) {
			t.Errorf("%s: port ops is %d, the program's ops listener %d", where, ports["ops"], want)
		}
		if public != "" {
			s.checkListens(t, public)
			if want := s.port(t, public); ports["http"] != int32(want) {
				t.Errorf("%s: port http is %d, the program listens on %d", where, ports["http"], want)
			}
		}
		for what, probe := range map[string]*corev1.Probe{"readiness": c.ReadinessProbe, "liveness": c.LivenessProbe} {
			want := map[string]string{"readiness": "/readyz", "liveness": "/healthz"}[what]
			if probe == nil || probe.HTTPGet == nil || probe.HTTPGet.Path != want || probe.HTTPGet.Port.String() != "ops" {
				t.Errorf("%s: %s probe %+v, want GET %s on the ops port", where, what, probe, want)
				continue
			}
			probes[probe.HTTPGet.Path] = true
		}
		grace := d.Spec.Template.Spec.TerminationGracePeriodSeconds
		if need := s.prog.grace(s.fs); grace == nil || time.Duration(*grace)*time.Second <= need {
			var got any = "unset"
			if grace != nil {
				got = *grace
			}
			t.Errorf("%s: terminationGracePeriodSeconds %v, the program may take %s to stop", where, got, need)
		}
		if sc := d.Spec.Template.Spec.SecurityContext; sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot {
			t.Errorf("%s: not runAsNonRoot", where)
		}
		covered := false
		for _, pdb := range pdbs {
			covered = covered || matches(pdb.Spec.Selector, d.Spec.Template.Labels)
		}
		if !covered {
			t.Errorf("%s: no PodDisruptionBudget", where)
		}
	}
	servedPaths(t, probes)

	for _, svc := range services {
		var target *appsv1.Deployment
		for _, d := range deployments {
			if matches(&metav1.LabelSelector{MatchLabels: svc.Spec.Selector}, d.Spec.Template.Labels) {
				target = d
			}
		}
		if target == nil {
			t.Errorf("k8s Service %s selects no Deployment", svc.Name)
			continue
		}
		for _, p := range svc.Spec.Ports {
			if !slices.ContainsFunc(target.Spec.Template.Spec.Containers[0].Ports, func(c corev1.ContainerPort) bool { return c.Name == p.TargetPort.String() }) {
				t.Errorf("k8s Service %s: targetPort %s, which Deployment %s does not name", svc.Name, p.TargetPort.String(), target.Name)
			}
		}
	}
	scaled := false
	for _, h := range hpas {
		ref := h.Spec.ScaleTargetRef
		if ref.Kind != "Deployment" || deployments[ref.Name] == nil {
			t.Errorf("k8s HorizontalPodAutoscaler %s scales %s %s, which is not here", h.Name, ref.Kind, ref.Name)
		}
		scaled = scaled || ref.Name == "collector"
		if h.Spec.MinReplicas == nil || *h.Spec.MinReplicas < 2 || h.Spec.MaxReplicas < *h.Spec.MinReplicas {
			t.Errorf("k8s HorizontalPodAutoscaler %s: replicas %v to %d", h.Name, h.Spec.MinReplicas, h.Spec.MaxReplicas)
		}
	}
	if !scaled {
		t.Error("k8s: no HorizontalPodAutoscaler for the collector")
	}
}

// matches reports whether sel's matchLabels select labels.
func matches(sel *metav1.LabelSelector, labels map[string]string) bool {
	if sel == nil || len(sel.MatchLabels) == 0 {
		return false
	}
	for k, v := range sel.MatchLabels {
		if labels[k] != v {
			return false
		}
	}
	return true
}
