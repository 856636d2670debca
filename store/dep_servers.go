package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/orchardmdm/orchard/mdmproto/dep"
)

// DEPVirtualServer is a virtual MDM server of Apple Business Manager.
type DEPVirtualServer struct {
	ID               int64
	TokenID          int64
	ServerUUID       string
	ServerName       string
	AdminID          string
	FacilitatorID    string
	OrgName          string
	OrgEmail         string
	OrgPhone         string
	OrgAddress       string
	OrgType          string
	OrgVersion       string
	OrgID            string
	DefaultProfileID *int64
	CursorPhase      string
	LastSyncedAt     *time.Time
	CreatedAt        time.Time
	UpdatedAt        time.Time
}

const depServerColumns = `id, token_id, server_uuid, server_name, admin_id, facilitator_id, org_name, org_email,
	org_phone, org_address, org_type, org_version, org_id, default_profile_id, cursor_phase, last_synced_at,
	created_at, updated_at`

func scanDEPServer(row pgx.Row) (DEPVirtualServer, error) {
	var v DEPVirtualServer
	err := row.Scan(&v.ID, &v.TokenID, &v.ServerUUID, &v.ServerName, &v.AdminID, &v.FacilitatorID, &v.OrgName,
		&v.OrgEmail, &v.OrgPhone, &v.OrgAddress, &v.OrgType, &v.OrgVersion, &v.OrgID, &v.DefaultProfileID,
		&v.CursorPhase, &v.LastSyncedAt, &v.CreatedAt, &v.UpdatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return v, ErrNotFound
	}
	return v, err
}

// upsertDEPVirtualServer records the server a token serves. A token stays with
// its server: a renewal for another server, or a server another token already
// serves, is refused rather than moving devices between servers.
func upsertDEPVirtualServer(ctx context.Context, tx pgx.Tx, tokenID int64, a *dep.Account) (DEPVirtualServer, error) {
	var otherToken int64
	err := tx.QueryRow(ctx, "SELECT token_id FROM dep_virtual_servers WHERE server_uuid = $1", a.ServerUUID).Scan(&otherToken)
	if err == nil && otherToken != tokenID {
		return DEPVirtualServer{}, fmt.Errorf("virtual server %q is already served by DEP token %d: upload the renewed token there: %w",
			a.ServerName, otherToken, ErrConflict)
	}
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return DEPVirtualServer{}, fmt.Errorf("dep virtual server: %w", err)
	}
	var current string
	err = tx.QueryRow(ctx, "SELECT server_uuid FROM dep_virtual_servers WHERE token_id = $1", tokenID).Scan(&current)
	if err == nil && current != a.ServerUUID {
		return DEPVirtualServer{}, fmt.Errorf("this token is for virtual server %q (%s), but DEP token %d serves %s: create a new DEP token for it: %w",
			a.ServerName, a.ServerUUID, tokenID, current, ErrConflict)
	}
	v, err := scanDEPServer(tx.QueryRow(ctx, `INSERT INTO dep_virtual_servers (token_id, server_uuid, server_name, admin_id,
			facilitator_id, org_name, org_email, org_phone, org_address, org_type, org_version, org_id)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
		ON CONFLICT (token_id) DO UPDATE SET server_name = EXCLUDED.server_name, admin_id = EXCLUDED.admin_id,
			facilitator_id = EXCLUDED.facilitator_id, org_name = EXCLUDED.org_name, org_email = EXCLUDED.org_email,
			org_phone = EXCLUDED.org_phone, org_address = EXCLUDED.org_address, org_type = EXCLUDED.org_type,
			org_version = EXCLUDED.org_version, org_id = EXCLUDED.org_id, updated_at = now()
		RETURNING `+depServerColumns, tokenID, a.ServerUUID, a.ServerName, a.AdminID, a.FacilitatorID, a.OrgName,
		a.OrgEmail, a.OrgPhone, a.OrgAddress, a.OrgType, a.OrgVersion, a.OrgID))
	if err != nil {
		return v, fmt.Errorf("dep virtual server: %w", err)
	}
	return v, nil
}

// ListDEPVirtualServers returns every virtual server in id order.
func (q *Queries) ListDEPVirtualServers(ctx context.Context) ([]DEPVirtualServer, error) {
	rows, err := q.db.Query(ctx, "SELECT "+depServerColumns+" FROM dep_virtual_servers ORDER BY id")
	if err != nil {
		return nil, fmt.Errorf("list dep virtual servers: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (DEPVirtualServer, error) { return scanDEPServer(r) })
}

// DEPVirtualServer returns one virtual server.
func (q *Queries) DEPVirtualServer(ctx context.Context, id int64) (DEPVirtualServer, error) {
	v, err := scanDEPServer(q.db.QueryRow(ctx, "SELECT "+depServerColumns+" FROM dep_virtual_servers WHERE id = $1", id))
	if err != nil {
		return v, fmt.Errorf("dep virtual server %d: %w", id, err)
	}
	return v, nil
}

// DEPVirtualServersByIDs loads servers for a dataloader: results in the order of ids.
func (q *Queries) DEPVirtualServersByIDs(ctx context.Context, ids []int64) ([]*DEPVirtualServer, error) {
	return loadByKeys(ctx, q.db, "dep virtual servers", "SELECT "+depServerColumns+" FROM dep_virtual_servers WHERE id = ANY($1)",
		ids, scanDEPServer, func(v *DEPVirtualServer) int64 { return v.ID })
}

// SetDEPDefaultProfile sets (or, with nil, clears) the profile new devices of
// a server get. The profile must belong to the server.
func (q *Queries) SetDEPDefaultProfile(ctx context.Context, serverID int64, profileID *int64) (DEPVirtualServer, error) {
	var v DEPVirtualServer
	err := q.inTx(ctx, func(tx pgx.Tx) error {
		if profileID != nil {
			var owner int64
			err := tx.QueryRow(ctx, "SELECT virtual_server_id FROM dep_profiles WHERE id = $1", *profileID).Scan(&owner)
			if errors.Is(err, pgx.ErrNoRows) || (err == nil && owner != serverID) {
				return fmt.Errorf("dep profile %d of server %d: %w", *profileID, serverID, ErrNotFound)
			}
			if err != nil {
				return err
			}
		}
		var err error
		v, err = scanDEPServer(tx.QueryRow(ctx, `UPDATE dep_virtual_servers SET default_profile_id = $2, updated_at = now()
			WHERE id = $1 RETURNING `+depServerColumns, serverID, profileID))
		if err != nil {
			return fmt.Errorf("dep virtual server %d: %w", serverID, err)
		}
		return nil
	})
	return v, err
}

// DEPVirtualServersByTokenIDs loads the server of each token for a dataloader;
// tokens not uploaded yet give nil.
func (q *Queries) DEPVirtualServersByTokenIDs(ctx context.Context, tokenIDs []int64) ([]*DEPVirtualServer, error) {
	return loadByKeys(ctx, q.db, "dep virtual servers", "SELECT "+depServerColumns+" FROM dep_virtual_servers WHERE token_id = ANY($1)",
		tokenIDs, scanDEPServer, func(v *DEPVirtualServer) int64 { return v.TokenID })
}
