package redact

import (
	"testing"

	"footfall/internal/event"
)

// TestEmails: an address is replaced however it is spelled (escaped once
// or twice, as an HTML or JSON escape, full-width, in any script, in a
// path, a query, a fragment or free text), and what only looks a little
// like one (a package version, a handle, a host without a dot) is kept.
func TestEmails(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"email=ann@mail.example", "email=[email]"},
		{"email=ann%40mail.example&x=1", "email=[email]&x=1"},
		{"email=ann%2540mail.example", "email=[email]"},
		{"e=ann%2Eold%40mail%2eexample", "e=[email]"},
		{"ann&#64;mail.example", "[email]"},
		{"ann&#x40;mail.example", "[email]"},
		{"ANN&commat;MAIL.EXAMPLE", "[email]"},
		{`{"to":"ann\u0040mail.example"}`, `{"to":"[email]"}`},
		{"ann＠mail.example", "[email]"},
		{"ann﹫mail．example", "[email]"},
		{"josé@café.example", "[email]"},
		{"e=jos%C3%A9%40caf%C3%A9.example", "e=[email]"},
		{"ann@xn--caf-dma.example", "[email]"},
		{"ann+news_1@mail.co.uk!", "[email]!"},
		{"write to ann@mail.example.", "write to [email]."},
		{"a=ann@x.example&b=bob@y.example", "a=[email]&b=[email]"},
		{"hello%20ann%40mail.example", "hello%20[email]"},
		{"mailto:ann@mail.example?subject=hi", "mailto:[email]?subject=hi"},
		{"/users/ann@mail.example/orders", "/users/[email]/orders"},
		// kept
		{"/package/react@18.2.0", "/package/react@18.2.0"},
		{"@scope/pkg", "@scope/pkg"},
		{"ann@localhost", "ann@localhost"},
		{"q=a@b.c", "q=a@b.c"},
		{"50% off @ shop", "50% off @ shop"},
		{"&amp; 100%", "&amp; 100%"},
		{"", ""},
	} {
		got, n := Emails([]byte(c.in))
		if string(got) != c.want || (n > 0) != (c.in != c.want) {
			t.Errorf("Emails(%q) = %q, %d; want %q", c.in, got, n, c.want)
		}
	}
}

// TestURL: a URL keeps its host; an address in its credentials, path,
// query or fragment is replaced.
func TestURL(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"https://shop.example/welcome?email=ann%40mail.example&utm_source=news", "https://shop.example/welcome?email=[email]&utm_source=news"},
		{"https://shop.example/u/ann@mail.example#ann@mail.example", "https://shop.example/u/[email]#[email]"},
		{"https://ann@mail.example@shop.example/x", "https://[email]@shop.example/x"},
		{"https://user:pw@shop.example/x", "https://user:pw@shop.example/x"},
		{"https://shop.example/café?next=https://other.example/?e=bob@y.example", "https://shop.example/café?next=https://other.example/?e=[email]"},
		{"/relative?e=ann@mail.example", "/relative?e=[email]"},
		{"https://shop.example/p?id=1", "https://shop.example/p?id=1"},
	} {
		got, _ := URL([]byte(c.in))
		if string(got) != c.want {
			t.Errorf("URL(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// TestEvent: every free-text field and property is cleaned; the fields
// that name a person keep their address; an event without one costs no
// allocation.
func TestEvent(t *testing.T) {
	var e event.Event
	e.F[event.URL] = []byte("https://shop.example/?email=ann%40mail.example")
	e.F[event.Referrer] = []byte("https://mail.example/inbox?to=ann@mail.example")
	e.F[event.Title] = []byte("Welcome ann@mail.example")
	e.F[event.UTMContent] = []byte("ann@mail.example")
	e.F[event.UserID] = []byte("ann@mail.example")
	e.Props = []event.Prop{{Key: []byte("contact"), Value: []byte("ann@mail.example")}}
	c := Event(&e)
	if c != (Counts{URL: 1, Referrer: 1, Props: 1, Text: 2}) {
		t.Errorf("counts %+v", c)
	}
	for f, want := range map[event.Field]string{event.URL: "https://shop.example/?email=[email]",
		event.Referrer: "https://mail.example/inbox?to=[email]", event.Title: "Welcome [email]",
		event.UTMContent: "[email]", event.UserID: "ann@mail.example"} {
		if got := e.Get(f); got != want {
			t.Errorf("field %s = %q, want %q", event.Specs[f].Key, got, want)
		}
	}
	if v := string(e.Props[0].Value); v != "[email]" {
		t.Errorf("prop = %q", v)
	}
	var clean event.Event
	clean.F[event.URL] = []byte("https://shop.example/products/shoe?utm_source=news&q=50%25")
	clean.F[event.Title] = []byte("Shoes & boots")
	clean.Props = []event.Prop{{Key: []byte("plan"), Value: []byte("pro")}}
	if a := testing.AllocsPerRun(100, func() { Event(&clean) }); a != 0 {
		t.Errorf("%v allocations for an event without an address", a)
	}
}

// TestEscapedAddresses: escapes are read by kind, not by a list of
// spellings: every HTML numeric reference (leading zeros, no semicolon,
// escaped again), percent-encoded UTF-8 (once or twice), %uXXXX,
// backslash escapes behind any number of backslashes, and zero-width
// characters or soft hyphens inside an address.
func TestEscapedAddresses(t *testing.T) {
	for _, in := range []string{
		"ann&#0064;example.com", "ann&#000064;example.com", "ann&#64example.com", "ann&#x0040;example.com",
		"ann&#X40;example.com", "ann&#x0040example.com", "ann&#x40example.com", "ann&amp;#64;example.com",
		"ann&amp;#x40;example&#46;com", "ann&#64;example&#x2E;com", "ann&#65312;example.com", "ann&#xff20;example.com",
		"ann%EF%BC%A0example.com", "ann%ef%bc%a0example%EF%BC%8Ecom", "ann%25EF%25BC%25A0example.com", "ann%252540example.com", "ann%25252540example%25252Ecom",
		"ann%u0040example.com", "ann%5Cu0040example.com", "ann%5Cx40example.com",
		"ann\\u0040example.com", "ann\\\\u0040example.com", "ann\\x40example.com", "ann\\uFF20example.com",
		"ann\u200b@example.com", "ann@exam\u00adple.com", "ann@\u200bexample.com", "a\u2060nn@example\ufeff.com",
		"ann&shy;@example.com", "ann&#8203;@example.com", "ann%E2%80%8B%40example.com", "ann@exam&#173;ple.com",
		"ann＠ｅｘａｍｐｌｅ．ｃｏｍ", "ann@example。com",
	} {
		out, n := Emails([]byte("x " + in + " y"))
		if string(out) != "x [email] y" || n != 1 {
			t.Errorf("Emails(%q) = %q, %d", in, out, n)
		}
		u, n := URL([]byte("https://shop.example/p?x=" + in + "&y=1"))
		if string(u) != "https://shop.example/p?x=[email]&y=1" || n != 1 {
			t.Errorf("URL(%q) = %q, %d", in, u, n)
		}
	}
	// Kept: what only looks like an escape, or an at sign without an address.
	for _, in := range []string{"&#64;scope/pkg", "react&#64;18.2.0", "100&#37; &amp; more", "&#x;", "&#;", "%u00", "\\u00",
		"a\u200b&#64;b", "ann&#6500;example.com", "x%EF%BC", "50%25 off"} {
		if out, n := Emails([]byte(in)); n != 0 || string(out) != in {
			t.Errorf("Emails(%q) = %q, %d: want it kept", in, out, n)
		}
	}
}
