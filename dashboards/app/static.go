package app

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io/fs"
	"net/http"
	"strings"

	"github.com/klauspost/compress/gzhttp"
)

// static serves the embedded page files (dashboards/web): compressed with
// gzip when the request's Accept-Encoding allows it (gzhttp, which also
// adds Vary: Accept-Encoding), and cacheable. Each file carries a weak
// ETag made from its content (weak: the gzip and the plain answer are the
// same file), so a browser that kept it asks again with If-None-Match and
// gets a 304 without a body until a new build changes the file. The pages
// are Cache-Control: no-cache (kept, but checked before each use: a new
// release is seen at once); the favicon may be used for a day unchecked.
func static(files fs.FS) (http.Handler, error) {
	tags := map[string]string{}
	err := fs.WalkDir(files, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(files, name)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		tags[name] = `W/"` + base64.RawURLEncoding.EncodeToString(sum[:12]) + `"`
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read the page files: %w", err)
	}
	serve := http.FileServerFS(files)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := strings.TrimPrefix(r.URL.Path, "/")
		if name == "" {
			name = "index.html"
		}
		if tag, ok := tags[name]; ok {
			// http.FileServer answers If-None-Match from this header.
			w.Header().Set("ETag", tag)
			if name == "favicon.ico" {
				w.Header().Set("Cache-Control", "public, max-age=86400")
				w.Header().Set("Content-Type", "image/x-icon")
			} else {
				w.Header().Set("Cache-Control", "no-cache")
			}
		}
		serve.ServeHTTP(w, r)
	})
	gz, err := gzhttp.NewWrapper(gzhttp.MinSize(512))
	if err != nil {
		return nil, err
	}
	return gz(h), nil
}
