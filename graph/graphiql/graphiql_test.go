package graphiql

import (
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

func get(t *testing.T, h http.Handler, target string, header http.Header) *http.Response {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, target, nil)
	for k, v := range header {
		req.Header[k] = v
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Result()
}

func readBody(t *testing.T, resp *http.Response) string {
	t.Helper()
	r := resp.Body
	if resp.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		r = zr
	}
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

var refPattern = regexp.MustCompile(`(?:src|href)="([^"]*)"`)

func TestPageServesEveryReferencedAssetWithItsType(t *testing.T) {
	h := Handler("/graphql")
	resp := get(t, h, "/", nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET / = %d", resp.StatusCode)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
		t.Errorf("page Content-Type %q", ct)
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") {
		t.Errorf("page CSP %q does not restrict scripts to this server", csp)
	}
	page := readBody(t, resp)
	if !strings.Contains(page, `<meta name="orchard-graphql-endpoint" content="/graphql">`) {
		t.Errorf("page does not carry the endpoint:\n%s", page)
	}

	wantTypes := map[string]string{".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}
	var refs [][]string
	for _, m := range refPattern.FindAllStringSubmatch(page, -1) {
		if m[1] != "data:," { // the empty favicon, inline so browsers ask nothing
			refs = append(refs, m)
		}
	}
	if len(refs) != 6 { // graphiql css, orchard css, react, react-dom, graphiql js, orchard js
		t.Fatalf("page references %d assets, want 6: %v", len(refs), refs)
	}
	for _, m := range refs {
		ref := strings.ReplaceAll(m[1], "&amp;", "&")
		if !strings.HasPrefix(ref, AssetPrefix) {
			t.Errorf("page references %q outside the embedded assets", ref)
			continue
		}
		resp := get(t, h, ref, nil)
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s = %d", ref, resp.StatusCode)
			continue
		}
		ext := regexp.MustCompile(`\.(js|css)\?`).FindStringSubmatch(ref)
		if ext == nil {
			t.Errorf("reference %q is neither script nor stylesheet", ref)
			continue
		}
		if ct := resp.Header.Get("Content-Type"); ct != wantTypes["."+ext[1]] {
			t.Errorf("%s Content-Type %q", ref, ct)
		}
		if cc := resp.Header.Get("Cache-Control"); !strings.Contains(cc, "immutable") {
			t.Errorf("%s with its version is not cached for good: %q", ref, cc)
		}
		if len(readBody(t, resp)) == 0 {
			t.Errorf("%s is empty", ref)
		}
	}
}

func TestPageAndOwnScriptsReachNoOtherHost(t *testing.T) {
	h := Handler("/graphql")
	external := regexp.MustCompile(`(?i)(https?:|wss?:)?//[a-z0-9.-]+\.[a-z]{2,}`)
	for _, target := range []string{"/", "/graphiql/orchard.js", "/graphiql/orchard.css"} {
		body := readBody(t, get(t, h, target, nil))
		if m := external.FindString(body); m != "" {
			t.Errorf("%s refers to another host: %q", target, m)
		}
		if target == "/" && strings.Contains(body, "<script>") {
			t.Errorf("page has an inline script, which the CSP blocks")
		}
	}
}

func TestLicensesAreServedAsText(t *testing.T) {
	h := Handler("/graphql")
	for _, p := range []string{"graphiql-3.9.0/LICENSE", "react-18.3.1/LICENSE", "react-dom-18.3.1/LICENSE"} {
		resp := get(t, h, AssetPrefix+p, nil)
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/plain; charset=utf-8" {
			t.Errorf("GET %s = %d %q", p, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		if body := readBody(t, resp); !strings.Contains(body, "MIT License") {
			t.Errorf("%s is not the MIT license text", p)
		}
	}
}

func TestAssetCachingAndCompression(t *testing.T) {
	h := Handler("/graphql")
	const js = AssetPrefix + "graphiql-3.9.0/graphiql.min.js"

	plain := get(t, h, js, nil)
	if cc := plain.Header.Get("Cache-Control"); cc != "no-cache" {
		t.Errorf("unversioned request Cache-Control %q, want no-cache", cc)
	}
	plainBody := readBody(t, plain)

	zipped := get(t, h, js, http.Header{"Accept-Encoding": {"gzip, deflate, br"}})
	if zipped.Header.Get("Content-Encoding") != "gzip" {
		t.Fatalf("large script not gzipped for a client that accepts it")
	}
	if readBody(t, zipped) != plainBody {
		t.Fatal("gzipped body differs from the plain one")
	}
	if zipped.Header.Get("ETag") == plain.Header.Get("ETag") {
		t.Error("gzipped and plain representations share an ETag")
	}

	refused := get(t, h, js, http.Header{"Accept-Encoding": {"gzip;q=0"}})
	if refused.Header.Get("Content-Encoding") != "" {
		t.Error("gzip sent to a client that refused it")
	}

	again := get(t, h, js, http.Header{"If-None-Match": {plain.Header.Get("ETag")}})
	if again.StatusCode != http.StatusNotModified {
		t.Errorf("revalidation with the current ETag = %d, want 304", again.StatusCode)
	}
}

func TestUnknownPathsAndMethods(t *testing.T) {
	h := Handler("/graphql")
	for _, target := range []string{"/graphiql/nope.js", "/other", "/graphiql/../graphiql.go", "/index.html.tmpl"} {
		if resp := get(t, h, target, nil); resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s = %d, want 404", target, resp.StatusCode)
		}
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/", nil))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST / = %d, want 405", rec.Code)
	}
}

func TestEndpointIsEscaped(t *testing.T) {
	page := readBody(t, get(t, Handler(`/graphql"><script>alert(1)</script>`), "/", nil))
	if strings.Contains(page, "<script>alert") {
		t.Fatal("endpoint inserted into the page unescaped")
	}
}
