package server

import (
	"bytes"
	"net/http/pprof"

	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttpadaptor"
)

// withPprof serves net/http/pprof under /debug/pprof/ beside next.
func withPprof(next fasthttp.RequestHandler) fasthttp.RequestHandler {
	index := fasthttpadaptor.NewFastHTTPHandlerFunc(pprof.Index)
	named := map[string]fasthttp.RequestHandler{
		"/debug/pprof/profile": fasthttpadaptor.NewFastHTTPHandlerFunc(pprof.Profile),
		"/debug/pprof/trace":   fasthttpadaptor.NewFastHTTPHandlerFunc(pprof.Trace),
		"/debug/pprof/symbol":  fasthttpadaptor.NewFastHTTPHandlerFunc(pprof.Symbol),
		"/debug/pprof/cmdline": fasthttpadaptor.NewFastHTTPHandlerFunc(pprof.Cmdline),
	}
	prefix := []byte("/debug/pprof/")
	return func(ctx *fasthttp.RequestCtx) {
		if !bytes.HasPrefix(ctx.Path(), prefix) {
			next(ctx)
			return
		}
		if h, ok := named[string(ctx.Path())]; ok {
			h(ctx)
			return
		}
		index(ctx)
	}
}
