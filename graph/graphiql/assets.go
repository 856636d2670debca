package graphiql

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"sync"
	"time"
)

//go:embed index.html.tmpl assets
var files embed.FS

var zeroTime time.Time

// contentTypes lists every kind of file the assets directory may hold;
// loading fails on anything else so a stray file cannot go out mislabelled.
var contentTypes = map[string]string{
	".js":  "text/javascript; charset=utf-8",
	".css": "text/css; charset=utf-8",
	"":     "text/plain; charset=utf-8", // LICENSE files
}

type asset struct {
	body        []byte
	gzipped     []byte // nil when compression does not pay
	contentType string
	version     string // short content hash, also the cache-busting query value
}

// assetSet maps a path below AssetPrefix to its asset.
type assetSet map[string]*asset

// embeddedAssets loads and compresses the embedded files once per process.
var embeddedAssets = sync.OnceValue(func() assetSet {
	set, err := loadAssets(files, "assets")
	if err != nil {
		panic("graphiql: " + err.Error())
	}
	return set
})

func loadAssets(fsys fs.FS, dir string) (assetSet, error) {
	set := assetSet{}
	err := fs.WalkDir(fsys, dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		ct, ok := contentTypes[path.Ext(p)]
		if !ok {
			return &fs.PathError{Op: "load asset", Path: p, Err: fs.ErrInvalid}
		}
		body, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(body)
		set[strings.TrimPrefix(p, dir+"/")] = &asset{
			body:        body,
			gzipped:     gzipIfSmaller(body),
			contentType: ct,
			version:     hex.EncodeToString(sum[:8]),
		}
		return nil
	})
	return set, err
}

func gzipIfSmaller(body []byte) []byte {
	var b bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&b, gzip.BestCompression)
	_, _ = zw.Write(body)
	_ = zw.Close()
	if b.Len() >= len(body)*9/10 {
		return nil
	}
	return b.Bytes()
}

// url returns the versioned URL of a named asset for the page template.
func (s assetSet) url(name string) (string, error) {
	a, ok := s[name]
	if !ok {
		return "", &fs.PathError{Op: "reference asset", Path: name, Err: fs.ErrNotExist}
	}
	return AssetPrefix + name + "?v=" + a.version, nil
}

// serve answers with one asset. A request carrying the current version may
// be cached for good; any other must revalidate against the ETag.
func (s assetSet) serve(w http.ResponseWriter, r *http.Request, name string) {
	a, ok := s[name]
	if !ok {
		http.NotFound(w, r)
		return
	}
	hdr := w.Header()
	hdr.Set("Content-Type", a.contentType)
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Vary", "Accept-Encoding")
	if r.URL.Query().Get("v") == a.version {
		hdr.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		hdr.Set("Cache-Control", "no-cache")
	}
	body, etag := a.body, `"`+a.version+`"`
	if a.gzipped != nil && acceptsGzip(r) {
		body, etag = a.gzipped, `"`+a.version+`-gz"`
		hdr.Set("Content-Encoding", "gzip")
	}
	hdr.Set("ETag", etag)
	http.ServeContent(w, r, "", zeroTime, bytes.NewReader(body))
}

// acceptsGzip reads Accept-Encoding closely enough for browsers: gzip
// listed and not refused with q=0.
func acceptsGzip(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		coding, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if !strings.EqualFold(strings.TrimSpace(coding), "gzip") {
			continue
		}
		q := strings.ReplaceAll(params, " ", "")
		return q != "q=0" && q != "q=0.0" && q != "q=0.00" && q != "q=0.000"
	}
	return false
}
