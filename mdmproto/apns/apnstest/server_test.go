package apnstest_test

import (
	"crypto/tls"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http2"

	"github.com/orchardmdm/orchard/mdmproto/apns/apnstest"
)

// TestServerRefusesMalformedPushes: the mock is what tells a test the
// client got a push wrong, so each rule must catch what it is for.
func TestServerRefusesMalformedPushes(t *testing.T) {
	const topic = "com.apple.mgmt.External.apnstest"
	pc, err := apnstest.NewPushCert(topic, time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	srv := apnstest.NewServer(topic, pc.Cert)
	defer srv.Close()
	client := &http.Client{Transport: &http2.Transport{TLSClientConfig: &tls.Config{
		Certificates: []tls.Certificate{pc.TLS}, RootCAs: srv.RootCAs()}}}
	good := map[string]string{"apns-push-type": "mdm", "apns-topic": topic, "apns-priority": "10",
		"apns-expiration": strconv.FormatInt(time.Now().Add(time.Hour).Unix(), 10)}
	cases := []struct {
		name, path, body string
		header           map[string]string
		want             int
	}{
		{"well formed", "/3/device/00ff", `{"mdm":"magic"}`, nil, http.StatusOK},
		{"escaped magic", "/3/device/00ff", `{"mdm":"a\"b"}`, nil, http.StatusOK},
		{"odd token", "/3/device/0ff", `{"mdm":"m"}`, nil, http.StatusBadRequest},
		{"not hex", "/3/device/zz", `{"mdm":"m"}`, nil, http.StatusBadRequest},
		{"other push type", "/3/device/00ff", `{"mdm":"m"}`, map[string]string{"apns-push-type": "alert"}, http.StatusBadRequest},
		{"other topic", "/3/device/00ff", `{"mdm":"m"}`, map[string]string{"apns-topic": "x"}, http.StatusBadRequest},
		{"expired", "/3/device/00ff", `{"mdm":"m"}`, map[string]string{"apns-expiration": "1"}, http.StatusBadRequest},
		{"extra field", "/3/device/00ff", `{"mdm":"m","aps":{}}`, nil, http.StatusBadRequest},
		{"empty magic", "/3/device/00ff", `{"mdm":""}`, nil, http.StatusBadRequest},
		{"control character", "/3/device/00ff", "{\"mdm\":\"a\x01\"}", nil, http.StatusBadRequest},
		{"not JSON", "/3/device/00ff", `mdm=m`, nil, http.StatusBadRequest},
	}
	for _, c := range cases {
		req, _ := http.NewRequest(http.MethodPost, srv.URL()+c.path, strings.NewReader(c.body))
		for k, v := range good {
			req.Header.Set(k, v)
		}
		for k, v := range c.header {
			req.Header.Set(k, v)
		}
		res, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		res.Body.Close()
		if res.StatusCode != c.want {
			t.Errorf("%s: %d, want %d", c.name, res.StatusCode, c.want)
		}
	}
	if got := len(srv.Violations()); got != len(cases)-2 {
		t.Errorf("%d violations recorded, want %d", got, len(cases)-2)
	}
	if p := srv.Pushes(); len(p) != 2 || p[0].PushMagic != "magic" || p[1].PushMagic != `a"b` {
		t.Errorf("pushes %+v, want magics %q and %q", p, "magic", `a"b`)
	}
}
