-- +goose Up
-- Over-the-air enrollments: each serves a profile at /enroll/<secret>.
CREATE TABLE mdm_enrollments (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name         text NOT NULL CHECK (name <> ''),
    secret       text NOT NULL UNIQUE CHECK (length(secret) >= 32),
    blueprint_id bigint REFERENCES blueprints (id) ON DELETE SET NULL,
    -- Served to devices enrolling through Automated Device Enrollment.
    dep          boolean NOT NULL DEFAULT false,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);

-- One SCEP challenge per profile download: single use, short lived, so a
-- leaked profile cannot mint identities forever.
CREATE TABLE mdm_scep_challenges (
    challenge     text PRIMARY KEY,
    enrollment_id bigint NOT NULL REFERENCES mdm_enrollments (id) ON DELETE CASCADE,
    expires_at    timestamptz NOT NULL,
    used_at       timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX mdm_scep_challenges_expires ON mdm_scep_challenges (expires_at);

-- Identity certificates the embedded SCEP CA issued.
CREATE TABLE mdm_scep_certificates (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    serial        text NOT NULL UNIQUE,
    sha256        bytea NOT NULL UNIQUE,
    subject       text NOT NULL,
    enrollment_id bigint REFERENCES mdm_enrollments (id) ON DELETE SET NULL,
    not_before    timestamptz NOT NULL,
    not_after     timestamptz NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now()
);

-- The identity a device channel is bound to (set by Authenticate), and whether
-- TokenUpdate has made the channel usable since.
ALTER TABLE enrolled_devices
    ADD COLUMN identity_cert_sha256 bytea,
    ADD COLUMN mdm_enrollment_id    bigint REFERENCES mdm_enrollments (id) ON DELETE SET NULL,
    ADD COLUMN token_updated        boolean NOT NULL DEFAULT false,
    ADD COLUMN authenticated_at     timestamptz;
CREATE UNIQUE INDEX enrolled_devices_identity_cert ON enrolled_devices (identity_cert_sha256);

-- User channels (UDID:UserID) of a device.
CREATE TABLE mdm_device_users (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    device_id  bigint NOT NULL REFERENCES enrolled_devices (id) ON DELETE CASCADE,
    user_id    text NOT NULL CHECK (user_id <> ''),
    short_name text NOT NULL DEFAULT '',
    long_name  text NOT NULL DEFAULT '',
    push_token bytea,
    push_magic text NOT NULL DEFAULT '',
    last_seen_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (device_id, user_id)
);

-- The command queue of device channels.
CREATE TABLE mdm_device_commands (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    uuid         text NOT NULL UNIQUE,
    device_id    bigint NOT NULL REFERENCES enrolled_devices (id) ON DELETE CASCADE,
    request_type text NOT NULL,
    -- The full command plist sent to the device, built when queued.
    command      bytea NOT NULL,
    status       text NOT NULL DEFAULT 'Queued' CHECK (status IN
        ('Queued', 'Sent', 'Acknowledged', 'Error', 'CommandFormatError', 'NotNow', 'Cancelled')),
    queued_by    text NOT NULL DEFAULT '',
    queued_at    timestamptz NOT NULL DEFAULT now(),
    sent_at      timestamptz,
    result_at    timestamptz,
    error_chain  jsonb,
    result_plist bytea,
    result       jsonb
);
-- The hot path: a device's pending commands, oldest first.
CREATE INDEX mdm_device_commands_pending ON mdm_device_commands (device_id, id)
    WHERE status IN ('Queued', 'Sent', 'NotNow');
CREATE INDEX mdm_device_commands_device ON mdm_device_commands (device_id, id);

-- +goose Down
DROP TABLE mdm_device_commands;
DROP TABLE mdm_device_users;
DROP INDEX enrolled_devices_identity_cert;
ALTER TABLE enrolled_devices
    DROP COLUMN identity_cert_sha256,
    DROP COLUMN mdm_enrollment_id,
    DROP COLUMN token_updated,
    DROP COLUMN authenticated_at;
DROP TABLE mdm_scep_certificates;
DROP TABLE mdm_scep_challenges;
DROP TABLE mdm_enrollments;
