-- +goose Up
-- Where a device's software update stands, as its declarative management
-- status reports say (softwareupdate.install-state, pending-version,
-- failure-reason): one row a device, each group of columns replaced when a
-- report carries its item and kept when it does not.
CREATE TABLE device_software_update_status (
    device_id             bigint PRIMARY KEY REFERENCES enrolled_devices (id) ON DELETE CASCADE,
    install_state         text,
    pending_os_version    text,
    pending_build_version text,
    failure_count         integer,
    failure_reason        text,
    failed_at             timestamptz,
    reported_at           timestamptz NOT NULL DEFAULT now()
);

-- +goose Down
DROP TABLE device_software_update_status;
