-- +goose Up
-- A blueprint is the policy its devices follow: how often their inventory
-- is refreshed, what it collects, and whether orchard manages the recovery
-- password.
ALTER TABLE blueprints
    ADD COLUMN inventory_interval_seconds integer NOT NULL DEFAULT 86400
        CHECK (inventory_interval_seconds BETWEEN 14400 AND 604800),
    ADD COLUMN collect_apps text NOT NULL DEFAULT 'NO' CHECK (collect_apps IN ('NO', 'MANAGED_ONLY', 'ALL')),
    ADD COLUMN collect_certificates text NOT NULL DEFAULT 'NO'
        CHECK (collect_certificates IN ('NO', 'MANAGED_ONLY', 'ALL')),
    ADD COLUMN collect_profiles text NOT NULL DEFAULT 'NO' CHECK (collect_profiles IN ('NO', 'MANAGED_ONLY', 'ALL')),
    ADD COLUMN recovery_password boolean NOT NULL DEFAULT false,
    -- Days between automatic rotations; null: set once, never rotated.
    ADD COLUMN recovery_password_rotation_days integer
        CHECK (recovery_password_rotation_days BETWEEN 1 AND 3650);

ALTER TABLE enrolled_devices
    -- When the last DeviceInformation answer arrived.
    ADD COLUMN inventory_updated_at   timestamptz,
    -- When orchard last asked for an inventory: a device is asked again only
    -- once its blueprint's interval has passed since both.
    ADD COLUMN inventory_requested_at timestamptz,
    -- A recovery password sent but not yet acknowledged: the current one
    -- (recovery_password_sealed) stays readable until the device takes it.
    ADD COLUMN recovery_password_pending_sealed text,
    ADD COLUMN recovery_password_set_at timestamptz,
    -- Why the last FileVault or recovery password answer could not be used.
    ADD COLUMN secret_error text NOT NULL DEFAULT '';
CREATE INDEX enrolled_devices_inventory ON enrolled_devices (id) WHERE token_updated AND blocked_at IS NULL
    AND checkout_at IS NULL;

-- Inventory answers, replaced whole by each answer.
CREATE TABLE device_installed_applications (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    device_id         bigint NOT NULL REFERENCES enrolled_devices (id) ON DELETE CASCADE,
    identifier        text NOT NULL DEFAULT '',
    name              text NOT NULL DEFAULT '',
    version           text NOT NULL DEFAULT '',
    short_version     text NOT NULL DEFAULT '',
    bundle_size       bigint,
    is_managed        boolean
);
CREATE INDEX device_installed_applications_device ON device_installed_applications (device_id, id);

CREATE TABLE device_certificates (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    device_id   bigint NOT NULL REFERENCES enrolled_devices (id) ON DELETE CASCADE,
    common_name text NOT NULL DEFAULT '',
    is_identity boolean NOT NULL DEFAULT false,
    -- The DER certificate (public data).
    data        bytea NOT NULL
);
CREATE INDEX device_certificates_device ON device_certificates (device_id, id);

CREATE TABLE device_profiles (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    device_id      bigint NOT NULL REFERENCES enrolled_devices (id) ON DELETE CASCADE,
    identifier     text NOT NULL DEFAULT '',
    uuid           text NOT NULL DEFAULT '',
    display_name   text NOT NULL DEFAULT '',
    organization   text NOT NULL DEFAULT '',
    is_managed     boolean,
    is_encrypted   boolean NOT NULL DEFAULT false
);
CREATE INDEX device_profiles_device ON device_profiles (device_id, id);

-- +goose Down
DROP TABLE device_profiles;
DROP TABLE device_certificates;
DROP TABLE device_installed_applications;
DROP INDEX enrolled_devices_inventory;
ALTER TABLE enrolled_devices
    DROP COLUMN inventory_updated_at,
    DROP COLUMN inventory_requested_at,
    DROP COLUMN recovery_password_pending_sealed,
    DROP COLUMN recovery_password_set_at,
    DROP COLUMN secret_error;
ALTER TABLE blueprints
    DROP COLUMN inventory_interval_seconds,
    DROP COLUMN collect_apps,
    DROP COLUMN collect_certificates,
    DROP COLUMN collect_profiles,
    DROP COLUMN recovery_password,
    DROP COLUMN recovery_password_rotation_days;
