-- +goose Up
-- A sync swaps in Apple's snapshot of a location, read page by page while
-- Apple may notify changes: an ASSET_MANAGEMENT notification received after
-- the sync began may be missing from the snapshot. Its body is kept with it
-- and its assignments applied again once the snapshot is swapped in (set
-- changes: applying one twice changes nothing). Counts (ASSET_COUNT deltas) are not
-- replayed: a snapshot may already hold them.
ALTER TABLE location_notifications ADD COLUMN management jsonb;
ALTER TABLE locations ADD COLUMN sync_started_at timestamptz;
CREATE INDEX location_notifications_received ON location_notifications (location_id, received_at);

-- +goose Down
DROP INDEX location_notifications_received;
ALTER TABLE locations DROP COLUMN sync_started_at;
ALTER TABLE location_notifications DROP COLUMN management;
