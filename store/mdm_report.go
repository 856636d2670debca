package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/orchardmdm/orchard/mdmproto"
)

// ReportPlan is what the caller knows of a report before the database
// answers: which request types need more than storing (the caller's own
// processing, a sealed answer), and the facts the answer holds if it answers
// a command of FactsType, which the statement applies itself.
type ReportPlan struct {
	// Deferred request types are left to ReportResult: their answers need
	// work outside one statement.
	Deferred []string
	// FactsType is the request type Facts were read for ("" for none);
	// Inventory marks the device's inventory fresh with them.
	FactsType string
	Facts     mdmproto.DeviceFacts
	Inventory bool
}

// Reported is what QuickReport did.
type Reported struct {
	Next NextCommand
	// Answered is the command the report answered (nil: none was Sent).
	Answered *CommandRef
	// Deferred names the request type of the Sent command the report
	// answers when the statement left it alone: the caller must store it
	// with ReportResult. Next is empty then.
	Deferred string
}

// quickReportSQL stores a report and hands out the next command in one round
// trip, as idleSQL answers an Idle: identity check, the answer (only for a
// command of this device that is Sent), its facts, last_seen_at and the next
// command; the status events are the caller's to publish once it commits
// (see idleSQL). A command whose answer needs more (a
// deferred type, or a lock whose PIN becomes the device's) changes nothing
// but last_seen_at, and no next command is handed out.
var quickReportSQL = `WITH d AS (
		SELECT id FROM enrolled_devices WHERE ` + identityUsable + ` AND token_updated FOR UPDATE),
	probe AS (
		SELECT c.id AS command_id, c.request_type AS command_type,
			(c.request_type = ANY($8) OR c.pin_sealed IS NOT NULL) AS deferred
		FROM mdm_device_commands c JOIN d ON c.device_id = d.id WHERE c.uuid = $4 AND c.status = 'Sent'),
	answered AS (
		UPDATE mdm_device_commands SET status = $3, result_at = now(), error_chain = $5,
			result_plist = $6, result = $7, ` + forgetSecretOnResult + `
		FROM probe WHERE id = probe.command_id AND NOT probe.deferred
			-- probe read the snapshot from before d's lock wait: a concurrent
			-- report of the same answer may have stored it since.
			AND status = 'Sent'
		RETURNING id, request_type, device_id),
	next AS (
		SELECT c.id FROM mdm_device_commands c JOIN d ON c.device_id = d.id
		WHERE c.status IN ('Queued', 'Sent') AND c.id NOT IN (SELECT command_id FROM probe)
			AND NOT EXISTS (SELECT 1 FROM probe WHERE deferred)
		ORDER BY c.id LIMIT 1 FOR UPDATE OF c SKIP LOCKED),
	sent AS (
		UPDATE mdm_device_commands c SET status = 'Sent', sent_at = now() FROM next WHERE c.id = next.id
		RETURNING c.id, c.request_type, c.device_id, c.uuid, c.command, c.command_sealed),
	f AS (
		SELECT ` + factsSelect(11) + `, $10::boolean AS inventory
		FROM answered WHERE answered.request_type = $9 AND $3 = 'Acknowledged'),
	touched AS (
		UPDATE enrolled_devices e SET last_seen_at = now(), ` + factsAssign("f") + `,
			inventory_updated_at = CASE WHEN f.inventory THEN now() ELSE e.inventory_updated_at END,
			updated_at = CASE WHEN f.inventory IS NULL THEN e.updated_at ELSE now() END
		FROM d LEFT JOIN f ON true WHERE e.id = d.id RETURNING e.id)
	SELECT d.id, probe.command_type, probe.deferred, answered.id,
		sent.id, sent.request_type, sent.uuid, sent.command, sent.command_sealed,
		(SELECT count(*) FROM touched)
	FROM d LEFT JOIN probe ON true LEFT JOIN answered ON true LEFT JOIN sent ON true`

// QuickReport stores a report in one round trip when it can (see
// quickReportSQL) and says when it could not (Reported.Deferred). A result
// for a command the device was not sent changes nothing, as in ReportResult.
func (q *Queries) QuickReport(ctx context.Context, ch Channel, r Result, plan ReportPlan) (Reported, error) {
	var errorChain []byte
	if len(r.ErrorChain) > 0 {
		var err error
		if errorChain, err = json.Marshal(r.ErrorChain); err != nil {
			return Reported{}, err
		}
	}
	args := append([]any{ch.DeviceID(), ch.CertHash, r.Status, r.CommandUUID, errorChain, r.Raw, r.JSON,
		plan.Deferred, plan.FactsType, plan.Inventory}, factArgs(plan.Facts)...)
	var row quickReportRow
	err := q.db.QueryRow(ctx, quickReportSQL, args...).Scan(&row.deviceID, &row.commandType, &row.deferred, &row.answeredID,
		&row.nextID, &row.nextType, &row.nextUUID, &row.nextBody, &row.nextSealed, new(int64))
	if errors.Is(err, pgx.ErrNoRows) {
		return Reported{}, q.whyRefused(ctx, ch)
	}
	if err != nil {
		return Reported{}, fmt.Errorf("report: %w", err)
	}
	return q.reported(row)
}

// quickReportRow is quickReportSQL's answer; nil columns are rows that
// were not there (no command Sent, none answered, none next).
type quickReportRow struct {
	deviceID    int64
	commandType *string
	deferred    *bool
	answeredID  *int64
	nextID      *int64
	nextType    *string
	nextUUID    *string
	nextBody    []byte
	nextSealed  *string
}

func (q *Queries) reported(row quickReportRow) (Reported, error) {
	var out Reported
	if row.deferred != nil && *row.deferred {
		out.Deferred = *row.commandType
		return out, nil
	}
	if row.answeredID != nil {
		out.Answered = &CommandRef{ID: *row.answeredID, DeviceID: row.deviceID, RequestType: *row.commandType}
	}
	if row.nextUUID == nil {
		return out, nil
	}
	next, err := q.commandToSend(NextCommand{ID: *row.nextID, DeviceID: row.deviceID, RequestType: *row.nextType,
		UUID: *row.nextUUID, Body: row.nextBody}, row.nextSealed)
	out.Next = next
	return out, err
}
