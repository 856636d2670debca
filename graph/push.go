package graph

import (
	"context"
	"errors"
	"time"

	"github.com/riverqueue/river/rivertype"

	"github.com/orchardmdm/orchard/graph/auth"
	"github.com/orchardmdm/orchard/graph/model"
	"github.com/orchardmdm/orchard/mdmproto"
	"github.com/orchardmdm/orchard/service"
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

func (r *Resolver) uploadPushCertificate(ctx context.Context, in model.UploadPushCertificateInput) (*store.PushCertificate, error) {
	c, err := r.Service.UploadPushCertificate(ctx, auth.FromContext(ctx).Actor(), service.PushCertificateUpload{
		Name: in.Name, Certificate: in.Certificate, PrivateKey: in.PrivateKey, Password: password(in.Password)})
	return &c, err
}

func (r *Resolver) updatePushCertificate(ctx context.Context, id string, in model.UpdatePushCertificateInput) (*store.PushCertificate, error) {
	n, err := parseID("push certificate", id)
	if err != nil {
		return nil, err
	}
	c, err := r.Service.RenewPushCertificate(ctx, auth.FromContext(ctx).Actor(), n, service.PushCertificateUpload{
		Name: deref(in.Name), Certificate: in.Certificate, PrivateKey: in.PrivateKey, Password: password(in.Password)})
	return &c, err
}

func password(p *string) []byte {
	if p == nil {
		return nil
	}
	return []byte(*p)
}

func (r *Resolver) pushDevice(ctx context.Context, id string) (*rivertype.JobRow, error) {
	n, err := parseID("device", id)
	if err != nil {
		return nil, err
	}
	return r.Service.PushDevice(ctx, auth.FromContext(ctx).Actor(), n)
}

func (r *Resolver) pushDevices(ctx context.Context, filter *model.DeviceFilter) (*model.PushDevicesResult, error) {
	f, err := deviceFilter(filter)
	if err != nil {
		return nil, err
	}
	n, jobs, err := r.Service.PushDevices(ctx, auth.FromContext(ctx).Actor(), f)
	if err != nil {
		return nil, err
	}
	return &model.PushDevicesResult{DeviceCount: n, Jobs: jobs}, nil
}
