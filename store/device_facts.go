package store

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/orchardmdm/orchard/mdmproto"
)

// factColumns are the enrolled_devices columns a device reports about itself
// (mdmproto.DeviceFacts, in its field order), with their SQL types.
var factColumns = []struct{ name, sqlType string }{
	{"name", "text"}, {"model", "text"}, {"platform", "text"}, {"product_name", "text"},
	{"software_update_device_id", "text"}, {"os_version", "text"},
	{"build_version", "text"}, {"serial_number", "text"}, {"apple_silicon", "boolean"},
	{"supervised", "boolean"}, {"awaiting_configuration", "boolean"}, {"filevault_enabled", "boolean"},
	{"activation_lock_manageable", "boolean"}, {"user_approved_enrollment", "boolean"}, {"dep_enrollment", "boolean"},
}

// factArgs are the statement arguments of facts, in factColumns order.
func factArgs(f mdmproto.DeviceFacts) []any {
	return []any{f.Name, f.Model, f.Platform, f.ProductName, f.SoftwareUpdateDeviceID, f.OSVersion, f.BuildVersion,
		f.SerialNumber, f.AppleSilicon,
		f.Supervised, f.AwaitingConfiguration, f.FileVaultEnabled, f.ActivationLockManageable,
		f.UserApprovedEnrollment, f.DEPEnrollment}
}

// factsSelect is the select list naming facts passed as parameters from
// $first on: "$first::text AS name, ...".
func factsSelect(first int) string {
	items := make([]string, len(factColumns))
	for i, c := range factColumns {
		items[i] = fmt.Sprintf("$%d::%s AS %s", first+i, c.sqlType, c.name)
	}
	return strings.Join(items, ", ")
}

// factsAssign sets each fact column of the device row e from the row src,
// keeping the stored value where src has none (not reported, or no src row).
func factsAssign(src string) string {
	items := make([]string, len(factColumns))
	for i, c := range factColumns {
		items[i] = fmt.Sprintf("%s = COALESCE(%s.%s, e.%s)", c.name, src, c.name, c.name)
	}
	return strings.Join(items, ", ")
}

// applyFactsSQL writes what a device reported; nil facts keep the stored value.
var applyFactsSQL = `UPDATE enrolled_devices e SET ` + factsAssign("f") + `, updated_at = now()
	FROM (SELECT ` + factsSelect(2) + `) f WHERE e.id = $1`

// applyFacts writes what a device reported; nil facts keep the stored value.
func applyFacts(ctx context.Context, tx pgx.Tx, id int64, f mdmproto.DeviceFacts) error {
	if _, err := tx.Exec(ctx, applyFactsSQL, append([]any{id}, factArgs(f)...)...); err != nil {
		return fmt.Errorf("update device facts: %w", err)
	}
	return nil
}
