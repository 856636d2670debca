package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/orchardmdm/orchard/store/seal"
)

// sealedTable names a table's sealed columns and how their seal.Place is
// built, so every sealed value can be counted by key and rewrapped.
type sealedTable struct {
	table   string
	key     string // primary key: batches walk it in order
	rowID   string // the column (as text) that is the place's RowID
	columns []string
}

// sealedTables lists every sealed column; TestEverySealedColumnIsListed
// fails when a *_sealed column is missing here.
var sealedTables = []sealedTable{
	{"enrolled_devices", "id", "id", []string{"unlock_token_sealed", "bootstrap_token_sealed",
		"filevault_prk_sealed", "recovery_password_sealed", "lock_pin_sealed",
		"recovery_password_pending_sealed"}},
	{"server_keys", "purpose", "purpose", []string{"key_sealed"}},
	{"push_certificates", "id", "topic", []string{"private_key_sealed"}},
	{"dep_tokens", "id", "id", []string{"private_key_sealed", "consumer_secret_sealed", "access_secret_sealed", "session_sealed"}},
	{"mdm_device_commands", "id", "uuid", []string{commandBodyColumn, PINColumn, ResultColumn}},
	{"mdm_enrollments", "id", "id", []string{"secret_sealed"}},
	{"locations", "id", "id", []string{"token_sealed"}},
	{"profiles", "id", "id", []string{profileContentColumn}},
}

// SealedColumns lists every sealed column as "table.column".
func SealedColumns() []string {
	var out []string
	for _, t := range sealedTables {
		for _, c := range t.columns {
			out = append(out, t.table+"."+c)
		}
	}
	return out
}

// KeyUse counts the values of one sealed column sealed with one key.
type KeyUse struct {
	Table, Column, KeyID string
	Count                int64
}

// SealedKeyUse counts, per sealed column, the values each key id sealed.
func (q *Queries) SealedKeyUse(ctx context.Context) ([]KeyUse, error) {
	var out []KeyUse
	for _, t := range sealedTables {
		for _, c := range t.columns {
			rows, err := q.db.Query(ctx, "SELECT split_part("+c+", ':', 2), count(*) FROM "+t.table+
				" WHERE "+c+" IS NOT NULL GROUP BY 1 ORDER BY 1")
			if err != nil {
				return nil, fmt.Errorf("key use of %q.%s: %w", t.table, c, err)
			}
			uses, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (KeyUse, error) {
				u := KeyUse{Table: t.table, Column: c}
				return u, r.Scan(&u.KeyID, &u.Count)
			})
			if err != nil {
				return nil, fmt.Errorf("key use of %q.%s: %w", t.table, c, err)
			}
			out = append(out, uses...)
		}
	}
	return out, nil
}

// RewrapCount is what Rewrap did to one sealed column.
type RewrapCount struct {
	Table, Column string
	Rewrapped     int64
	// Failed values did not open: sealed with a key this process was not
	// given, or tampered with. They keep their old key.
	Failed int64
}

// Rewrap seals again, with the current key, every sealed value that another
// key sealed, batch rows at a time. Each batch is its own short transaction
// and a value changed meanwhile is left alone, so it runs while orchard
// serves; interrupted, it resumes where it stopped when run again (values
// already under the current key are not read).
func (q *Queries) Rewrap(ctx context.Context, batch int, done func(RewrapCount)) ([]RewrapCount, error) {
	if batch < 1 {
		return nil, errors.New("rewrap: batch must be at least 1")
	}
	var out []RewrapCount
	for _, t := range sealedTables {
		for _, c := range t.columns {
			n, err := q.rewrapColumn(ctx, t, c, batch)
			if err != nil {
				return out, err
			}
			out = append(out, n)
			if done != nil {
				done(n)
			}
		}
	}
	return out, nil
}

func (q *Queries) rewrapColumn(ctx context.Context, t sealedTable, column string, batch int) (RewrapCount, error) {
	n := RewrapCount{Table: t.table, Column: column}
	var cursor any
	for {
		rows, err := q.db.Query(ctx, "SELECT "+t.key+", "+t.rowID+"::text, "+column+" FROM "+t.table+
			" WHERE "+column+" IS NOT NULL AND split_part("+column+", ':', 2) <> $1 AND ($2::text IS NULL OR "+t.key+" > $3)"+
			" ORDER BY 1 LIMIT $4", q.sealer.KeyID(), keyText(cursor), cursor, batch)
		if err != nil {
			return n, fmt.Errorf("rewrap %q.%s: %w", t.table, column, err)
		}
		values, err := pgx.CollectRows(rows, pgx.RowToStructByPos[sealedValue])
		if err != nil {
			return n, fmt.Errorf("rewrap %q.%s: %w", t.table, column, err)
		}
		if err := q.rewrapBatch(ctx, t, column, values, &n); err != nil {
			return n, err
		}
		if len(values) < batch {
			return n, nil
		}
		cursor = values[len(values)-1].Key
	}
}

type sealedValue struct {
	Key    any
	RowID  string
	Sealed string
}

// keyText tells SQL whether there is a cursor yet, whatever its type.
func keyText(cursor any) *string {
	if cursor == nil {
		return nil
	}
	s := fmt.Sprint(cursor)
	return &s
}

func (q *Queries) rewrapBatch(ctx context.Context, t sealedTable, column string, values []sealedValue, n *RewrapCount) error {
	return q.inTx(ctx, func(tx pgx.Tx) error {
		for _, v := range values {
			fresh, err := q.sealer.Reseal(v.Sealed, seal.Place{Table: t.table, Column: column, RowID: v.RowID})
			if err != nil {
				n.Failed++
				continue
			}
			tag, err := tx.Exec(ctx, "UPDATE "+t.table+" SET "+column+" = $1 WHERE "+t.key+" = $2 AND "+column+" = $3",
				fresh, v.Key, v.Sealed)
			if err != nil {
				return fmt.Errorf("rewrap %q.%s: %w", t.table, column, err)
			}
			n.Rewrapped += tag.RowsAffected()
		}
		return nil
	})
}
