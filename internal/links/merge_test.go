package links

import (
	"strings"
	"testing"
)

// TestRewriteLeavesMergeFieldsUntracked: an href holding a merge field of
// any common mail tool, whole or inside a URL, escaped or not, is left as
// it is with the reason and its line; links that only look alike (PHP
// array parameters, IPv6 hosts, percent escapes, slugs, JSON in a query)
// are tracked.
func TestRewriteLeavesMergeFieldsUntracked(t *testing.T) {
	s, _ := NewSigner("0123456789abcdef")
	fields := []string{
		"{contactfield=email}",                          // Mautic
		"https://shop.example/p?e={contactfield=email}", // Mautic, in a URL
		"{unsubscribe_url}",                             // Mautic
		"[email]",                                       // Campaign Monitor, Sendy
		"https://shop.example/p?e=[email]",
		"[unsubscribe]",
		"https://shop.example/p?n=[firstname,fallback=friend]",
		"%EMAIL%", // ActiveCampaign
		"https://shop.example/p?e=%EMAIL%",
		"%UNSUBSCRIBELINK%",
		"https://shop.example/p?d=%DEAL_ID%", // its first % looks like an escape (%DE)
		"*|EMAIL|*",                          // Mailchimp
		"*|UNSUB|*",
		"https://shop.example/p?e=*|EMAIL|*",
		"https://shop.example/p?e=*%7CEMAIL%7C*", // Mailchimp, escaped by an editor
		"{{ contact.EMAIL }}",                    // Brevo
		"https://shop.example/p?e={{ contact.EMAIL }}",
		"{{ UnsubscribeURL }}",                        // listmonk
		`{{ TrackLink "https://shop.example/sale" }}`, // listmonk
		"[[UNSUB_LINK_EN]]",                           // Mailjet
		"{$unsubscribe}",                              // Mailjet, MailerLite
		"https://shop.example/p?e={$email}",
		"-email-", // SendGrid substitution tags
		"https://shop.example/p?e=-email-&x=1",
		"{{{unsubscribe}}}", // SendGrid
		"[%email%]",
		"<%asm_group_unsubscribe_raw_url%>",
		"%%unsubscribe%%", // Salesforce
		"https://shop.example/p?e=%%emailaddr%%",
		"{% unsubscribe %}", // Klaviyo
		"{% unsubscribe_url %}",
		"{{ unsubscribe_link }}", // HubSpot
		"https://shop.example/p?e={{ contact.email }}",
		"$[LI:EMAIL]$",                               // Zoho
		"https://shop.example/p?e=%7B%7Bemail%7D%7D", // {{email}}, escaped
		"https://t.example/c/{{ff_token}}/x?u=y",     // ours
	}
	tracked := []string{
		"https://shop.example/cat?filter[size]=M&filter[color]=red",
		"https://shop.example/cat?ids[]=1&ids[]=2",
		"https://shop.example/cat?a[0][b]=1",
		"http://[2001:db8::1]/p",
		"http://[fe80::1]:8080/p?x=1",
		"https://shop.example/caf%C3%A9s%20cr%C3%A8me",
		"https://shop.example/p?q=%DEAD%BE%EF",
		"https://shop.example/red-shoes-for-men-",
		"https://shop.example/p?t=-1-&u=-",
		"https://shop.example/p?json=%7B%22a%22%3A1%7D",
		"https://shop.example/p?q=[1,2]",
		"https://shop.example/p?percent=50%25",
	}
	var b strings.Builder
	b.WriteString("<body>\n")
	for _, f := range fields {
		b.WriteString(`<a href="` + escapeAttr(f) + "\">x</a>\n")
	}
	for _, u := range tracked {
		b.WriteString(`<a href="` + escapeAttr(u) + "\">x</a>\n")
	}
	res, err := s.Rewrite(b.String(), "https://t.example", "c")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]Untracked{}
	for _, u := range res.Untracked {
		got[u.Href] = u
	}
	for i, f := range fields {
		u, ok := got[f]
		switch {
		case !ok:
			t.Errorf("%s: tracked, want left untracked as a merge field", f)
		case u.Reason != ReasonMergeField || !strings.HasPrefix(u.Reason, "merge field of a mail tool"):
			t.Errorf("%s: reason %q", f, u.Reason)
		case u.Line != i+2:
			t.Errorf("%s: line %d, want %d", f, u.Line, i+2)
		}
	}
	if len(res.Untracked) != len(fields) {
		t.Errorf("%d untracked, want %d: %+v", len(res.Untracked), len(fields), res.Untracked)
	}
	if len(res.Links) != len(tracked) {
		t.Fatalf("%d links tracked, want %d: %+v", len(res.Links), len(tracked), res.Links)
	}
	for i, l := range res.Links {
		if !strings.HasPrefix(l.Target, strings.SplitN(tracked[i], "?", 2)[0]) || l.Line != len(fields)+2+i {
			t.Errorf("tracked %d: %+v, want %s on line %d", i, l, tracked[i], len(fields)+2+i)
		}
	}
}
