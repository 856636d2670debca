package graph_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/orchardmdm/orchard/graph"
	"github.com/orchardmdm/orchard/jobs"
	"github.com/orchardmdm/orchard/jobs/jobargs"
	"github.com/orchardmdm/orchard/mdmproto/apns"
	"github.com/orchardmdm/orchard/mdmproto/apns/apnstest"
	"github.com/orchardmdm/orchard/mdmproto/pushcert"
	"github.com/orchardmdm/orchard/service"
	"github.com/orchardmdm/orchard/store"
)

const gqlTopic = "com.apple.mgmt.External.graph-test"

// newPushTestAPI is newTestAPI with pushes wired to a mock APNs server that
// expects cert's pushes.
func newPushTestAPI(t *testing.T, cert *apnstest.PushCert) (*testAPI, *apnstest.Server) {
	t.Helper()
	mock := apnstest.NewServer(gqlTopic, cert.Cert)
	t.Cleanup(mock.Close)
	pool := apns.New(apns.Config{URL: mock.URL(), RootCAs: mock.RootCAs(), Concurrency: 4})
	t.Cleanup(pool.Close)
	api := startTestAPI(t, func(_ *store.Store, _ *service.Config, d *jobs.Deps) {
		d.APNs, d.Push = pool, jobs.PushConfig{Window: 50 * time.Millisecond}
	}, nil)
	return api, mock
}

func newTestPushCert(t *testing.T, topic string, notAfter time.Time) *apnstest.PushCert {
	t.Helper()
	pc, err := apnstest.NewPushCert(topic, notAfter)
	must(t, err)
	return pc
}

const uploadMutation = `mutation($input: UploadPushCertificateInput!) {
  uploadPushCertificate(input: $input) { id name topic notAfter daysUntilExpiry certificate }
}`

const updateMutation = `mutation($id: ID!, $input: UpdatePushCertificateInput!) {
  updatePushCertificate(id: $id, input: $input) { id name topic notAfter expiryWarning }
}`

type pushCertNode struct {
	ID              string
	Name            string
	Topic           string
	NotAfter        time.Time
	DaysUntilExpiry int
	Certificate     string
	ExpiryWarning   *string
}

// storedPushState counts what an upload could have left behind.
func storedPushState(t *testing.T, api *testAPI) (certs, audits int) {
	t.Helper()
	must(t, api.store.Pool().QueryRow(context.Background(), `SELECT
		(SELECT count(*) FROM push_certificates),
		(SELECT count(*) FROM audit_events WHERE object_type = 'push_certificate')`).Scan(&certs, &audits))
	return certs, audits
}

func TestPushCertificateUploadRefusalsStoreNothing(t *testing.T) {
	t.Parallel()
	year := time.Now().Add(365 * 24 * time.Hour)
	good := newTestPushCert(t, gqlTopic, year)
	api, _ := newPushTestAPI(t, good)
	tok := api.token("mdm.add_pushcertificate", "mdm.change_pushcertificate")
	other := newTestPushCert(t, gqlTopic, year)
	notMDM := newTestPushCert(t, "com.example.app", year)
	expired := newTestPushCert(t, gqlTopic, time.Now().Add(-time.Minute))
	encrypted, err := pushcert.EncryptPrivateKey(good.Key, []byte("right"))
	must(t, err)

	for name, tc := range map[string]struct {
		input map[string]any
		want  string
	}{
		"mismatched key": {map[string]any{"certificate": string(good.CertPEM), "privateKey": string(other.KeyPEM)}, "does not match"},
		"wrong topic prefix": {map[string]any{"certificate": string(notMDM.CertPEM), "privateKey": string(notMDM.KeyPEM)},
			"does not start with com.apple.mgmt"},
		"garbage certificate": {map[string]any{"certificate": "garbage", "privateKey": string(good.KeyPEM)}, "not a PEM or DER"},
		"garbage key":         {map[string]any{"certificate": string(good.CertPEM), "privateKey": "garbage"}, "not PEM"},
		"wrong password": {map[string]any{"certificate": string(good.CertPEM), "privateKey": string(encrypted), "password": "wrong"},
			"password is wrong"},
		"expired": {map[string]any{"certificate": string(expired.CertPEM), "privateKey": string(expired.KeyPEM)}, "expired"},
		"no name": {map[string]any{"name": " ", "certificate": string(good.CertPEM), "privateKey": string(good.KeyPEM)}, "name"},
	} {
		if _, ok := tc.input["name"]; !ok {
			tc.input["name"] = "main"
		}
		res := api.query(tok, uploadMutation, map[string]any{"input": tc.input})
		if res.code() != graph.CodeBadUserInput || !strings.Contains(res.Errors[0].Message, tc.want) {
			t.Errorf("%s: errors %+v, want BAD_USER_INPUT mentioning %q", name, res.Errors, tc.want)
		}
		if certs, audits := storedPushState(t, api); certs != 0 || audits != 0 {
			t.Fatalf("%s: %d certificates and %d audit events stored after a refusal", name, certs, audits)
		}
	}

	var created struct{ UploadPushCertificate pushCertNode }
	api.query(tok, uploadMutation, map[string]any{"input": map[string]any{"name": "main",
		"certificate": string(good.CertPEM), "privateKey": string(encrypted), "password": "right"}}).decode(t, &created)
	c := created.UploadPushCertificate
	if c.Topic != gqlTopic || c.DaysUntilExpiry < 364 || c.Certificate != string(good.CertPEM) {
		t.Fatalf("uploaded = %+v", c)
	}
	res := api.query(tok, uploadMutation, map[string]any{"input": map[string]any{"name": "again",
		"certificate": string(good.CertPEM), "privateKey": string(good.KeyPEM)}})
	if res.code() != graph.CodeBadUserInput || !strings.Contains(res.Errors[0].Message, "renew it") {
		t.Fatalf("second upload of a topic: %+v, want BAD_USER_INPUT pointing to renewal", res.Errors)
	}

	checkPushCertificateRenewal(t, api, tok, good, c)
}

// checkPushCertificateRenewal: another topic is refused and leaves the stored
// certificate as it was; the same topic renews it.
func checkPushCertificateRenewal(t *testing.T, api *testAPI, tok string, good *apnstest.PushCert, c pushCertNode) {
	t.Helper()
	year := time.Now().Add(365 * 24 * time.Hour)
	otherTopic := newTestPushCert(t, gqlTopic+".other", year)
	res := api.query(tok, updateMutation, map[string]any{"id": c.ID, "input": map[string]any{
		"certificate": string(otherTopic.CertPEM), "privateKey": string(otherTopic.KeyPEM)}})
	if res.code() != graph.CodeBadUserInput || !strings.Contains(res.Errors[0].Message, "topic") {
		t.Fatalf("renewal with another topic: %+v, want BAD_USER_INPUT about the topic", res.Errors)
	}
	stored, err := api.store.ListPushCertificates(context.Background())
	must(t, err)
	if len(stored) != 1 || stored[0].Certificate != string(good.CertPEM) {
		t.Fatalf("stored after refused renewal: %+v", stored)
	}
	renewedCert, err := apnstest.PushCertWithKey(gqlTopic, year.Add(30*24*time.Hour), good.Key)
	must(t, err)
	var renewed struct{ UpdatePushCertificate pushCertNode }
	api.query(tok, updateMutation, map[string]any{"id": c.ID, "input": map[string]any{
		"certificate": string(renewedCert.CertPEM), "privateKey": string(good.KeyPEM)}}).decode(t, &renewed)
	if !renewed.UpdatePushCertificate.NotAfter.After(c.NotAfter) || renewed.UpdatePushCertificate.Name != "main" {
		t.Fatalf("renewed = %+v, uploaded %+v", renewed.UpdatePushCertificate, c)
	}
}

func TestPushMutationsAndBlockingReachAPNs(t *testing.T) {
	t.Parallel()
	pc := newTestPushCert(t, gqlTopic, time.Now().Add(365*24*time.Hour))
	api, mock := newPushTestAPI(t, pc)
	admin := api.token("mdm.add_pushcertificate", "mdm.change_enrolleddevice", "mdm.view_job")
	api.query(admin, uploadMutation, map[string]any{"input": map[string]any{"name": "main",
		"certificate": string(pc.CertPEM), "privateKey": string(pc.KeyPEM)}}).decode(t, &struct{}{})
	ids := addDevices(t, api.store, 5, "macOS", nil)
	// Four devices sent TokenUpdate; the fifth has no push channel.
	_, err := api.store.Pool().Exec(context.Background(), `UPDATE enrolled_devices SET
		push_token = decode(lpad(to_hex(id), 64, '0'), 'hex'), push_magic = 'magic', push_topic = $1
		WHERE id <> $2`, gqlTopic, ids[4])
	must(t, err)

	var pushed struct {
		PushDevices struct {
			DeviceCount int
			Jobs        []struct{ Kind string }
		}
	}
	api.query(admin, `mutation { pushDevices(filter: {platform: "macOS"}) { deviceCount jobs { kind } } }`, nil).decode(t, &pushed)
	if pushed.PushDevices.DeviceCount != 4 || len(pushed.PushDevices.Jobs) != 1 || pushed.PushDevices.Jobs[0].Kind != "apns_push" {
		t.Fatalf("pushDevices = %+v", pushed.PushDevices)
	}
	waitForPushes(t, mock, 4)

	res := api.query(admin, `mutation($id: ID!) { pushDevice(id: $id) { id } }`, map[string]any{"id": ids[4]})
	if res.code() != graph.CodeBadUserInput {
		t.Fatalf("pushDevice without a push token: %+v, want BAD_USER_INPUT", res.Errors)
	}
	time.Sleep(100 * time.Millisecond) // past the coalescing window
	api.query(admin, `mutation($id: ID!) { pushDevice(id: $id) { kind } }`, map[string]any{"id": ids[0]}).decode(t, &struct{}{})
	waitForPushes(t, mock, 5)

	time.Sleep(100 * time.Millisecond)
	api.query(admin, `mutation($id: ID!) { blockDevice(id: $id) { id } }`, map[string]any{"id": ids[1]}).decode(t, &struct{}{})
	waitForPushes(t, mock, 6)
	if last := mock.Pushes()[5]; last.Token != fmt.Sprintf("%064x", ids[1]) {
		t.Fatalf("blocking pushed token %s, want device %d's", last.Token, ids[1])
	}
}

func TestGoneTokenIsVisibleAndNotPushed(t *testing.T) {
	t.Parallel()
	api := newTestAPI(t)
	admin := api.token("mdm.view_enrolleddevice", "mdm.change_enrolleddevice")
	ids := addDevices(t, api.store, 1, "iOS", nil)
	ctx := context.Background()
	_, err := api.store.Pool().Exec(ctx, `UPDATE enrolled_devices SET push_token = '\x01', push_magic = 'magic',
		push_topic = $1 WHERE id = $2`, gqlTopic, ids[0])
	must(t, err)
	const q = `query($id: ID!) { device(id: $id) { pushTokenInvalidAt } }`
	var got struct {
		Device struct{ PushTokenInvalidAt *time.Time }
	}
	api.query(admin, q, map[string]any{"id": ids[0]}).decode(t, &got)
	if got.Device.PushTokenInvalidAt != nil {
		t.Fatalf("fresh token shown invalid at %v", got.Device.PushTokenInvalidAt)
	}
	n, err := api.store.InvalidatePushTokens(ctx, []store.PushTarget{{DeviceID: ids[0], Token: []byte{1}}})
	if err != nil || n != 1 {
		t.Fatalf("invalidate: %d, %v", n, err)
	}
	api.query(admin, q, map[string]any{"id": ids[0]}).decode(t, &got)
	if got.Device.PushTokenInvalidAt == nil {
		t.Fatal("gone token not shown in GraphQL")
	}
	res := api.query(admin, `mutation($id: ID!) { pushDevice(id: $id) { id } }`, map[string]any{"id": ids[0]})
	if res.code() != graph.CodeBadUserInput {
		t.Fatalf("pushDevice on a gone token: %+v, want BAD_USER_INPUT", res.Errors)
	}
}

func waitForPushes(t *testing.T, mock *apnstest.Server, n int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for mock.Count() < n && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if v := mock.Violations(); len(v) > 0 {
		t.Fatalf("malformed pushes: %v", v)
	}
	if got := mock.Count(); got != n {
		t.Fatalf("%d pushes arrived, want %d", got, n)
	}
}

func TestExpiryWarningIsVisible(t *testing.T) {
	t.Parallel()
	soon := newTestPushCert(t, gqlTopic, time.Now().Add(10*24*time.Hour+time.Hour))
	api, _ := newPushTestAPI(t, soon)
	tok := api.token("mdm.add_pushcertificate", "mdm.view_pushcertificate")
	api.query(tok, uploadMutation, map[string]any{"input": map[string]any{"name": "main",
		"certificate": string(soon.CertPEM), "privateKey": string(soon.KeyPEM)}}).decode(t, &struct{}{})
	later := newTestPushCert(t, gqlTopic+".later", time.Now().Add(100*24*time.Hour+time.Hour))
	api.query(tok, uploadMutation, map[string]any{"input": map[string]any{"name": "later",
		"certificate": string(later.CertPEM), "privateKey": string(later.KeyPEM)}}).decode(t, &struct{}{})
	res, err := api.river.Insert(context.Background(), jobargs.PushCertExpiry{}, nil)
	must(t, err)
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		j, err := api.river.JobGet(context.Background(), res.Job.ID)
		must(t, err)
		if j.FinalizedAt != nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	var got struct{ PushCertificates []pushCertNode }
	api.query(tok, `{ pushCertificates { id daysUntilExpiry expiryWarning } }`, nil).decode(t, &got)
	if len(got.PushCertificates) != 2 {
		t.Fatalf("pushCertificates = %+v", got.PushCertificates)
	}
	c := got.PushCertificates[0]
	if c.DaysUntilExpiry != 10 || c.ExpiryWarning == nil || !strings.Contains(*c.ExpiryWarning, "in 10 days") {
		t.Fatalf("certificate %+v, want a warning 10 days ahead", c)
	}
	if far := got.PushCertificates[1]; far.ExpiryWarning != nil || far.DaysUntilExpiry != 100 {
		t.Fatalf("certificate %+v expiring in 100 days, want no warning", far)
	}
}
