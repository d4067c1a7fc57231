// Package web holds the dashboard's static files, embedded in the binary.
package web

import "embed"

// Files is the dashboard's static content.
//
//go:embed index.html sites.html people.html
var Files embed.FS
