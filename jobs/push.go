package jobs

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/orchardmdm/orchard/jobs/jobargs"
	"github.com/orchardmdm/orchard/mdmproto/apns"
	"github.com/orchardmdm/orchard/mdmproto/pushcert"
	"github.com/orchardmdm/orchard/store"
)

// Pusher sends pushes; *apns.Pool is the real one.
type Pusher interface {
	Push(ctx context.Context, topic string, cert tls.Certificate, targets []apns.Target) []apns.Result
}

// PushConfig tunes push jobs.
type PushConfig struct {
	// Window is the shortest time between two pushes to one device: requests
	// inside it are coalesced into one push at its end.
	Window time.Duration
	// MaxRetries bounds the rounds of retries of a push APNs failed.
	MaxRetries int
	// RetryBase is the first retry's delay; each next one doubles it.
	RetryBase time.Duration
}

// DefaultPushConfig is what orchard runs without configuration.
func DefaultPushConfig() PushConfig {
	return PushConfig{Window: 10 * time.Second, MaxRetries: 6, RetryBase: 5 * time.Second}
}

// PushWorker works jobargs.Push.
type PushWorker struct {
	river.WorkerDefaults[jobargs.Push]
	store  *store.Store
	apns   Pusher
	cfg    PushConfig
	logger *slog.Logger

	mu    sync.Mutex
	certs map[string]parsedCert
}

// pushTally is what a push job reports.
type pushTally struct {
	Requested int `json:"requested"`
	// Skipped devices have no usable push token or certificate, already wait
	// for a follow-up push, or (in a follow-up) were pushed since.
	Skipped       int `json:"skipped"`
	Pushed        int `json:"pushed"`
	Sent          int `json:"sent"`
	Invalidated   int `json:"invalidated"`
	Retrying      int `json:"retrying"`
	Failed        int `json:"failed"`
	Deferred      int `json:"deferred"`
	NoCertificate int `json:"no_certificate"`
}

// Work claims the devices due for a push, pushes them, and records what APNs said.
func (w *PushWorker) Work(ctx context.Context, job *river.Job[jobargs.Push]) error {
	if w.apns == nil {
		return river.JobCancel(errors.New("APNs is not configured in this process"))
	}
	args := job.Args
	tally := pushTally{Requested: len(args.DeviceIDs)}
	var targets []store.PushTarget
	var err error
	if args.Deferred {
		args.DeviceIDs, targets, err = w.store.ClaimDeferredPushTargets(ctx, args.DeviceIDs, w.cfg.Window)
	} else {
		targets, err = w.store.ClaimPushTargets(ctx, args.DeviceIDs, w.cfg.Window, args.Retry > 0)
	}
	if err != nil {
		return err
	}
	// Only devices left unclaimed can need deferring: when the claim took
	// every device, as it does for pushes outside the window, the deferral
	// and its transaction would find nothing.
	if args.Retry == 0 && len(targets) < len(args.DeviceIDs) {
		if tally.Deferred, err = w.deferRecent(ctx, args.DeviceIDs, targets); err != nil {
			return err
		}
	}
	tally.Skipped = tally.Requested - len(targets) - tally.Deferred
	retry, err := w.push(ctx, targets, &tally)
	if err != nil {
		return err
	}
	if err := w.scheduleRetry(ctx, retry, args.Retry+1, &tally); err != nil {
		return err
	}
	return river.RecordOutput(ctx, tally)
}

// deferRecent puts off the devices pushed within the window and queues one
// follow-up for them at the window's end.
func (w *PushWorker) deferRecent(ctx context.Context, ids []int64, claimed []store.PushTarget) (int, error) {
	claimedIDs := targetIDs(claimed)
	var deferred []int64
	err := w.store.Tx(ctx, func(q *store.Queries) error {
		due, err := q.DeferPushes(ctx, ids, claimedIDs, w.cfg.Window)
		if err != nil || len(due) == 0 {
			return err
		}
		var latest time.Time
		for id, at := range due {
			deferred = append(deferred, id)
			if at.After(latest) {
				latest = at
			}
		}
		slices.Sort(deferred)
		_, err = river.ClientFromContext[pgx.Tx](ctx).InsertTx(ctx, q.PgxTx(), jobargs.Push{DeviceIDs: deferred, Deferred: true},
			&river.InsertOpts{ScheduledAt: latest})
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("defer pushes: %w", err)
	}
	return len(deferred), nil
}

// push sends the claimed pushes topic by topic and returns those to retry.
func (w *PushWorker) push(ctx context.Context, targets []store.PushTarget, tally *pushTally) ([]int64, error) {
	if len(targets) == 0 {
		return nil, nil
	}
	byTopic := map[string][]store.PushTarget{}
	for _, t := range targets {
		byTopic[t.Topic] = append(byTopic[t.Topic], t)
	}
	creds, err := w.store.PushCredentials(ctx, slices.Collect(maps.Keys(byTopic)))
	if err != nil {
		return nil, err
	}
	var retry []int64
	var invalid []store.PushTarget
	for topic, group := range byTopic {
		cert, err := w.certificate(creds, topic)
		if err != nil {
			// Only when the certificate went away since the claim.
			w.logger.WarnContext(ctx, "cannot push devices of this topic", "topic", topic, "devices", len(group), "err", err)
			tally.NoCertificate += len(group)
			continue
		}
		r, inv := w.pushTopic(ctx, topic, cert, group, tally)
		retry, invalid = append(retry, r...), append(invalid, inv...)
	}
	if err := w.store.MarkNotified(ctx, targetIDs(targets)); err != nil {
		return nil, err
	}
	if len(invalid) > 0 {
		n, err := w.store.InvalidatePushTokens(ctx, invalid)
		if err != nil {
			return nil, err
		}
		tally.Invalidated = int(n)
	}
	return retry, nil
}

// pushTopic pushes one topic's devices and sorts APNs' answers.
func (w *PushWorker) pushTopic(ctx context.Context, topic string, cert tls.Certificate, group []store.PushTarget,
	tally *pushTally) (retry []int64, invalid []store.PushTarget) {
	tally.Pushed += len(group)
	refused := map[string]int{}
	for i, r := range w.apns.Push(ctx, topic, cert, apnsTargets(group)) {
		switch r.Outcome {
		case apns.Sent:
			tally.Sent++
		case apns.Invalid:
			invalid = append(invalid, group[i])
		case apns.Retry:
			retry = append(retry, group[i].DeviceID)
		case apns.Failed:
			tally.Failed++
			refused[fmt.Sprintf("%d %s", r.Status, r.Reason)]++
		}
	}
	// One line per reason: a bad certificate fails every push of the topic.
	for reason, n := range refused {
		w.logger.WarnContext(ctx, "APNs refused pushes", "topic", topic, "answer", reason, "devices", n)
	}
	return retry, invalid
}

// certificate returns the topic's TLS certificate, parsed once per renewal:
// commands queue one small push job each, and parsing an RSA key per job
// would cost more than the push.
func (w *PushWorker) certificate(creds map[string]store.PushCredential, topic string) (tls.Certificate, error) {
	c, ok := creds[topic]
	if !ok {
		return tls.Certificate{}, errors.New("no push certificate for the topic")
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if cached, ok := w.certs[topic]; ok && bytes.Equal(cached.certPEM, c.CertPEM) && bytes.Equal(cached.keyDER, c.KeyDER) {
		return cached.tls, nil
	}
	cert, err := pushcert.TLSCertificate(c.CertPEM, c.KeyDER)
	if err != nil {
		return cert, err
	}
	if w.certs == nil {
		w.certs = map[string]parsedCert{}
	}
	w.certs[topic] = parsedCert{certPEM: c.CertPEM, keyDER: c.KeyDER, tls: cert}
	return cert, nil
}

type parsedCert struct {
	certPEM, keyDER []byte
	tls             tls.Certificate
}

// scheduleRetry queues the pushes APNs failed for now, with exponential backoff.
func (w *PushWorker) scheduleRetry(ctx context.Context, ids []int64, round int, tally *pushTally) error {
	if len(ids) == 0 {
		return nil
	}
	if round > w.cfg.MaxRetries {
		tally.Failed += len(ids)
		w.logger.WarnContext(ctx, "giving up pushes APNs kept failing", "devices", len(ids), "rounds", round-1)
		return nil
	}
	tally.Retrying = len(ids)
	delay := w.cfg.RetryBase << (round - 1)
	_, err := river.ClientFromContext[pgx.Tx](ctx).Insert(ctx, jobargs.Push{DeviceIDs: ids, Retry: round},
		&river.InsertOpts{ScheduledAt: time.Now().Add(delay)})
	if err != nil {
		return fmt.Errorf("queue push retries: %w", err)
	}
	return nil
}

func targetIDs(targets []store.PushTarget) []int64 {
	ids := make([]int64, len(targets))
	for i, t := range targets {
		ids[i] = t.DeviceID
	}
	return ids
}

func apnsTargets(group []store.PushTarget) []apns.Target {
	out := make([]apns.Target, len(group))
	for i, t := range group {
		out[i] = apns.Target{Token: t.Token, PushMagic: t.PushMagic}
	}
	return out
}
