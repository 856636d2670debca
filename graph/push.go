package graph

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river/rivertype"

	"github.com/orchardmdm/orchard/graph/auth"
	"github.com/orchardmdm/orchard/graph/model"
	"github.com/orchardmdm/orchard/jobs/jobargs"
	"github.com/orchardmdm/orchard/mdmproto"
	"github.com/orchardmdm/orchard/mdmproto/pushcert"
	"github.com/orchardmdm/orchard/store"
)

func (r *Resolver) pushCertificates(ctx context.Context) ([]*store.PushCertificate, error) {
	list, err := r.Store.ListPushCertificates(ctx)
	if err != nil {
		return nil, err
	}
	return pointers(list), nil
}

func (r *Resolver) pushCertificate(ctx context.Context, id string) (*store.PushCertificate, error) {
	n, err := parseID("push certificate", id)
	if err != nil {
		return nil, err
	}
	c, err := r.Store.PushCertificate(ctx, n)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &c, nil
}

func daysUntilExpiry(c *store.PushCertificate) int {
	return mdmproto.DaysUntil(c.NotAfter, time.Now())
}

// checkPushCertificate turns the uploaded strings into a stored form, or says
// what is wrong with them.
func checkPushCertificate(name, cert, key string, password *string) (store.PushCertificateInput, error) {
	var pw []byte
	if password != nil {
		pw = []byte(*password)
	}
	parsed, err := pushcert.Parse([]byte(cert), []byte(key), pw)
	if pushcert.IsInvalid(err) {
		return store.PushCertificateInput{}, BadInput("%s", err.Error())
	}
	if err != nil {
		return store.PushCertificateInput{}, err
	}
	if time.Now().After(parsed.Certificate.NotAfter) {
		return store.PushCertificateInput{}, BadInput("the certificate expired on %s: renew it in Apple's Push Certificates Portal",
			parsed.Certificate.NotAfter.UTC().Format(time.DateOnly))
	}
	return store.PushCertificateInput{
		Name: name, Topic: parsed.Topic, CertPEM: parsed.CertPEM, KeyDER: parsed.KeyDER,
		NotBefore: parsed.Certificate.NotBefore, NotAfter: parsed.Certificate.NotAfter,
	}, nil
}

func checkName(name string) (string, error) {
	name = strings.TrimSpace(name)
	if name == "" || len(name) > 200 {
		return "", BadInput("a push certificate name must be 1 to 200 characters")
	}
	return name, nil
}

func (r *Resolver) uploadPushCertificate(ctx context.Context, in model.UploadPushCertificateInput) (*store.PushCertificate, error) {
	name, err := checkName(in.Name)
	if err != nil {
		return nil, err
	}
	checked, err := checkPushCertificate(name, in.Certificate, in.PrivateKey, in.Password)
	if err != nil {
		return nil, err
	}
	c, err := r.Store.CreatePushCertificate(ctx, checked, auth.FromContext(ctx).Actor())
	if errors.Is(err, store.ErrConflict) {
		return nil, BadInput("a push certificate for topic %s exists: renew it with updatePushCertificate", checked.Topic)
	}
	if err != nil {
		return nil, err
	}
	return &c, nil
}

func (r *Resolver) updatePushCertificate(ctx context.Context, id string, in model.UpdatePushCertificateInput) (*store.PushCertificate, error) {
	n, err := parseID("push certificate", id)
	if err != nil {
		return nil, err
	}
	var name string
	if in.Name != nil {
		if name, err = checkName(*in.Name); err != nil {
			return nil, err
		}
	}
	checked, err := checkPushCertificate(name, in.Certificate, in.PrivateKey, in.Password)
	if err != nil {
		return nil, err
	}
	c, err := r.Store.RenewPushCertificate(ctx, n, checked, auth.FromContext(ctx).Actor())
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, NotFound("no push certificate with id %s", id)
	case errors.Is(err, store.ErrTopicChanged):
		return nil, BadInput("the new certificate's topic %s is not the stored certificate's: "+
			"renew the existing certificate in Apple's portal (Renew, not Create) so devices stay reachable", checked.Topic)
	case err != nil:
		return nil, err
	}
	return &c, nil
}

func (r *Resolver) pushDevice(ctx context.Context, id string) (*rivertype.JobRow, error) {
	n, err := parseID("device", id)
	if err != nil {
		return nil, err
	}
	var job *rivertype.JobRow
	err = r.Store.InTx(ctx, func(tx pgx.Tx) error {
		ok, err := store.DevicePushable(ctx, tx, n)
		if err != nil {
			return err
		}
		if !ok {
			return BadInput("device %s cannot be pushed: it has not sent a push token yet, or APNs reported its token gone", id)
		}
		rows, err := jobargs.InsertPushTx(ctx, r.Jobs, tx, []int64{n})
		if err != nil {
			return err
		}
		job = rows[0]
		return store.WriteAudit(ctx, tx, store.AuditEvent{Actor: auth.FromContext(ctx).Actor(), Action: "device.push",
			ObjectType: "enrolled_device", ObjectID: strconv.FormatInt(n, 10)})
	})
	if errors.Is(err, store.ErrNotFound) {
		return nil, NotFound("no device with id %s", id)
	}
	return job, err
}

func (r *Resolver) pushDevices(ctx context.Context, filter *model.DeviceFilter) (*model.PushDevicesResult, error) {
	res := &model.PushDevicesResult{}
	err := r.Store.InTx(ctx, func(tx pgx.Tx) error {
		ids, err := store.PushableDeviceIDs(ctx, tx, deviceFilter(filter))
		if err != nil {
			return err
		}
		res.DeviceCount = len(ids)
		if res.Jobs, err = jobargs.InsertPushTx(ctx, r.Jobs, tx, ids); err != nil {
			return err
		}
		return store.WriteAudit(ctx, tx, store.AuditEvent{Actor: auth.FromContext(ctx).Actor(), Action: "devices.push",
			ObjectType: "enrolled_device", ObjectID: "*", Data: map[string]any{"count": len(ids), "filter": deviceFilter(filter)}})
	})
	if err != nil {
		return nil, err
	}
	if res.Jobs == nil {
		res.Jobs = []*rivertype.JobRow{}
	}
	return res, nil
}
