package service

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/riverqueue/river/rivertype"

	"github.com/orchardmdm/orchard/jobs/jobargs"
	"github.com/orchardmdm/orchard/mdmproto/pushcert"
	"github.com/orchardmdm/orchard/store"
	"github.com/orchardmdm/orchard/store/events"
)

// PushCertificateUpload is an uploaded push certificate and its key.
type PushCertificateUpload struct {
	// Name is required for a new certificate; empty keeps a renewed one's.
	Name string
	// Certificate is PEM or base64 DER; PrivateKey is PEM, encrypted with
	// Password or not.
	Certificate, PrivateKey string
	Password                []byte
}

// checkPushCertificate turns an upload into its stored form, or says what is
// wrong with it.
func checkPushCertificate(up PushCertificateUpload, now time.Time) (store.PushCertificateInput, error) {
	parsed, err := pushcert.Parse([]byte(up.Certificate), []byte(up.PrivateKey), up.Password)
	if pushcert.IsInvalid(err) {
		return store.PushCertificateInput{}, invalid("%s", err.Error())
	}
	if err != nil {
		return store.PushCertificateInput{}, err
	}
	if now.After(parsed.Certificate.NotAfter) {
		return store.PushCertificateInput{}, invalid("the certificate expired on %s: renew it in Apple's Push Certificates Portal",
			parsed.Certificate.NotAfter.UTC().Format(time.DateOnly))
	}
	return store.PushCertificateInput{
		Name: up.Name, Topic: parsed.Topic, CertPEM: parsed.CertPEM, KeyDER: parsed.KeyDER,
		NotBefore: parsed.Certificate.NotBefore, NotAfter: parsed.Certificate.NotAfter,
	}, nil
}

func checkPushCertificateName(name string, required bool) (string, error) {
	name = strings.TrimSpace(name)
	if (name == "" && required) || len(name) > 200 {
		return "", invalid("a push certificate name must be 1 to 200 characters")
	}
	return name, nil
}

func pushCertEvent(action string, c store.PushCertificate) event {
	return event{action: action, objectType: "push_certificate", objectID: idString(c.ID),
		data: map[string]any{"name": c.Name, "topic": c.Topic, "not_after": c.NotAfter}}
}

// UploadPushCertificate stores a new push certificate. A topic already
// stored is refused: its certificate must be renewed, never replaced.
func (s *Service) UploadPushCertificate(ctx context.Context, actor string, up PushCertificateUpload) (store.PushCertificate, error) {
	var c store.PushCertificate
	var err error
	if up.Name, err = checkPushCertificateName(up.Name, true); err != nil {
		return c, err
	}
	in, err := checkPushCertificate(up, time.Now())
	if err != nil {
		return c, err
	}
	err = s.store.Tx(ctx, func(q *store.Queries) error {
		if c, err = q.CreatePushCertificate(ctx, in); errors.Is(err, store.ErrConflict) {
			return invalid("a push certificate for topic %s exists: renew it with updatePushCertificate", in.Topic)
		} else if err != nil {
			return err
		}
		return s.audit(ctx, q, actor, pushCertEvent("push_certificate.create", c))
	})
	return c, err
}

// RenewPushCertificate replaces a push certificate and key with their
// renewal, which must keep the topic: devices know orchard by it.
func (s *Service) RenewPushCertificate(ctx context.Context, actor string, id int64, up PushCertificateUpload) (store.PushCertificate, error) {
	var c store.PushCertificate
	var err error
	if up.Name, err = checkPushCertificateName(up.Name, false); err != nil {
		return c, err
	}
	in, err := checkPushCertificate(up, time.Now())
	if err != nil {
		return c, err
	}
	err = s.store.Tx(ctx, func(q *store.Queries) error {
		c, err = q.RenewPushCertificate(ctx, id, in)
		switch {
		case errors.Is(err, store.ErrNotFound):
			return notFound("no push certificate with id %d", id)
		case errors.Is(err, store.ErrTopicChanged):
			return invalid("the new certificate's topic %s is not the stored certificate's: "+
				"renew the existing certificate in Apple's portal (Renew, not Create) so devices stay reachable", in.Topic)
		case err != nil:
			return err
		}
		return s.audit(ctx, q, actor, pushCertEvent("push_certificate.renew", c))
	})
	return c, err
}

// PushDevice wakes one device and returns the push job.
func (s *Service) PushDevice(ctx context.Context, actor string, id int64) (*rivertype.JobRow, error) {
	var job *rivertype.JobRow
	err := s.store.Tx(ctx, func(q *store.Queries) error {
		ok, err := q.DevicePushable(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			return notFound("no device with id %d", id)
		} else if err != nil {
			return err
		}
		if !ok {
			return invalid("device %d cannot be pushed: it has not sent a push token yet, or APNs reported its token gone", id)
		}
		rows, err := jobargs.InsertPushTx(ctx, s.jobs, q.PgxTx(), []int64{id})
		if err != nil {
			return err
		}
		job = rows[0]
		return s.audit(ctx, q, actor, event{action: "device.push", objectType: "enrolled_device", objectID: idString(id)})
	})
	return job, err
}

// PushDevices wakes every pushable device a filter matches; it returns how
// many and the push jobs.
func (s *Service) PushDevices(ctx context.Context, actor string, f store.DeviceFilter) (int, []*rivertype.JobRow, error) {
	var n int
	jobs := []*rivertype.JobRow{}
	err := s.store.Tx(ctx, func(q *store.Queries) error {
		ids, err := q.PushableDeviceIDs(ctx, f)
		if err != nil {
			return err
		}
		n = len(ids)
		rows, err := jobargs.InsertPushTx(ctx, s.jobs, q.PgxTx(), ids)
		if err != nil {
			return err
		}
		jobs = append(jobs, rows...)
		return s.audit(ctx, q, actor, event{action: "devices.push", objectType: "enrolled_device", objectID: "*",
			data: map[string]any{"count": n, "filter": f}})
	})
	return n, jobs, err
}

// queueAndPushInTx queues commands and wakes their devices, both in the
// caller's transaction.
func (s *Service) queueAndPushInTx(ctx context.Context, q *store.Queries, cmds []store.QueuedCommand) error {
	if len(cmds) == 0 {
		return nil
	}
	if err := q.QueueCommands(ctx, cmds); err != nil {
		return err
	}
	return s.pushInTx(ctx, q, deviceIDsOf(cmds))
}

// pushInTx wakes devices in the caller's transaction, for operations
// that queue commands: the push is asked for exactly when the commands exist.
func (s *Service) pushInTx(ctx context.Context, q *store.Queries, deviceIDs []int64) error {
	if s.push != nil {
		return s.push(ctx, q.PgxTx(), deviceIDs)
	}
	// A fleet-sized request fills push jobs of its own. Smaller ones leave
	// their devices to the push dispatcher (jobs.PushDispatcher), which
	// gathers what many transactions asked for into one job.
	if len(deviceIDs) >= jobargs.PushChunk {
		return jobargs.EnqueuePushTx(ctx, s.jobs, q.PgxTx(), deviceIDs)
	}
	n, err := q.WantPushes(ctx, deviceIDs)
	if err == nil && n > 0 {
		s.publishAfterCommit(ctx, q, events.Event{Topic: store.TopicPushWanted, Type: "wanted"})
	}
	return err
}
