// Command newsletter rewrites a newsletter's HTML for tracking, as the
// dashboards API does, for senders who build their mails offline:
//
//	newsletter rewrite -campaign spring-sale < mail.html > tracked.html
//	newsletter personalize -token TOKEN < tracked.html > one.html
//
// rewrite replaces every http(s) link with a click link signed with
// -link-secret (the collector's), adds the campaign's UTM tags to each
// target and an open pixel; the recipient's token stays {{ff_token}}, a
// merge field for the e-mail tool. personalize fills it in for one
// recipient.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"

	"footfall/internal/envflag"
	"footfall/internal/links"
)

func main() {
	if len(os.Args) < 2 || (os.Args[1] != "rewrite" && os.Args[1] != "personalize") {
		fmt.Fprintln(os.Stderr, "usage: newsletter rewrite -campaign ID [-collector-url URL] [-link-secret S] < in.html > out.html\n       newsletter personalize -token TOKEN < in.html > out.html")
		os.Exit(2)
	}
	cmd := os.Args[1]
	var campaign, base, secret, token string
	fs := flag.NewFlagSet("newsletter "+cmd, flag.ExitOnError)
	fs.StringVar(&campaign, "campaign", "", "campaign id (its utm_campaign)")
	fs.StringVar(&base, "collector-url", "http://127.0.0.1:8080", "the collector's public address")
	fs.StringVar(&secret, "link-secret", "", "HMAC key of the links, the collector's -link-secret")
	fs.StringVar(&token, "token", "", "recipient token (personalize)")
	if err := envflag.Parse(fs, os.Args[2:], nil); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	in, err := io.ReadAll(os.Stdin)
	if err != nil {
		fail(err)
	}
	if cmd == "personalize" {
		if !links.ValidToken([]byte(token)) {
			fail(fmt.Errorf("-token %q is not a recipient token", token))
		}
		os.Stdout.WriteString(links.Personalize(string(in), token))
		return
	}
	if campaign == "" {
		fail(fmt.Errorf("-campaign is required"))
	}
	signer, err := links.NewSigner(secret)
	if err != nil {
		fail(fmt.Errorf("-link-secret: %w", err))
	}
	out, ls, err := signer.Rewrite(string(in), base, campaign)
	if err != nil {
		fail(err)
	}
	os.Stdout.WriteString(out)
	fmt.Fprintf(os.Stderr, "%d links signed\n", len(ls))
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "newsletter:", err)
	os.Exit(1)
}
