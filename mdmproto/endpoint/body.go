package endpoint

import (
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sync/semaphore"
)

// Defaults of the body limits (Config).
const (
	// DefaultBodyReadTimeout is how long a device has to send a whole body:
	// a 20 MB report at 1.5 Mbit/s.
	DefaultBodyReadTimeout = 2 * time.Minute
	// DefaultLargeBodyThreshold: check-ins and most reports are smaller and
	// are read without asking the budget.
	DefaultLargeBodyThreshold = 256 << 10
	// DefaultLargeBodyBudget bounds the bytes of all larger bodies held at
	// once by this process.
	DefaultLargeBodyBudget = 64 << 20
)

// largeBodyRetryAfter is what a device refused for lack of budget is told.
const largeBodyRetryAfter = 30 * time.Second

// bodyBudget bounds the memory of large request bodies read at once: each
// one holds its declared size (or the route's limit, when chunked) until
// its request is done. Without it, N clients pin N times the limit.
type bodyBudget struct {
	sem       *semaphore.Weighted
	threshold int64
}

func newBodyBudget(budget, threshold int64) *bodyBudget {
	return &bodyBudget{sem: semaphore.NewWeighted(budget), threshold: threshold}
}

// reserve takes room for a body of r under limit. release is never nil.
func (b *bodyBudget) reserve(r *http.Request, limit int64) (release func(), ok bool) {
	size := r.ContentLength
	if size < 0 || size > limit {
		size = limit
	}
	if size <= b.threshold {
		return func() {}, true
	}
	if !b.sem.TryAcquire(size) {
		return func() {}, false
	}
	return func() { b.sem.Release(size) }, true
}

// readBody reads a request body of at most limit bytes, within the budget
// for large bodies. The caller calls release once done with the body.
func (e *Endpoint) readBody(w http.ResponseWriter, r *http.Request, limit int64) (body []byte, release func(), err error) {
	if r.ContentLength > limit {
		return nil, func() {}, refuse(http.StatusRequestEntityTooLarge, "body of %d bytes, over %d", r.ContentLength, limit)
	}
	release, ok := e.budget.reserve(r, limit)
	if !ok {
		w.Header().Set("Retry-After", strconv.Itoa(int(largeBodyRetryAfter.Seconds())))
		return nil, release, refuse(http.StatusServiceUnavailable, "large-body budget full; %d bytes refused", r.ContentLength)
	}
	if r.ContentLength >= 0 {
		// The room is reserved: read into exactly the declared size, not
		// through ReadAll's doubling buffers.
		body = make([]byte, r.ContentLength)
		_, err = io.ReadFull(r.Body, body)
	} else {
		body, err = io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	}
	if err != nil {
		return nil, release, readRefusal(err, limit)
	}
	return body, release, nil
}

// readRefusal maps a body read error to its answer.
func readRefusal(err error, limit int64) error {
	var tooBig *http.MaxBytesError
	var ne net.Error
	switch {
	case errors.As(err, &tooBig):
		return refuse(http.StatusRequestEntityTooLarge, "body over %d bytes", limit)
	case errors.As(err, &ne) && ne.Timeout():
		return refuse(http.StatusRequestTimeout, "body not received in time: %w", err)
	}
	return refuse(http.StatusBadRequest, "read body: %w", err)
}

// bodyDeadline gives a request's body timeout to be read in full, so a
// client that sends part of a body and stalls is cut off instead of
// holding its connection and memory. The deadline is lifted once the body
// is read: an expired one would cancel the request's context mid-work.
func bodyDeadline(timeout time.Duration, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength == 0 {
			next.ServeHTTP(w, r)
			return
		}
		rc := http.NewResponseController(w)
		// ErrNotSupported (a ResponseWriter that is not net/http's) leaves the body unbounded in time.
		if err := rc.SetReadDeadline(time.Now().Add(timeout)); err == nil && r.Body != nil {
			r.Body = &deadlineBody{ReadCloser: r.Body, rc: rc}
		}
		next.ServeHTTP(w, r)
	})
}

// deadlineBody lifts the read deadline once its body is read in full. After
// any other error the deadline stays: net/http drains an unread body before
// answering, and that drain must not wait on a stalled client.
type deadlineBody struct {
	io.ReadCloser
	rc   *http.ResponseController
	once sync.Once
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF {
		b.once.Do(func() { _ = b.rc.SetReadDeadline(time.Time{}) })
	}
	return n, err
}
