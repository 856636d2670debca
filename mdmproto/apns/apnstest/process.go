package apnstest

import (
	"bufio"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The variables a test binary reads when StartProcess re-executes it as a
// mock APNs server.
const (
	envTopic      = "ORCHARD_APNSTEST_TOPIC"
	envClientCert = "ORCHARD_APNSTEST_CLIENT_CERT"
)

// ServeProcessIfAsked turns the test binary into the mock APNs process when
// StartProcess started it, and exits when the parent closes its stdin. Call
// it first in TestMain of any package that uses StartProcess.
func ServeProcessIfAsked() {
	topic := os.Getenv(envTopic)
	if topic == "" {
		return
	}
	if err := serveProcess(topic, os.Getenv(envClientCert), os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "apnstest process:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// serveProcess runs a Server and answers the parent's commands, one a line:
// "stats" and "reset". It returns when in ends.
func serveProcess(topic, clientCert string, in io.Reader, out io.Writer) error {
	der, err := base64.StdEncoding.DecodeString(clientCert)
	if err != nil {
		return fmt.Errorf("client certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return fmt.Errorf("client certificate: %w", err)
	}
	s := NewServer(topic, cert)
	defer s.Close()
	fmt.Fprintln(out, s.URL(), base64.StdEncoding.EncodeToString(s.Certificate().Raw))
	lines := bufio.NewScanner(in)
	for lines.Scan() {
		switch lines.Text() {
		case "stats":
			st := s.stats()
			fmt.Fprintln(out, st.Count, st.First.UnixNano(), st.Last.UnixNano(), st.Violations, ProcessCPU().Nanoseconds())
		case "reset":
			s.Reset()
			fmt.Fprintln(out, "ok")
		default:
			return fmt.Errorf("unknown command %q", lines.Text())
		}
	}
	return lines.Err()
}

// Stats sums up what a mock received since its last reset.
type Stats struct {
	// Count is the number of well-formed pushes.
	Count int
	// First and Last are when the first and the last of them arrived.
	First, Last time.Time
	// Violations counts malformed requests since the server started.
	Violations int
	// CPU is the user and system time the mock process has used since it
	// started: what serving the pushes cost, outside the client.
	CPU time.Duration
}

// stats is Stats without copying the pushes, cheap enough to poll.
func (s *Server) stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := Stats{Count: len(s.pushes), Violations: len(s.violations)}
	if st.Count > 0 {
		st.First, st.Last = s.pushes[0].At, s.pushes[st.Count-1].At
	}
	return st
}

// ProcessCPU is the user and system time this process has used so far;
// benchmarks subtract two readings to get what the client side cost.
func ProcessCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// Process is a mock APNs server in a child process: its TLS and HTTP/2
// serving share neither the client's goroutines nor its garbage collector,
// so a benchmark measures the client alone.
type Process struct {
	url   string
	roots *x509.CertPool

	mu    sync.Mutex
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   *bufio.Reader
}

// StartProcess re-executes the test binary as a mock APNs server for topic
// and clientCert, stopped when tb ends. The package's TestMain must call
// ServeProcessIfAsked.
func StartProcess(tb testing.TB, topic string, clientCert *x509.Certificate) *Process {
	tb.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), envTopic+"="+topic,
		envClientCert+"="+base64.StdEncoding.EncodeToString(clientCert.Raw))
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		tb.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatalf("start the mock APNs process: %v", err)
	}
	p := &Process{cmd: cmd, stdin: stdin, out: bufio.NewReader(stdout)}
	tb.Cleanup(p.stop)
	if err := p.readAddress(); err != nil {
		tb.Fatalf("mock APNs process: %v", err)
	}
	return p
}

// readAddress reads the first line the child prints: its URL and certificate.
func (p *Process) readAddress() error {
	line, err := p.out.ReadString('\n')
	if err != nil {
		return fmt.Errorf("no address: %w", err)
	}
	url, certB64, ok := strings.Cut(strings.TrimSpace(line), " ")
	der, err := base64.StdEncoding.DecodeString(certB64)
	if !ok || err != nil {
		return fmt.Errorf("bad address line %q", line)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return err
	}
	p.url, p.roots = url, x509.NewCertPool()
	p.roots.AddCert(cert)
	return nil
}

// stop closes the child's stdin, which ends it, and reaps it.
func (p *Process) stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	_ = p.stdin.Close()
	_ = p.cmd.Wait()
}

// URL is the base URL to point the APNs client at.
func (p *Process) URL() string { return p.url }

// RootCAs trusts the child's server certificate.
func (p *Process) RootCAs() *x509.CertPool { return p.roots }

// Stats asks the child what it received since the last Reset.
func (p *Process) Stats() (Stats, error) {
	line, err := p.ask("stats")
	if err != nil {
		return Stats{}, err
	}
	var st Stats
	var first, last, cpu int64
	if _, err := fmt.Sscan(line, &st.Count, &first, &last, &st.Violations, &cpu); err != nil {
		return Stats{}, fmt.Errorf("stats %q: %w", line, err)
	}
	if st.Count > 0 {
		st.First, st.Last = time.Unix(0, first), time.Unix(0, last)
	}
	st.CPU = time.Duration(cpu)
	return st, nil
}

// Reset makes the child forget the pushes received.
func (p *Process) Reset() error {
	_, err := p.ask("reset")
	return err
}

func (p *Process) ask(command string) (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, err := fmt.Fprintln(p.stdin, command); err != nil {
		return "", fmt.Errorf("mock APNs process: %w", err)
	}
	line, err := p.out.ReadString('\n')
	if err != nil {
		return "", fmt.Errorf("mock APNs process: %w", err)
	}
	return strings.TrimSpace(line), nil
}
