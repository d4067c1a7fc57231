package beacon

import (
	"html"

	"github.com/valyala/fasthttp"
	"golang.org/x/text/language"
)

// The short HTML pages the newsletter endpoints answer a person with, in
// their language: English or French, chosen from Accept-Language.

// lang indexes pageTexts.
type lang int

const (
	langEnglish lang = iota
	langFrench
)

var (
	pageTags    = []language.Tag{language.English, language.French} // in language order
	pageMatcher = language.NewMatcher(pageTags)
)

// pageLanguage is the language of the pages for this reader: the best
// match of their Accept-Language, English when none matches.
func pageLanguage(ctx *fasthttp.RequestCtx) lang {
	accept := ctx.Request.Header.Peek("Accept-Language")
	if len(accept) == 0 {
		return langEnglish
	}
	tags, _, err := language.ParseAcceptLanguage(string(accept))
	if err != nil || len(tags) == 0 {
		return langEnglish
	}
	_, i, conf := pageMatcher.Match(tags...)
	if conf == language.No {
		return langEnglish
	}
	return lang(i)
}

// pageKind is what a page says.
type pageKind int

const (
	pageBadLink      pageKind = iota // a link changed or cut short
	pageNoLink                       // no -link-secret
	pageRetry                        // the queue did not take it
	pageConfirm                      // unsubscribe? with the button that posts
	pageUnsubscribed                 // done
	numPageKinds
)

// pageText is one page in one language.
type pageText struct{ title, heading, body, button string }

var pageTexts = [...][numPageKinds]pageText{
	langEnglish: {
		pageBadLink: {"Invalid link", "This link is not valid",
			"It was changed or cut short after the e-mail was sent, so it leads nowhere. Please use the link from the original e-mail, or visit the site directly.", ""},
		pageNoLink: {"Link not available", "This link is not available", "Newsletter links are not set up on this server.", ""},
		pageRetry:  {"Please try again", "Please try again in a moment", "Your request could not be recorded just now. Nothing was changed.", ""},
		pageConfirm: {"Unsubscribe", "Unsubscribe from this newsletter?",
			"Press the button to stop receiving it. Nothing changes until you do.", "Unsubscribe"},
		pageUnsubscribed: {"Unsubscribed", "You are unsubscribed",
			"You will not receive this newsletter any more. It can take a few minutes to reach every mailing list.", ""},
	},
	langFrench: {
		pageBadLink: {"Lien non valide", "Ce lien n’est pas valide",
			"Il a été modifié ou coupé après l’envoi de l’e-mail, il ne mène donc nulle part. Utilisez le lien de l’e-mail d’origine, ou rendez-vous directement sur le site.", ""},
		pageNoLink: {"Lien indisponible", "Ce lien n’est pas disponible", "Les liens de newsletter ne sont pas configurés sur ce serveur.", ""},
		pageRetry:  {"Veuillez réessayer", "Veuillez réessayer dans un instant", "Votre demande n’a pas pu être enregistrée pour le moment. Rien n’a été modifié.", ""},
		pageConfirm: {"Se désabonner", "Se désabonner de cette newsletter ?",
			"Appuyez sur le bouton pour ne plus la recevoir. Rien ne change tant que vous ne l’avez pas fait.", "Me désabonner"},
		pageUnsubscribed: {"Désabonnement enregistré", "Vous êtes désabonné de cette newsletter",
			"Vous ne la recevrez plus. La prise en compte par toutes les listes d’envoi peut demander quelques minutes.", ""},
	},
}

const pageStyle = `<style>body{font:16px system-ui,sans-serif;max-width:32em;margin:4em auto;padding:0 1em;color:#222}` +
	`button{font:inherit;padding:.6em 1.4em;border:0;border-radius:.3em;background:#222;color:#fff;cursor:pointer}</style>`

// writePage answers with page kind in language l. action is where the confirm
// page's button posts (RFC 8058's body, as a mail client sends it).
func writePage(ctx *fasthttp.RequestCtx, status int, l lang, kind pageKind, action string) {
	t := pageTexts[l][kind]
	tag := pageTags[l].String()
	b := `<!doctype html><html lang="` + tag + `"><meta charset=utf-8><meta name=viewport content="width=device-width">` +
		`<meta name=robots content=noindex>` + pageStyle + `<title>` + t.title + `</title><h1>` + t.heading + `</h1><p>` + t.body + `</p>`
	if kind == pageConfirm {
		b += `<form method=post action="` + html.EscapeString(action) + `"><input type=hidden name=List-Unsubscribe value=One-Click>` +
			`<button type=submit>` + t.button + `</button></form>`
	}
	ctx.SetStatusCode(status)
	ctx.SetContentType("text/html; charset=utf-8")
	ctx.Response.Header.Set("Content-Language", tag)
	ctx.Response.Header.Set("Vary", "Accept-Language")
	ctx.Response.Header.Set("Cache-Control", "no-store")
	// The address holds the recipient's token and signature.
	ctx.Response.Header.Set("Referrer-Policy", "no-referrer")
	ctx.SetBodyString(b)
}
