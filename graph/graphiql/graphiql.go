// Package graphiql serves the GraphiQL browser IDE for orchard's GraphQL API,
// with every script and style embedded in the binary (no CDN).
package graphiql

import (
	"bytes"
	"html/template"
	"net/http"
	"strings"
)

// AssetPrefix is the URL path under which Handler serves the page's assets.
const AssetPrefix = "/graphiql/"

// contentSecurityPolicy allows only this server's own scripts and styles.
// Inline styles stay allowed because GraphiQL's editors set them at run time;
// connect-src 'self' covers the same-origin ws:/wss: subscription socket.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; " +
	"img-src 'self' data:; font-src 'self' data:; connect-src 'self'; " +
	"base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// Handler serves the GraphiQL page at "/" and its assets under AssetPrefix.
// The page sends its queries, mutations and subscriptions to endpoint (a
// path such as "/graphql" or an absolute URL). Mount it at the server root.
func Handler(endpoint string) http.Handler {
	set := embeddedAssets()
	return &handler{page: renderPage(endpoint, set), assets: set}
}

type handler struct {
	page   []byte
	assets assetSet
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	switch {
	case r.URL.Path == "/":
		h.servePage(w, r)
	case strings.HasPrefix(r.URL.Path, AssetPrefix):
		h.assets.serve(w, r, strings.TrimPrefix(r.URL.Path, AssetPrefix))
	default:
		http.NotFound(w, r)
	}
}

func (h *handler) servePage(w http.ResponseWriter, r *http.Request) {
	hdr := w.Header()
	hdr.Set("Content-Type", "text/html; charset=utf-8")
	// The page names versioned asset URLs, so it must be revalidated for a
	// new orchard build's assets to be picked up.
	hdr.Set("Cache-Control", "no-cache")
	hdr.Set("Content-Security-Policy", contentSecurityPolicy)
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Referrer-Policy", "no-referrer")
	http.ServeContent(w, r, "", zeroTime, bytes.NewReader(h.page))
}

var pageTemplate = template.Must(template.New("index.html.tmpl").
	Funcs(template.FuncMap{"asset": func(string) string { panic("asset is bound per render") }}).
	ParseFS(files, "index.html.tmpl"))

// renderPage fills in the endpoint and the versioned asset URLs. The
// template is embedded and fixed, so a failure is a build defect.
func renderPage(endpoint string, set assetSet) []byte {
	t := template.Must(pageTemplate.Clone()).Funcs(template.FuncMap{"asset": set.url})
	var b bytes.Buffer
	if err := t.Execute(&b, struct{ Endpoint string }{endpoint}); err != nil {
		panic("graphiql: render page: " + err.Error())
	}
	return b.Bytes()
}
