package beacon

import (
	"fmt"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"

	"footfall/internal/event"
)

// pairsOurs lists a query string's pairs as setQuery splits and decodes
// them.
func pairsOurs(s *scratch, q []byte) []string {
	var out []string
	for len(q) > 0 {
		k, v, keyEsc, valEsc, _, rest := nextQueryArg(q)
		q = rest
		if keyEsc {
			k = s.decode(k)
		}
		if valEsc {
			v = s.decode(v)
		}
		if len(k) == 0 && len(v) == 0 {
			continue
		}
		out = append(out, fmt.Sprintf("%q=%q", k, v))
	}
	return out
}

// pairsFasthttp lists them as ctx.QueryArgs() does.
func pairsFasthttp(q []byte) []string {
	var a fasthttp.Args
	a.ParseBytes(q)
	var out []string
	a.VisitAll(func(k, v []byte) { out = append(out, fmt.Sprintf("%q=%q", k, v)) })
	return out
}

var queryCases = []string{
	"",
	"site=demo&visitor_id=v1",
	"title=Blue+shoes&url=https%3A%2F%2Fshop.example%2Fp%2F42",
	"a=%zz&b=%4&c=%&d=%41%42&e=%e2%82%ac",
	"&&a=1&&", "=", "=x&y", "k=v=w", "p.sku=42&p.colour=r%C3%A9d",
	"sit%65=x", "a+b=c+d", "%", "%%41", "a=%4", "a=1%", "a=%%",
}

func TestQueryMatchesFasthttp(t *testing.T) {
	s := &scratch{arena: make([]byte, 0, 1<<10)}
	for _, q := range queryCases {
		got, want := pairsOurs(s, []byte(q)), pairsFasthttp([]byte(q))
		if strings.Join(got, "&") != strings.Join(want, "&") {
			t.Errorf("%q:\n got %v\nwant %v", q, got, want)
		}
	}
}

func FuzzQueryMatchesFasthttp(f *testing.F) {
	for _, q := range queryCases {
		f.Add(q)
	}
	f.Fuzz(func(t *testing.T, q string) {
		// An arena with just room for the whole query string: decoding
		// must not need more, or the arena would move.
		s := &scratch{arena: make([]byte, 0, len(q)+1)}
		base := &s.arena[:1][0]
		got, want := pairsOurs(s, []byte(q)), pairsFasthttp([]byte(q))
		if strings.Join(got, "&") != strings.Join(want, "&") {
			t.Fatalf("%q:\n got %v\nwant %v", q, got, want)
		}
		if &s.arena[:1][0] != base {
			t.Fatalf("%q: decoding moved the arena", q)
		}
	})
}

// A pixel's fields and props arrive decoded, later pairs win, and a field
// that fails its check refuses the hit.
func TestPixelQueryDecoding(t *testing.T) {
	q := &queue{}
	h := newHandler(q)
	c := do(h, req{method: "GET", uri: "/p.gif?site=demo&title=Blue+shoes%21&p.col%6Fur=r%C3%A9d&p.raw=%zz+1&sit%65=other&_=1"})
	if c.Response.StatusCode() != 200 || len(q.got) != 1 {
		t.Fatalf("status %d %s, %d events", c.Response.StatusCode(), c.Response.Body(), len(q.got))
	}
	e := q.got[0]
	if e.Get(event.Site) != "other" || e.Get(event.Title) != "Blue shoes!" {
		t.Errorf("site %q title %q", e.Get(event.Site), e.Get(event.Title))
	}
	var props []string
	for _, p := range e.Props {
		props = append(props, string(p.Key)+"="+string(p.Value))
	}
	if got := strings.Join(props, ","); got != "colour=réd,raw=%zz 1" {
		t.Errorf("props %q", got)
	}
	c = do(h, req{method: "GET", uri: "/p.gif?site=demo&visitor_id=a%20b"})
	if !pixelRefused(c) || !strings.Contains(errorOf(t, c), "visitor_id") {
		t.Errorf("bad visitor_id: status %d %q", c.Response.StatusCode(), c.Response.Body())
	}
}

// BenchmarkQuery reads a pixel's query string into an event, against
// fasthttp's Args reading the same pairs (what the collector did before).
func BenchmarkQuery(b *testing.B) {
	q := []byte("site=demo&visitor_id=0b6f1d2e-4c1a&url=https%3A%2F%2Fshop.example%2Fp%2F42&referrer=https%3A%2F%2Fwww.google.com%2F&title=Blue+shoes&utm_source=news&p.sku=42&_=1732357200123")
	b.Run("fasthttp-args", func(b *testing.B) {
		var a fasthttp.Args
		var e event.Event
		b.ReportAllocs()
		for b.Loop() {
			e.Reset()
			a.ParseBytes(q)
			a.VisitAll(func(k, v []byte) {
				if len(k) > 2 && k[0] == 'p' && k[1] == '.' {
					_ = e.AddProp(k[2:], v)
				} else if f, ok := event.FieldByKey(k); ok && event.Specs[f].Client {
					_ = e.Set(f, v)
				}
			})
		}
	})
	b.Run("setQuery", func(b *testing.B) {
		s := &scratch{arena: make([]byte, 0, 1<<10)}
		var e event.Event
		b.ReportAllocs()
		for b.Loop() {
			e.Reset()
			s.arena = s.arena[:0]
			if err := s.setQuery(&e, q); err != nil {
				b.Fatal(err)
			}
		}
	})
}
