package service

import (
	"context"
	"crypto/rand"
	"errors"

	"github.com/orchardmdm/orchard/store"
)

// BlueprintActor queues what blueprints ask for.
const BlueprintActor = "orchard:blueprint"

// recoveryPasswordAlphabet leaves out look-alikes (0/O, 1/l/I): people type
// this password at a Mac's recovery prompt, reading it off a screen.
const recoveryPasswordAlphabet = "23456789abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ"

// recoveryPasswordLength gives 16 × log2(56) ≈ 93 bits.
const recoveryPasswordLength = 16

func newRecoveryPassword() string {
	return randomFrom(recoveryPasswordAlphabet, recoveryPasswordLength)
}

// randomFrom draws n characters uniformly from alphabet (rejection
// sampling: no modulo bias).
func randomFrom(alphabet string, n int) string {
	out := make([]byte, 0, n)
	buf := make([]byte, 1)
	limit := 256 - 256%len(alphabet)
	for len(out) < n {
		_, _ = rand.Read(buf) // crypto/rand.Read never fails (Go 1.24)
		if int(buf[0]) < limit {
			out = append(out, alphabet[int(buf[0])%len(alphabet)])
		}
	}
	return string(out)
}

// SetRecoveryPassword generates a new recovery password for a Mac and queues
// the command that sets it: SetRecoveryLock on Apple silicon,
// SetFirmwarePassword on Intel. The new password is sealed as pending; the
// current one stays readable until the Mac acknowledges the new one.
func (s *Service) SetRecoveryPassword(ctx context.Context, actor string, deviceID int64) (store.DeviceCommand, error) {
	var c store.DeviceCommand
	err := s.store.Tx(ctx, func(q *store.Queries) error {
		var err error
		c, err = s.setRecoveryPasswordInTx(ctx, q, actor, deviceID)
		return err
	})
	return c, err
}

func (s *Service) setRecoveryPasswordInTx(ctx context.Context, q *store.Queries, actor string, deviceID int64) (store.DeviceCommand, error) {
	d, err := q.Device(ctx, deviceID)
	if errors.Is(err, store.ErrNotFound) {
		return store.DeviceCommand{}, notFound("no device with id %d", deviceID)
	} else if err != nil {
		return store.DeviceCommand{}, err
	}
	requestType := "SetFirmwarePassword"
	if d.AppleSilicon {
		requestType = "SetRecoveryLock"
	}
	return s.queueCommandInTx(ctx, q, actor, deviceID, commandAction{requestType: requestType,
		audit: "device.set_recovery_password", buildInTx: recoveryPasswordPayload})
}

// recoveryPasswordPayload makes the command's payload with the current
// password (the Mac refuses a change without it) and a new one, which it
// seals as pending in the same transaction.
func recoveryPasswordPayload(ctx context.Context, q *store.Queries, d *store.Device) (map[string]any, error) {
	if d.Platform != "macOS" {
		return nil, invalid("device %d is not a Mac: recovery passwords are macOS only", d.ID)
	}
	st, err := q.RecoveryPasswordState(ctx, d.ID)
	if err != nil {
		return nil, err
	}
	if st.HasPending {
		return nil, invalid("device %d has not answered the last recovery password change yet", d.ID)
	}
	current, err := q.OpenDeviceSecret(ctx, d.ID, "recovery_password_sealed")
	if err != nil {
		return nil, err
	}
	next := newRecoveryPassword()
	if err := q.SetPendingRecoveryPassword(ctx, d.ID, []byte(next)); err != nil {
		return nil, err
	}
	payload := map[string]any{"NewPassword": next}
	if current != nil {
		payload["CurrentPassword"] = string(current)
	}
	return payload, nil
}

// EnforceRecoveryPasswords sets a recovery password on every Mac whose
// blueprint asks for one and that has none, or rotates it when the
// blueprint's rotation has passed; one transaction per Mac, so one Mac's
// refusal does not hold back the others.
func (s *Service) EnforceRecoveryPasswords(ctx context.Context) (int, error) {
	var after int64
	queued := 0
	for {
		ids, err := s.store.RecoveryPasswordDue(ctx, after, InventoryBatch)
		if err != nil {
			return queued, err
		}
		for _, id := range ids {
			if _, err := s.SetRecoveryPassword(ctx, BlueprintActor, id); err != nil {
				var refusal *Error
				if !errors.As(err, &refusal) {
					return queued, err
				}
				s.log.InfoContext(ctx, "recovery password not set", "device_id", id, "reason", refusal.Msg)
				continue
			}
			queued++
		}
		if len(ids) < InventoryBatch {
			return queued, nil
		}
		after = ids[len(ids)-1]
	}
}
