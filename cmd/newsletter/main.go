// Command newsletter rewrites a newsletter's HTML for tracking, as the
// dashboards API does, for senders who build their mails offline:
//
//	newsletter rewrite -campaign spring-sale < mail.html > tracked.html
//	newsletter personalize -token TOKEN < tracked.html > one.html
//
// rewrite replaces every http(s) link with a click link signed with
// -link-secret (the collector's), adds the campaign's UTM tags to each
// target and an open pixel; the recipient's token stays {{ff_token}}, a
// merge field for the e-mail tool. It tells on stderr how many links it
// signed and, a line each, every link it left untracked and why.
// personalize fills the token in for one recipient.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"

	"footfall/internal/envflag"
	"footfall/internal/links"
)

func main() { os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) }

// run is the command with its arguments (without the program's name) and
// streams; it returns the exit code.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) < 1 || (args[0] != "rewrite" && args[0] != "personalize") {
		fmt.Fprintln(stderr, "usage: newsletter rewrite -campaign ID [-collector-url URL] [-link-secret S] < in.html > out.html\n       newsletter personalize -token TOKEN < in.html > out.html")
		return 2
	}
	cmd := args[0]
	var campaign, base, secret, token string
	fs := flag.NewFlagSet("newsletter "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&campaign, "campaign", "", "campaign id (its utm_campaign)")
	fs.StringVar(&base, "collector-url", "http://127.0.0.1:8080", "the collector's public address")
	fs.StringVar(&secret, "link-secret", "", "HMAC key of the links, the collector's -link-secret")
	fs.StringVar(&token, "token", "", "recipient token (personalize)")
	if err := envflag.Parse(fs, args[1:], nil); err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	fail := func(err error) int {
		fmt.Fprintln(stderr, "newsletter:", err)
		return 1
	}
	in, err := io.ReadAll(stdin)
	if err != nil {
		return fail(err)
	}
	if cmd == "personalize" {
		if !links.ValidToken([]byte(token)) {
			return fail(fmt.Errorf("-token %q is not a recipient token", token))
		}
		io.WriteString(stdout, links.Personalize(string(in), token))
		return 0
	}
	if campaign == "" {
		return fail(fmt.Errorf("-campaign is required"))
	}
	signer, err := links.NewSigner(secret)
	if err != nil {
		return fail(fmt.Errorf("-link-secret: %w", err))
	}
	res, err := signer.Rewrite(string(in), base, campaign)
	if err != nil {
		return fail(err)
	}
	io.WriteString(stdout, res.HTML)
	fmt.Fprintf(stderr, "%d links signed, %d left untracked\n", len(res.Links), len(res.Untracked))
	for _, u := range res.Untracked {
		fmt.Fprintf(stderr, "line %d: %q untracked: %s\n", u.Line, u.Href, u.Reason)
	}
	return 0
}
