package app

import (
	"context"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"

	"footfall/dashboards/api"
	"footfall/dashboards/web"
	"footfall/internal/profiles"
	"footfall/internal/sites"
	"footfall/tests/stacktest"

	"github.com/getkin/kin-openapi/openapi3"
)

// recorder is a ServeMux that also keeps the patterns mounted on it.
type recorder struct {
	*http.ServeMux
	patterns []string
}

func (r *recorder) Handle(p string, h http.Handler) {
	r.patterns = append(r.patterns, p)
	r.ServeMux.Handle(p, h)
}

func (r *recorder) HandleFunc(p string, h func(http.ResponseWriter, *http.Request)) {
	r.patterns = append(r.patterns, p)
	r.ServeMux.HandleFunc(p, h)
}

// mounted is the dashboards' routes (routes, as Start mounts them) on a
// recorder, the API on a fresh database.
func mounted(t *testing.T) *recorder {
	t.Helper()
	_, store := stacktest.ClickHouse(t)
	mux := &recorder{ServeMux: http.NewServeMux()}
	srv := api.New(stacktest.Reader(t, store), store, api.Config{Token: "tok", Rules: profiles.DefaultRules, Sites: sites.NewStatic()})
	if err := routes(mux, srv); err != nil {
		t.Fatal(err)
	}
	return mux
}

// TestOpenAPIMatchesRoutes checks dashboards/api/openapi.yaml against the
// routes the dashboards mount (routes, as Start calls it): the document
// is valid OpenAPI 3 (kin-openapi), every route registered is described
// with its method, and every operation described is routed by the same
// mux to the pattern of its path and method (a page file served by "GET /"
// must exist). The description served at /api/v1/openapi.json is the same
// document.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	doc, err := api.LoadOpenAPI()
	if err != nil {
		t.Fatal(err)
	}
	mux := mounted(t)
	if len(mux.patterns) < 40 {
		t.Fatalf("only %d routes recorded: %v", len(mux.patterns), mux.patterns)
	}

	// Every route registered is described.
	registered := map[string]bool{}
	for _, p := range mux.patterns {
		method, path, ok := strings.Cut(p, " ")
		if !ok || method == "" {
			t.Errorf("route %q has no method: every route names its method", p)
			continue
		}
		registered[method+" "+path] = true
		item := doc.Paths.Value(path)
		if item == nil {
			t.Errorf("route %s is not described: add its path to dashboards/api/openapi.yaml", p)
			continue
		}
		if item.GetOperation(method) == nil {
			t.Errorf("route %s: its path is described without %s", p, method)
		}
	}

	// Every operation described is routed to its own pattern.
	param := regexp.MustCompile(`\{[^}]+\}`)
	described := 0
	for _, path := range doc.Paths.InMatchingOrder() {
		for method := range doc.Paths.Value(path).Operations() {
			described++
			req := httptest.NewRequest(method, param.ReplaceAllString(path, "x1"), nil)
			_, pattern := mux.Handler(req)
			want := method + " " + path
			switch {
			case pattern == want:
			case pattern == "GET /" && method == http.MethodGet:
				// A file of the page: it must be there.
				if _, err := fs.Stat(web.Files, strings.TrimPrefix(path, "/")); err != nil {
					t.Errorf("%s is described, but no route and no page file serves it", want)
				}
			default:
				t.Errorf("%s is described, but the dashboards route it to %q", want, pattern)
			}
		}
	}
	if described < len(registered) {
		t.Errorf("%d operations described for %d routes", described, len(registered))
	}

	// The document served is this one.
	ts := httptest.NewServer(mux)
	defer ts.Close()
	res, err := http.Get(ts.URL + "/api/v1/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("GET /api/v1/openapi.json without a credential: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	served, err := openapi3.NewLoader().LoadFromData(body)
	if err != nil {
		t.Fatalf("served description: %v", err)
	}
	if err := served.Validate(context.Background()); err != nil {
		t.Fatalf("served description: %v", err)
	}
	a, b := served.Paths.InMatchingOrder(), doc.Paths.InMatchingOrder()
	slices.Sort(a)
	slices.Sort(b)
	if !slices.Equal(a, b) {
		t.Errorf("served paths %v, document's %v", a, b)
	}
}
