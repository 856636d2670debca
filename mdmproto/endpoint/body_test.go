package endpoint_test

import (
	"bytes"
	"context"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/micromdm/plist"

	"github.com/orchardmdm/orchard/mdmproto"
	"github.com/orchardmdm/orchard/mdmproto/endpoint"
	"github.com/orchardmdm/orchard/mdmproto/scep"
)

// trapBody stands for a 20 MB body and records whether anyone read it.
type trapBody struct{ read atomic.Bool }

func (b *trapBody) Read(p []byte) (int, error) {
	b.read.Store(true)
	clear(p)
	return len(p), nil
}

// serve runs one request through the endpoint's handler in-process.
func serve(ep *endpoint.Endpoint, body io.Reader, size int64, headers map[string]string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPut, endpoint.ServerPath, body)
	req.ContentLength = size
	req.Header.Set("Content-Type", reportType)
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	ep.Handler().ServeHTTP(rec, req)
	return rec
}

// TestUntrustedRequestsAreRefusedBeforeTheBody: a request without a trusted
// certificate in its headers is answered without reading a byte of its body,
// so anonymous clients cannot make orchard hold 20 MB each.
func TestUntrustedRequestsAreRefusedBeforeTheBody(t *testing.T) {
	t.Parallel()
	ts := newServer(t)
	proxied := newServer(t, func(c *endpoint.Config) { c.MTLSProxy = true })
	d := ts.enrolled()
	otherBundle, err := scep.GenerateCA("another CA")
	if err != nil {
		t.Fatal(err)
	}
	otherCA, _ := scep.ParseCA(otherBundle)
	foreign := certFor(t, otherCA, d, time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	foreignPEM := url.QueryEscape(string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: foreign.Raw})))
	idle := idleBody(t, d.UDID)

	for _, tc := range []struct {
		name    string
		ep      *endpoint.Endpoint
		size    int64
		headers map[string]string
		want    int
	}{
		{"no signature", ts.ep, 20 << 20, nil, http.StatusBadRequest},
		{"signature not base64", ts.ep, 20 << 20, map[string]string{mdmproto.SignatureHeader: "%%%"}, http.StatusBadRequest},
		{"signature not CMS", ts.ep, 20 << 20, map[string]string{mdmproto.SignatureHeader: "AAAA"}, http.StatusBadRequest},
		{"signer of another CA", ts.ep, 20 << 20, sign(t, idle, foreign, d.Key), http.StatusForbidden},
		{"over the report limit", ts.ep, 21 << 20, sign(t, idle, d.Cert, d.Key), http.StatusRequestEntityTooLarge},
		{"proxy without a certificate", proxied.ep, 20 << 20, nil, http.StatusBadRequest},
		{"proxy with another CA's certificate", proxied.ep, 20 << 20,
			map[string]string{mdmproto.ClientCertHeader: foreignPEM}, http.StatusForbidden},
	} {
		body := &trapBody{}
		if rec := serve(tc.ep, body, tc.size, tc.headers); rec.Code != tc.want {
			t.Errorf("%s: HTTP %d, want %d", tc.name, rec.Code, tc.want)
		}
		if body.read.Load() {
			t.Errorf("%s: the body was read before the refusal", tc.name)
		}
	}
}

// gateBody hands out its bytes only after open is closed, and tells started
// when it is first read.
type gateBody struct {
	r       io.Reader
	started chan struct{}
	open    chan struct{}
	once    atomic.Bool
}

func (g *gateBody) Read(p []byte) (int, error) {
	if g.once.CompareAndSwap(false, true) {
		close(g.started)
	}
	<-g.open
	return g.r.Read(p)
}

// paddedIdle is a signed Idle report of about size bytes.
func paddedIdle(t *testing.T, udid string, size int) []byte {
	t.Helper()
	b, err := plist.Marshal(map[string]any{"UDID": udid, "Status": "Idle", "Padding": string(bytes.Repeat([]byte("x"), size))})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestLargeBodiesShareOneBudget: while large bodies hold the budget, another
// large body is refused with 503 and Retry-After, unread; once they are
// done it goes through. Small bodies never wait for the budget.
func TestLargeBodiesShareOneBudget(t *testing.T) {
	t.Parallel()
	ts := newServer(t, func(c *endpoint.Config) {
		c.LargeBodyThreshold, c.LargeBodyBudget = 4<<10, 40<<10
		c.MaxCheckinBytes, c.MaxReportBytes = 32<<10, 32<<10
	})
	d := ts.enrolled()
	large := paddedIdle(t, d.UDID, 30<<10)
	headers := sign(t, large, d.Cert, d.Key)

	held := &gateBody{r: bytes.NewReader(large), started: make(chan struct{}), open: make(chan struct{})}
	done := make(chan int)
	go func() { done <- serve(ts.ep, held, int64(len(large)), headers).Code }()
	<-held.started

	refused := &trapBody{}
	rec := serve(ts.ep, refused, int64(len(large)), headers)
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" {
		t.Errorf("a large body over the budget: HTTP %d, Retry-After %q; want 503 with Retry-After",
			rec.Code, rec.Header().Get("Retry-After"))
	}
	if refused.read.Load() {
		t.Error("the refused body was read")
	}
	small := idleBody(t, d.UDID)
	if rec := serve(ts.ep, bytes.NewReader(small), int64(len(small)), sign(t, small, d.Cert, d.Key)); rec.Code != http.StatusOK {
		t.Errorf("a small body while the budget is spent: HTTP %d", rec.Code)
	}
	close(held.open)
	if code := <-done; code != http.StatusOK {
		t.Errorf("the large body that held the budget: HTTP %d", code)
	}
	if rec := serve(ts.ep, bytes.NewReader(large), int64(len(large)), headers); rec.Code != http.StatusOK {
		t.Errorf("a large body once the budget is free: HTTP %d", rec.Code)
	}
}

// stalled sends the first half of body to url, then nothing more, and
// returns the answer's status.
func stalled(t *testing.T, ts *testServer, url, contentType string, body []byte, headers map[string]string) int {
	t.Helper()
	pr, pw := io.Pipe()
	t.Cleanup(func() { pw.Close() })
	go func() { _, _ = pw.Write(body[:len(body)/2]) }() // and nothing more
	// The deadline only guards the test against hanging on a server that never gives up.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, url, pr)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(url, "/enroll/") || strings.Contains(url, "/scep") {
		req.Method = http.MethodPost
	}
	req.ContentLength = int64(len(body))
	req.Header.Set("Content-Type", contentType)
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	res, err := ts.srv.Client().Do(req)
	if err != nil {
		t.Fatalf("stalled body to %s: %v, want an answer", url, err)
	}
	res.Body.Close()
	return res.StatusCode
}

// TestStalledBodyIsCutOff: a client that sends part of its body and stalls
// is answered once BodyReadTimeout passes, instead of holding its connection
// and buffer for ever: on the MDM channel, DEP machine info and SCEP.
func TestStalledBodyIsCutOff(t *testing.T) {
	t.Parallel()
	ts := newServer(t, func(c *endpoint.Config) { c.BodyReadTimeout = 300 * time.Millisecond })
	d := ts.enrolled()
	body := paddedIdle(t, d.UDID, 64<<10)
	if got := stalled(t, ts, ts.srv.URL+endpoint.ServerPath, reportType, body, sign(t, body, d.Cert, d.Key)); got != http.StatusRequestTimeout {
		t.Errorf("MDM report: HTTP %d, want 408", got)
	}
	info := bytes.Repeat([]byte{0x30}, 8<<10)
	if got := stalled(t, ts, ts.enrollURL, "application/pkcs7-signature", info, nil); got != http.StatusRequestTimeout {
		t.Errorf("DEP machine info: HTTP %d, want 408", got)
	}
	if got := stalled(t, ts, ts.srv.URL+"/scep?operation=PKIOperation", "application/x-pki-message", info, nil); got < 400 {
		t.Errorf("SCEP: HTTP %d, want a refusal", got)
	}
	// The device's next, whole request is served as usual.
	if _, err := d.Connect(context.Background()); err != nil {
		t.Fatal(err)
	}
}
