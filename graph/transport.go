package graph

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// Uploads are read whole by gqlgen's multipart transport; only callers with a
// token may send them.
const maxUploadBytes = 10 << 20

// limitBody bounds the body before gqlgen reads it whole: a caller without a
// token gets the small anonymous bound and no uploads at all.
func limitBody(limits Limits, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		lim, anonymous := limits.forCaller(r.Context())
		limit := int64(lim.RequestBytes)
		if strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/") && !anonymous {
			limit = maxUploadBytes + int64(lim.RequestBytes) // the upload plus the operation around it
		}
		if r.ContentLength > limit {
			writeRequestError(w, http.StatusRequestEntityTooLarge, "request body too large")
			return
		}
		// Bodies of unknown length stop at the limit; reading past it fails.
		r.Body = http.MaxBytesReader(w, r.Body, limit)
		next.ServeHTTP(w, r)
	})
}

// postJSON is gqlgen's POST transport, except that a body that is not a JSON
// GraphQL request is refused here: gqlgen's own answer quotes the whole body,
// and its error used to reach the log verbatim (keys and passwords included).
type postJSON struct{ transport.POST }

func (t postJSON) Do(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor) {
	body, err := io.ReadAll(r.Body)
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		writeRequestError(w, http.StatusRequestEntityTooLarge, "request body too large")
		return
	case err != nil:
		writeRequestError(w, http.StatusBadRequest, "the request body could not be read")
		return
	case !isGraphQLRequest(body):
		writeRequestError(w, http.StatusBadRequest,
			`the body is not a GraphQL request: send a JSON object {"query": "...", "variables": {...}}`)
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	t.POST.Do(w, r, exec)
}

// isGraphQLRequest decodes body the way gqlgen will, so gqlgen never fails to.
func isGraphQLRequest(body []byte) bool {
	var params graphql.RawParams
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	return dec.Decode(&params) == nil
}

// writeRequestError answers a request refused before GraphQL saw it.
func writeRequestError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	transport.SendError(w, status, &gqlerror.Error{Message: msg, Extensions: map[string]any{"code": CodeBadRequest}})
}
