package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/orchardmdm/orchard/mdmproto/devicesim"
)

const loadtestUsage = `usage: orchard loadtest --url URL --token TOKEN [--devices 100] [--rounds 3] [--concurrency 16] [--retries 8]

Enrolls simulated devices against a running orchard (profile, SCEP, Authenticate,
TokenUpdate), then measures Idle connects and connects that fetch and acknowledge a
DeviceInformation command queued through GraphQL. At the end it blocks and deletes
the simulated devices and deletes the enrollment it made, unless --keep. The token
needs mdm.* (or mdm.add_otaenrollment, mdm.view_enrolleddevice, mdm.add_devicecommand,
and to clean up mdm.change_enrolleddevice, mdm.delete_enrolleddevice and
mdm.delete_otaenrollment). The server's --public-url must reach it from here:
profiles point devices there.
A device request whose connection breaks (EOF, reset, refused: a server restarting)
is sent again, as a device would, with a growing pause; each phase counts its retries.
`

func loadtestCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("loadtest", stderr)
	fs.Usage = func() { fmt.Fprint(stderr, loadtestUsage); fs.PrintDefaults() }
	base := fs.String("url", "http://localhost:8080", "orchard's base URL (GraphQL at /graphql)")
	token := fs.String("token", "", "API token")
	enrollURL := fs.String("enroll-url", "", "an enrollment profile URL; empty: create an enrollment")
	cfg := devicesim.LoadConfig{}
	fs.IntVar(&cfg.Devices, "devices", 100, "simulated devices")
	fs.IntVar(&cfg.Rounds, "rounds", 3, "connects of each device per phase")
	fs.IntVar(&cfg.Concurrency, "concurrency", 16, "devices connecting at once")
	fs.IntVar(&cfg.MaxRetries, "retries", devicesim.DefaultMaxRetries, "times a device request is sent again after its connection broke")
	keep := fs.Bool("keep", false, "leave the simulated devices and the enrollment on the server")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *token == "" || cfg.Devices < 1 || cfg.Rounds < 1 {
		fs.Usage()
		return errUsage
	}
	api := &graphqlClient{base: strings.TrimRight(*base, "/"), token: *token,
		http: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: cfg.Concurrency * 2}}}
	cfg.Client = api.http
	cfg.EnrollURL = *enrollURL
	var enrollmentID string
	if cfg.EnrollURL == "" {
		id, u, err := api.newEnrollment(ctx)
		if err != nil {
			return err
		}
		enrollmentID, cfg.EnrollURL = id, u
	}
	cfg.Enqueue = api.enqueueDeviceInformation
	cfg.ServerCPU = api.serverCPU
	fmt.Fprintf(stdout, "orchard loadtest: %d devices, %d rounds, concurrency %d, against %s\n",
		cfg.Devices, cfg.Rounds, cfg.Concurrency, api.base)
	phases, err := devicesim.RunLoad(ctx, cfg, stdout)
	for _, p := range phases {
		fmt.Fprintln(stdout, p)
	}
	if !*keep {
		if cerr := api.cleanUp(context.WithoutCancel(ctx), enrollmentID, stdout); err == nil {
			err = cerr
		}
	}
	return err
}

// graphqlClient is the little of GraphQL the load test needs.
type graphqlClient struct {
	base, token string
	http        *http.Client
	ids         map[string]string // UDID -> device id
}

func (c *graphqlClient) do(ctx context.Context, query string, vars map[string]any, out any) error {
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+"/graphql", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+c.token)
	res, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	var r struct {
		Data   json.RawMessage
		Errors []struct{ Message string }
	}
	if err := json.NewDecoder(res.Body).Decode(&r); err != nil {
		return fmt.Errorf("graphql: HTTP %d: %w", res.StatusCode, err)
	}
	if len(r.Errors) > 0 {
		return fmt.Errorf("graphql: %s", r.Errors[0].Message)
	}
	return json.Unmarshal(r.Data, out)
}

// serverCPU reads the CPU time the server process has used from its
// /metrics (process_cpu_seconds_total): the API process's, when the roles
// run apart.
func (c *graphqlClient) serverCPU(ctx context.Context) (time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/metrics", nil)
	if err != nil {
		return 0, err
	}
	res, err := c.http.Do(req)
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	sc := bufio.NewScanner(res.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "process_cpu_seconds_total "); ok {
			seconds, err := strconv.ParseFloat(v, 64)
			return time.Duration(seconds * float64(time.Second)), err
		}
	}
	return 0, errors.New("/metrics has no process_cpu_seconds_total")
}

// newEnrollment makes the enrollment the simulated devices use.
func (c *graphqlClient) newEnrollment(ctx context.Context) (id, url string, err error) {
	var out struct{ CreateEnrollment struct{ ID, URL string } }
	err = c.do(ctx, `mutation($name: String!) { createEnrollment(input: {name: $name}) { id url } }`,
		map[string]any{"name": "loadtest " + time.Now().UTC().Format(time.RFC3339)}, &out)
	return out.CreateEnrollment.ID, out.CreateEnrollment.URL, err
}

// cleanUp blocks and deletes the devices the run listed (a blocked device
// leaves management; only then may its record go), and the enrollment.
func (c *graphqlClient) cleanUp(ctx context.Context, enrollmentID string, stdout io.Writer) error {
	ids := make([]string, 0, len(c.ids))
	for _, id := range c.ids {
		ids = append(ids, id)
	}
	for start := 0; start < len(ids); start += 25 {
		var q strings.Builder
		q.WriteString("mutation {")
		for i, id := range ids[start:min(start+25, len(ids))] {
			fmt.Fprintf(&q, ` b%d: blockDevice(id: %q) { id } d%d: deleteDevice(id: %q)`, i, id, i, id)
		}
		q.WriteString("}")
		var out map[string]any
		if err := c.do(ctx, q.String(), nil, &out); err != nil {
			return fmt.Errorf("clean up: %w", err)
		}
	}
	if enrollmentID != "" {
		var out map[string]any
		if err := c.do(ctx, `mutation($id: ID!) { deleteEnrollment(id: $id) }`, map[string]any{"id": enrollmentID}, &out); err != nil {
			return fmt.Errorf("clean up: %w", err)
		}
	}
	fmt.Fprintf(stdout, "removed %d simulated devices and the enrollment (--keep leaves them)\n", len(ids))
	return nil
}

func (c *graphqlClient) createEnrollment(ctx context.Context) (string, error) {
	var out struct{ CreateEnrollment struct{ URL string } }
	err := c.do(ctx, `mutation($name: String!) { createEnrollment(input: {name: $name}) { url } }`,
		map[string]any{"name": "loadtest " + time.Now().UTC().Format(time.RFC3339)}, &out)
	return out.CreateEnrollment.URL, err
}

// enqueueDeviceInformation queues one DeviceInformation per device, 50
// mutations to a request.
func (c *graphqlClient) enqueueDeviceInformation(ctx context.Context, udids []string) error {
	if err := c.resolveIDs(ctx, udids); err != nil {
		return err
	}
	for start := 0; start < len(udids); start += 50 {
		var q strings.Builder
		q.WriteString("mutation {")
		for i, u := range udids[start:min(start+50, len(udids))] {
			fmt.Fprintf(&q, ` c%d: enqueueDeviceCommand(deviceId: %q, requestType: "DeviceInformation", payload: {Queries: ["DeviceName", "OSVersion"]}) { uuid }`, i, c.ids[u])
		}
		q.WriteString("}")
		var out map[string]any
		if err := c.do(ctx, q.String(), nil, &out); err != nil {
			return err
		}
	}
	return nil
}

func (c *graphqlClient) resolveIDs(ctx context.Context, udids []string) error {
	if c.ids == nil {
		c.ids = map[string]string{}
	}
	for _, u := range udids {
		if c.ids[u] != "" {
			continue
		}
		var out struct {
			Devices struct {
				Edges []struct{ Node struct{ ID string } }
			}
		}
		if err := c.do(ctx, `query($u: String) { devices(filter: {udid: $u}) { edges { node { id } } } }`,
			map[string]any{"u": u}, &out); err != nil {
			return err
		}
		if len(out.Devices.Edges) != 1 {
			return errors.New("enrolled device " + u + " is not listed")
		}
		c.ids[u] = out.Devices.Edges[0].Node.ID
	}
	return nil
}
