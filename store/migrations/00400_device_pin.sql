-- +goose Up
-- The 6-digit Find My PIN of the last DeviceLock or EraseDevice command that
-- carried one (lockDevice/eraseDevice), sealed by store/seal
-- (place: enrolled_devices, lock_pin_sealed, id): the PIN unlocks the Mac.
ALTER TABLE enrolled_devices ADD COLUMN lock_pin_sealed text;

-- +goose Down
ALTER TABLE enrolled_devices DROP COLUMN lock_pin_sealed;
