package depsim

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"sort"
	"strings"

	"github.com/dghubble/oauth1"
)

// verifyOAuth checks an OAuth1 HMAC-SHA1 Authorization header (RFC 5849)
// against the simulator's keys, as Apple's GET /session does.
func (s *Server) verifyOAuth(r *http.Request) error {
	params, err := parseAuthHeader(r.Header.Get("Authorization"))
	if err != nil {
		return err
	}
	// The realm is optional and takes no part in the signature (RFC 5849
	// 3.5.1): Apple accepts headers without one, and so must the simulator.
	if params["oauth_signature_method"] != "HMAC-SHA1" {
		return errors.New("signature method is not HMAC-SHA1")
	}
	if params["oauth_consumer_key"] != s.creds.ConsumerKey || params["oauth_token"] != s.creds.AccessToken {
		return errors.New("unknown consumer key or access token")
	}
	got := params["oauth_signature"]
	delete(params, "realm")
	delete(params, "oauth_signature")
	for k, v := range r.URL.Query() {
		params[k] = v[0]
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	base := strings.Join([]string{r.Method, oauth1.PercentEncode(scheme + "://" + strings.ToLower(r.Host) + r.URL.Path),
		oauth1.PercentEncode(normalize(params))}, "&")
	mac := hmac.New(sha1.New, []byte(oauth1.PercentEncode(s.creds.ConsumerSecret)+"&"+oauth1.PercentEncode(s.creds.AccessSecret)))
	mac.Write([]byte(base))
	want := base64.StdEncoding.EncodeToString(mac.Sum(nil))
	if !hmac.Equal([]byte(got), []byte(want)) {
		return errors.New("signature does not match")
	}
	return nil
}

func parseAuthHeader(h string) (map[string]string, error) {
	rest, ok := strings.CutPrefix(h, "OAuth ")
	if !ok {
		return nil, errors.New("no OAuth Authorization header")
	}
	params := map[string]string{}
	for _, part := range strings.Split(rest, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return nil, errors.New("malformed OAuth header")
		}
		v, err := url.PathUnescape(strings.Trim(v, `"`))
		if err != nil {
			return nil, errors.New("malformed OAuth header")
		}
		params[k] = v
	}
	return params, nil
}

func normalize(params map[string]string) string {
	pairs := make([]string, 0, len(params))
	for k, v := range params {
		pairs = append(pairs, oauth1.PercentEncode(k)+"="+oauth1.PercentEncode(v))
	}
	sort.Strings(pairs)
	return strings.Join(pairs, "&")
}
