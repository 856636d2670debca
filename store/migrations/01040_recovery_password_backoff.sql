-- +goose Up
-- A Mac that refuses its recovery password (an Error answer to
-- SetRecoveryLock or SetFirmwarePassword) is asked again by the inventory job
-- only after a pause that doubles with each refusal in a row: an hour, two,
-- four, ... at most a week. An acknowledged password clears the count; an
-- administrator's setRecoveryPassword is never held back. Constant defaults:
-- adding the columns rewrites no row.
ALTER TABLE enrolled_devices
    ADD COLUMN recovery_password_refusals integer NOT NULL DEFAULT 0,
    ADD COLUMN recovery_password_retry_at timestamptz;

-- +goose Down
ALTER TABLE enrolled_devices DROP COLUMN recovery_password_refusals, DROP COLUMN recovery_password_retry_at;
