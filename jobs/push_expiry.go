package jobs

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/riverqueue/river"

	"github.com/orchardmdm/orchard/jobs/jobargs"
	"github.com/orchardmdm/orchard/mdmproto"
	"github.com/orchardmdm/orchard/store"
)

// PushCertWarnBefore is how long before its expiry a push certificate is
// flagged: renewing takes a trip to Apple's portal, and an expired
// certificate silently stops every push.
const PushCertWarnBefore = 30 * 24 * time.Hour

// PushCertExpiryWorker works jobargs.PushCertExpiry.
type PushCertExpiryWorker struct {
	river.WorkerDefaults[jobargs.PushCertExpiry]
	store  *store.Store
	logger *slog.Logger
}

// Work logs and records a warning on every certificate expiring soon.
func (w *PushCertExpiryWorker) Work(ctx context.Context, job *river.Job[jobargs.PushCertExpiry]) error {
	now := time.Now()
	certs, err := w.store.ExpiringPushCertificates(ctx, now.Add(PushCertWarnBefore))
	if err != nil {
		return err
	}
	for _, c := range certs {
		warning := expiryWarning(c, now)
		w.logger.WarnContext(ctx, "push certificate expires soon", "id", c.ID, "topic", c.Topic,
			"not_after", c.NotAfter, "warning", warning)
		if err := w.store.WarnPushCertificate(ctx, c.ID, warning); err != nil {
			return err
		}
	}
	return river.RecordOutput(ctx, map[string]any{"warned": len(certs)})
}

func expiryWarning(c store.PushCertificate, now time.Time) string {
	day := c.NotAfter.UTC().Format("2006-01-02")
	days := mdmproto.DaysUntil(c.NotAfter, now)
	if days < 0 {
		return fmt.Sprintf("expired on %s: devices cannot be pushed. Renew it in Apple's Push Certificates Portal (Renew, not Create) and upload it with updatePushCertificate", day)
	}
	return fmt.Sprintf("expires on %s, in %d days. Renew it in Apple's Push Certificates Portal (Renew, not Create) and upload it with updatePushCertificate", day, days)
}
