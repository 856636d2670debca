-- +goose Up
-- Every foreign key is checked from the referenced side when a row there is
-- deleted: without an index on the referencing column, each deleted device
-- read every SCEP certificate ever issued (renews_device_id), and deleting an
-- enrollment read every enrolled device. Built in the migration's
-- transaction, as 01000's indexes are: about a second per million rows.
CREATE INDEX mdm_scep_certificates_renews_device ON mdm_scep_certificates (renews_device_id)
    WHERE renews_device_id IS NOT NULL;
CREATE INDEX mdm_scep_challenges_renews_device ON mdm_scep_challenges (renews_device_id)
    WHERE renews_device_id IS NOT NULL;
CREATE INDEX enrolled_devices_mdm_enrollment ON enrolled_devices (mdm_enrollment_id)
    WHERE mdm_enrollment_id IS NOT NULL;
CREATE INDEX location_asset_operations_asset ON location_asset_operations (location_asset_id);

-- +goose Down
DROP INDEX location_asset_operations_asset;
DROP INDEX enrolled_devices_mdm_enrollment;
DROP INDEX mdm_scep_challenges_renews_device;
DROP INDEX mdm_scep_certificates_renews_device;
