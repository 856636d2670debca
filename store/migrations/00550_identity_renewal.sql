-- +goose Up
-- Identity renewal: orchard sends an enrolled device its enrollment profile
-- again (InstallProfile) before its identity certificate expires. The
-- profile's challenge names the device it renews, the certificate issued
-- through it too, and the Authenticate that follows may then replace the
-- device's still valid identity without a person allowing it.
ALTER TABLE mdm_scep_challenges
    ADD COLUMN renews_device_id bigint REFERENCES enrolled_devices (id) ON DELETE CASCADE;
ALTER TABLE mdm_scep_certificates
    ADD COLUMN renews_device_id bigint REFERENCES enrolled_devices (id) ON DELETE SET NULL;
-- When the last renewal profile was queued, so a device is sent one a day at most.
ALTER TABLE enrolled_devices ADD COLUMN identity_renewal_queued_at timestamptz;
CREATE INDEX enrolled_devices_identity_expiry ON enrolled_devices (cert_not_valid_after)
    WHERE authenticated_at IS NOT NULL AND blocked_at IS NULL AND checkout_at IS NULL;

-- +goose Down
DROP INDEX enrolled_devices_identity_expiry;
ALTER TABLE enrolled_devices DROP COLUMN identity_renewal_queued_at;
ALTER TABLE mdm_scep_certificates DROP COLUMN renews_device_id;
ALTER TABLE mdm_scep_challenges DROP COLUMN renews_device_id;
