package main

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/orchardmdm/orchard/mdmproto/apns/apnstest"
	"github.com/orchardmdm/orchard/store/pgtest"
)

// TestServePushesThroughTheConfiguredAPNs runs `orchard serve` against a mock
// APNs (ORCHARD_APNS_URL, trusted through SSL_CERT_FILE), uploads a push
// certificate and blocks a device: the push must reach the mock.
func TestServePushesThroughTheConfiguredAPNs(t *testing.T) {
	const topic = "com.apple.mgmt.External.serve-test"
	pc, err := apnstest.NewPushCert(topic, time.Now().Add(365*24*time.Hour))
	mustCerts(t, err)
	mock := apnstest.NewServer(topic, pc.Cert)
	defer mock.Close()
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	mustCerts(t, os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: mock.Certificate().Raw}), 0o644))
	t.Setenv("SSL_CERT_FILE", caFile)
	t.Setenv("ORCHARD_APNS_URL", mock.URL())

	dsn := pgtest.NewDatabase(t)
	key := testKey(t)
	url, _ := startServer(t, dsn, key)
	out, err := orchardCmd(t, dsn, key, "token", "create", "--name", "ci", "--permission", "mdm.*").Output()
	mustCerts(t, err)
	token := strings.TrimSpace(string(out))

	upload := fmt.Sprintf(`mutation { uploadPushCertificate(input: {name: "main", certificate: %q, privateKey: %q}) { topic } }`,
		pc.CertPEM, pc.KeyPEM)
	if got := graphqlQuery(t, url, token, upload); !strings.Contains(got, topic) {
		t.Fatalf("upload answered %s", got)
	}
	conn, err := pgx.Connect(context.Background(), dsn)
	mustCerts(t, err)
	defer conn.Close(context.Background())
	var id int64
	mustCerts(t, conn.QueryRow(context.Background(), `INSERT INTO enrolled_devices (udid, push_token, push_magic, push_topic)
		VALUES ('U1', decode(repeat('ab', 32), 'hex'), 'magic-1', $1) RETURNING id`, topic).Scan(&id))
	got := graphqlQuery(t, url, token, fmt.Sprintf(`mutation { blockDevice(id: "%d") { blockedAt } }`, id))
	var res struct{ Errors []json.RawMessage }
	_ = json.Unmarshal([]byte(got), &res)
	if len(res.Errors) > 0 {
		t.Fatalf("blockDevice answered %s", got)
	}
	deadline := time.Now().Add(30 * time.Second)
	for mock.Count() == 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	metrics := httpGet(t, url+"/metrics")
	if !strings.Contains(metrics, `orchard_apns_certificate_not_after_seconds{topic="`+topic+`"}`) {
		t.Errorf("/metrics lacks the push certificate's expiry")
	}
	// The push went through the dispatcher: nothing is left waiting.
	if !strings.Contains(metrics, "\norchard_apns_pushes_wanted 0\n") {
		t.Errorf("/metrics lacks an empty wanted-push backlog")
	}
	pushes := mock.Pushes()
	if len(pushes) != 1 || pushes[0].PushMagic != "magic-1" || pushes[0].Token != strings.Repeat("ab", 32) {
		t.Fatalf("mock APNs received %+v (violations %v), want the blocked device's push", pushes, mock.Violations())
	}
}

func httpGet(t *testing.T, url string) string {
	t.Helper()
	res, err := http.Get(url)
	mustCerts(t, err)
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	mustCerts(t, err)
	return string(body)
}
