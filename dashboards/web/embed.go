// Package web holds the dashboard's static files, embedded in the binary.
package web

import "embed"

// Files is the dashboard's static content: its pages and the favicon.
//
//go:embed index.html sites.html people.html favicon.ico
var Files embed.FS
