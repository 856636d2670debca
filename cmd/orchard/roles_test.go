package main

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"
	"github.com/jackc/pgx/v5"

	"github.com/orchardmdm/orchard/mdmproto/apns/apnstest"
	"github.com/orchardmdm/orchard/mdmproto/dep/depsim"
	"github.com/orchardmdm/orchard/store/pgtest"
)

// TestAPIAndWorkerRolesShareTheWork runs `serve --role api` and `serve --role
// worker` as two processes on one database: a DEP sync and a push asked of
// the api process are worked by the worker process, and a subscriber on the
// api process sees both finish; a command queued there is pushed by the
// worker's push dispatcher.
func TestAPIAndWorkerRolesShareTheWork(t *testing.T) {
	const topic = "com.apple.mgmt.External.roles-test"
	pc, err := apnstest.NewPushCert(topic, time.Now().AddDate(1, 0, 0))
	mustCerts(t, err)
	apnsMock := apnstest.NewServer(topic, pc.Cert)
	defer apnsMock.Close()
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	mustCerts(t, os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: apnsMock.Certificate().Raw}), 0o644))
	sim := depsim.New(depsim.Config{Devices: 25})
	depSrv := httptest.NewServer(sim)
	defer depSrv.Close()
	t.Setenv("SSL_CERT_FILE", caFile)
	t.Setenv("ORCHARD_APNS_URL", apnsMock.URL())
	t.Setenv("ORCHARD_DEP_URL", depSrv.URL)
	t.Setenv("ORCHARD_DEP_SYNC_INTERVAL", "0")

	dsn := pgtest.NewDatabase(t)
	key := testKey(t)
	api := launchRole(t, dsn, key, "api")
	launchRole(t, dsn, key, "worker")
	out, err := orchardCmd(t, dsn, key, "token", "create", "--name", "roles", "--permission", "mdm.*").Output()
	mustCerts(t, err)
	token := strings.TrimSpace(string(out))

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	events := subscribeJobEvents(t, ctx, api, token)
	syncJob := startDEPSync(t, api, token, sim)
	pushJob := startPush(t, api, token, dsn, pc)

	finished := map[string]bool{}
	for !finished[syncJob] || !finished[pushJob] {
		ev := events.next(t, ctx)
		if ev.Type == "completed" {
			finished[ev.Job.ID] = true
		}
	}
	if got := apnsMock.Count(); got != 1 {
		t.Errorf("the mock APNs received %d pushes, want 1", got)
	}
	if got := graphqlQuery(t, api, token, `{ depDevices { totalCount } }`); !strings.Contains(got, `"totalCount":25`) {
		t.Errorf("DEP devices after the sync: %s", got)
	}
	// A command queued on the api process wants a push; the worker's push
	// dispatcher, woken across processes, queues and sends it.
	queueCommandForNewDevice(t, api, token, dsn)
	for apnsMock.Count() < 2 && ctx.Err() == nil {
		time.Sleep(20 * time.Millisecond)
	}
	if pushes := apnsMock.Pushes(); len(pushes) != 2 || pushes[1].Token != strings.Repeat("ef", 32) {
		t.Errorf("the mock APNs received %+v, want the queued command's device pushed second", pushes)
	}
}

// queueCommandForNewDevice queues a DeviceInformation command, through the
// api process, for a new pushable device (token ef...ef).
func queueCommandForNewDevice(t *testing.T, api, token, dsn string) {
	t.Helper()
	id := insertPushableDevice(t, dsn, "ROLES-2", "ef")
	enqueue := fmt.Sprintf(`mutation { enqueueDeviceCommand(deviceId: "%d", requestType: "DeviceInformation",
		payload: {Queries: ["OSVersion"]}) { uuid } }`, id)
	decodeGraphQL(t, graphqlQuery(t, api, token, enqueue), &struct{}{})
}

// insertPushableDevice adds a device with a push channel on the stored
// certificate's topic, its token the byte tokenByte (hex) repeated.
func insertPushableDevice(t *testing.T, dsn, udid, tokenByte string) int64 {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), dsn)
	mustCerts(t, err)
	defer conn.Close(context.Background())
	var id int64
	mustCerts(t, conn.QueryRow(context.Background(), `INSERT INTO enrolled_devices (udid, push_token, push_magic, push_topic)
		SELECT $1, decode(repeat($2, 32), 'hex'), 'magic', topic FROM push_certificates RETURNING id`, udid, tokenByte).Scan(&id))
	return id
}

// launchRole starts `orchard serve --role role` and returns its base URL.
func launchRole(t *testing.T, dsn, key, role string) string {
	t.Helper()
	t.Setenv("ORCHARD_ROLE", role)
	url, _ := startServer(t, dsn, key)
	return url
}

func startDEPSync(t *testing.T, api, token string, sim *depsim.Server) string {
	t.Helper()
	var created struct {
		Data struct{ CreateDEPToken struct{ ID string } }
	}
	decodeGraphQL(t, graphqlQuery(t, api, token, `mutation { createDEPToken(name: "abm") { id } }`), &created)
	var uploaded struct {
		Data struct {
			UploadDEPToken struct{ VirtualServer struct{ ID string } }
		}
	}
	decodeGraphQL(t, graphqlQuery(t, api, token, fmt.Sprintf(`mutation { uploadDEPToken(id: %q, content: %q) { virtualServer { id } } }`,
		created.Data.CreateDEPToken.ID, sim.TokenJSON())), &uploaded)
	var synced struct {
		Data struct{ SyncDEPVirtualServer struct{ ID string } }
	}
	decodeGraphQL(t, graphqlQuery(t, api, token, fmt.Sprintf(`mutation { syncDEPVirtualServer(id: %q) { id } }`,
		uploaded.Data.UploadDEPToken.VirtualServer.ID)), &synced)
	return synced.Data.SyncDEPVirtualServer.ID
}

func startPush(t *testing.T, api, token, dsn string, pc *apnstest.PushCert) string {
	t.Helper()
	upload := fmt.Sprintf(`mutation { uploadPushCertificate(input: {name: "main", certificate: %q, privateKey: %q}) { topic } }`,
		pc.CertPEM, pc.KeyPEM)
	decodeGraphQL(t, graphqlQuery(t, api, token, upload), &struct{}{})
	id := insertPushableDevice(t, dsn, "ROLES-1", "cd")
	var pushed struct {
		Data struct{ PushDevice struct{ ID string } }
	}
	decodeGraphQL(t, graphqlQuery(t, api, token, fmt.Sprintf(`mutation { pushDevice(id: "%d") { id } }`, id)), &pushed)
	return pushed.Data.PushDevice.ID
}

func decodeGraphQL(t *testing.T, body string, v any) {
	t.Helper()
	var res struct{ Errors []json.RawMessage }
	if err := json.Unmarshal([]byte(body), &res); err != nil || len(res.Errors) > 0 {
		t.Fatalf("GraphQL answered %s", body)
	}
	mustCerts(t, json.Unmarshal([]byte(body), v))
}

// jobEventStream is a graphql-transport-ws subscription to jobEvents.
type jobEventStream struct{ conn *websocket.Conn }

type jobEvent struct {
	Type string
	Job  struct{ ID, Kind, State string }
}

func subscribeJobEvents(t *testing.T, ctx context.Context, base, token string) *jobEventStream {
	t.Helper()
	conn, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(base, "http")+"/graphql",
		&websocket.DialOptions{Subprotocols: []string{"graphql-transport-ws"}})
	mustCerts(t, err)
	t.Cleanup(func() { conn.CloseNow() })
	mustCerts(t, wsjson.Write(ctx, conn, map[string]any{"type": "connection_init", "payload": map[string]string{"Authorization": "Bearer " + token}}))
	var ack struct{ Type string }
	mustCerts(t, wsjson.Read(ctx, conn, &ack))
	if ack.Type != "connection_ack" {
		t.Fatalf("subscription: %s instead of connection_ack", ack.Type)
	}
	mustCerts(t, wsjson.Write(ctx, conn, map[string]any{"id": "1", "type": "subscribe",
		"payload": map[string]string{"query": `subscription { jobEvents { type job { id kind state } } }`}}))
	return &jobEventStream{conn: conn}
}

func (s *jobEventStream) next(t *testing.T, ctx context.Context) jobEvent {
	t.Helper()
	for {
		var msg struct {
			Type    string
			Payload struct {
				Data struct{ JobEvents jobEvent }
			}
		}
		if err := wsjson.Read(ctx, s.conn, &msg); err != nil {
			t.Fatalf("waiting for job events: %v", err)
		}
		if msg.Type == "next" {
			return msg.Payload.Data.JobEvents
		}
	}
}
