package devicesim

import (
	"errors"
	"io"
	"net/http"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/orchardmdm/orchard/mdmproto/internal/httpwait"
)

// Retry defaults: a server killed and restarted (the soak test's kill -9)
// answers again within about ten seconds.
const (
	DefaultMaxRetries   = 8
	DefaultRetryBackoff = 100 * time.Millisecond
	maxRetryBackoff     = 2 * time.Second
)

// Transient reports a request that failed for want of a connection, not
// because the server refused it: the connection was closed, reset or
// refused before an answer came. Sending the request again is what a
// device does; the server must cope with a repeated report.
func Transient(err error) bool {
	for _, target := range []error{io.EOF, io.ErrUnexpectedEOF, syscall.ECONNRESET, syscall.ECONNREFUSED,
		syscall.ECONNABORTED, syscall.EPIPE} {
		if errors.Is(err, target) {
			return true
		}
	}
	return false
}

// retryTransport sends a request again after a transient error, waiting
// backoff, then twice as long each time (at most maxRetryBackoff), at most
// max times, and counts the retries.
type retryTransport struct {
	base    http.RoundTripper
	max     int
	backoff time.Duration
	retries atomic.Int64
}

func newRetryTransport(base http.RoundTripper, max int, backoff time.Duration) *retryTransport {
	if base == nil {
		base = http.DefaultTransport
	}
	if max <= 0 {
		max = DefaultMaxRetries
	}
	if backoff <= 0 {
		backoff = DefaultRetryBackoff
	}
	return &retryTransport{base: base, max: max, backoff: backoff}
}

func (t *retryTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	wait := t.backoff
	for attempt := 0; ; attempt++ {
		try, err := rewound(req, attempt)
		if err != nil {
			return nil, err
		}
		res, err := t.base.RoundTrip(try)
		if err == nil || attempt >= t.max || !Transient(err) || (req.Body != nil && req.GetBody == nil) {
			return res, err
		}
		t.retries.Add(1)
		if err := httpwait.Sleep(req.Context(), wait); err != nil {
			return nil, err
		}
		wait = min(2*wait, maxRetryBackoff)
	}
}

// rewound is req for a first attempt, and a copy with a fresh body after.
func rewound(req *http.Request, attempt int) (*http.Request, error) {
	if attempt == 0 || req.GetBody == nil {
		return req, nil
	}
	body, err := req.GetBody()
	if err != nil {
		return nil, err
	}
	try := req.Clone(req.Context())
	try.Body = body
	return try, nil
}
