package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"footfall/internal/access"
)

// The accounts API: users and API tokens are an admin's; share links and
// public keys a site's editors' too. A secret is in the answer that made
// it, once; lists show ids and labels only.

// adminOnly lets h answer admins only. Its routes (users, tokens, sites,
// rates) take no report slot: an admin whose reports are all running
// still makes a user or a site.
func (a *API) adminOnly(h http.HandlerFunc) http.HandlerFunc {
	return a.guardSite(access.Reports, false, false, func(w http.ResponseWriter, r *http.Request) {
		if !principalOf(r).Admin {
			writeError(w, http.StatusForbidden, errors.New("only an admin may manage users and API tokens"))
			return
		}
		h(w, r)
	})
}

func (a *API) accessCtx(r *http.Request) (context.Context, context.CancelFunc) {
	return context.WithTimeout(r.Context(), 10*time.Second)
}

// listUsers answers GET /api/v1/users.
func (a *API) listUsers(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := a.accessCtx(r)
	defer cancel()
	users, err := a.access.Users(ctx)
	if err != nil {
		a.fail(w, "users", err)
		return
	}
	writeJSON(w, users)
}

// saveUser answers PUT /api/v1/users/{name} {"password", "admin",
// "sites": {"shop": "editor", "blog": "viewer"}}: creates or replaces the
// user (an empty password keeps theirs; a new one ends their sessions).
func (a *API) saveUser(w http.ResponseWriter, r *http.Request) {
	var b struct {
		Password string        `json:"password"`
		Admin    bool          `json:"admin"`
		Sites    access.Grants `json:"sites"`
	}
	if !decode(w, r, &b) {
		return
	}
	ctx, cancel := a.accessCtx(r)
	defer cancel()
	u, err := a.access.SaveUser(ctx, r.PathValue("name"), b.Password, b.Admin, b.Sites)
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	writeJSON(w, u)
}

// deleteUser answers DELETE /api/v1/users/{name}.
func (a *API) deleteUser(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if name == principalOf(r).User {
		writeError(w, http.StatusBadRequest, errors.New("an admin does not delete their own account"))
		return
	}
	ctx, cancel := a.accessCtx(r)
	defer cancel()
	if err := a.access.DeleteUser(ctx, name); errors.Is(err, access.ErrNotFound) {
		writeError(w, http.StatusNotFound, errors.New("no such user"))
		return
	} else if err != nil {
		a.fail(w, "delete user", err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// Issued is a credential with its secret, in the answer that made it.
type Issued struct {
	access.Credential
	Secret string `json:"secret"`
	// URL is a share link's address (path; the dashboards' own host).
	URL string `json:"url,omitempty"`
}

// listCredentials answers GET /api/v1/tokens, and GET /api/v1/shares?site=
// and /api/v1/keys?site= (those of the site).
func (a *API) listCredentials(kind access.Kind) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := a.accessCtx(r)
		defer cancel()
		all, err := a.access.Credentials(ctx, kind)
		if err != nil {
			a.fail(w, "credentials", err)
			return
		}
		site := r.URL.Query().Get("site")
		out := []access.Credential{}
		for _, c := range all {
			if kind == access.KindToken {
				out = append(out, c)
			} else if _, ok := c.Grants[site]; ok {
				out = append(out, c)
			}
		}
		writeJSON(w, out)
	}
}

// newToken answers POST /api/v1/tokens {"label", "sites": {"shop":
// "read", "blog": "write"}, "expires_at"}: the token, once.
func (a *API) newToken(w http.ResponseWriter, r *http.Request) {
	var b struct {
		Label     string        `json:"label"`
		Sites     access.Grants `json:"sites"`
		ExpiresAt time.Time     `json:"expires_at"`
	}
	if !decode(w, r, &b) {
		return
	}
	ctx, cancel := a.accessCtx(r)
	defer cancel()
	secret, c, err := a.access.NewToken(ctx, b.Label, b.Sites, b.ExpiresAt)
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	writeCreated(w, Issued{Credential: c, Secret: secret})
}

// newShare answers POST /api/v1/shares {"site", "label"}: a read-only
// link to the site's reports, once.
func (a *API) newShare(w http.ResponseWriter, r *http.Request) {
	var b struct{ Site, Label string }
	if !decode(w, r, &b) {
		return
	}
	ctx, cancel := a.accessCtx(r)
	defer cancel()
	secret, c, err := a.access.NewShare(ctx, b.Site, b.Label)
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	writeCreated(w, Issued{Credential: c, Secret: secret, URL: "/share/" + secret})
}

// newKey answers POST /api/v1/keys {"site", "label", "origins":
// ["https://shop.example"]}: the site's public key for its pages.
func (a *API) newKey(w http.ResponseWriter, r *http.Request) {
	var b struct {
		Site, Label string
		Origins     []string
	}
	if !decode(w, r, &b) {
		return
	}
	ctx, cancel := a.accessCtx(r)
	defer cancel()
	secret, c, err := a.access.NewKey(ctx, b.Site, b.Label, b.Origins)
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	writeCreated(w, Issued{Credential: c, Secret: secret})
}

func writeCreated(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusCreated)
	json.NewEncoder(w).Encode(v)
}

// revoke answers DELETE /api/v1/tokens/{id}, /api/v1/shares/{id} and
// /api/v1/keys/{id}: the credential stops working at once. A share link or
// key needs Write on its site; a token, an admin (adminOnly).
func (a *API) revoke(kind access.Kind) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := a.accessCtx(r)
		defer cancel()
		c, err := a.access.Credential(ctx, r.PathValue("id"))
		if errors.Is(err, access.ErrNotFound) || err == nil && c.Kind != kind {
			writeError(w, http.StatusNotFound, fmt.Errorf("no such %s", kind))
			return
		}
		if err != nil {
			a.fail(w, "credential", err)
			return
		}
		p := principalOf(r)
		for site := range c.Grants {
			if !p.Can(site, access.Write) {
				writeError(w, http.StatusForbidden, forbidden(p, site, access.Write))
				return
			}
		}
		if err := a.access.Revoke(ctx, c.ID); err != nil {
			a.fail(w, "revoke", err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}
}
