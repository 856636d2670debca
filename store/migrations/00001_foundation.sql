-- +goose Up
CREATE TABLE blueprints (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name       text NOT NULL UNIQUE CHECK (name <> ''),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- One row per device channel enrollment, with every field of Zentral's device serializer.
CREATE TABLE enrolled_devices (
    id                         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    udid                       text NOT NULL UNIQUE CHECK (udid <> ''),
    serial_number              text NOT NULL DEFAULT '',
    name                       text NOT NULL DEFAULT '',
    model                      text NOT NULL DEFAULT '',
    platform                   text NOT NULL DEFAULT '',
    os_version                 text NOT NULL DEFAULT '',
    build_version              text NOT NULL DEFAULT '',
    apple_silicon              boolean NOT NULL DEFAULT false,
    cert_not_valid_after       timestamptz,
    blueprint_id               bigint REFERENCES blueprints (id) ON DELETE SET NULL,
    awaiting_configuration     boolean NOT NULL DEFAULT false,
    declarative_management     boolean NOT NULL DEFAULT false,
    dep_enrollment             boolean NOT NULL DEFAULT false,
    user_enrollment            boolean NOT NULL DEFAULT false,
    user_approved_enrollment   boolean NOT NULL DEFAULT false,
    supervised                 boolean NOT NULL DEFAULT false,
    bootstrap_token_escrowed   boolean NOT NULL DEFAULT false,
    filevault_enabled          boolean NOT NULL DEFAULT false,
    filevault_prk_escrowed     boolean NOT NULL DEFAULT false,
    activation_lock_manageable boolean NOT NULL DEFAULT false,
    -- The push channel, from TokenUpdate. push_token_invalid_at is set when APNs
    -- says the token is gone, and stops pushes until the next TokenUpdate.
    push_token                 bytea,
    push_magic                 text NOT NULL DEFAULT '',
    push_topic                 text NOT NULL DEFAULT '',
    push_token_invalid_at      timestamptz,
    -- Secrets, sealed by store/seal (place: enrolled_devices, column, id).
    unlock_token_sealed        text,
    bootstrap_token_sealed     text,
    filevault_prk_sealed       text,
    recovery_password_sealed   text,
    last_seen_at               timestamptz,
    last_notified_at           timestamptz,
    checkout_at                timestamptz,
    blocked_at                 timestamptz,
    created_at                 timestamptz NOT NULL DEFAULT now(),
    updated_at                 timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX enrolled_devices_serial_number ON enrolled_devices (serial_number);
CREATE INDEX enrolled_devices_platform ON enrolled_devices (platform, id);
CREATE INDEX enrolled_devices_blocked ON enrolled_devices (id) WHERE blocked_at IS NOT NULL;
CREATE INDEX enrolled_devices_blueprint ON enrolled_devices (blueprint_id);

-- Who did what, written in the same transaction as the change it records.
CREATE TABLE audit_events (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    occurred_at timestamptz NOT NULL DEFAULT now(),
    actor       text NOT NULL,
    action      text NOT NULL,
    object_type text NOT NULL,
    object_id   text NOT NULL,
    data        jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_events_object ON audit_events (object_type, object_id);

-- API tokens are JWTs; this table lets them be listed and revoked by jti.
CREATE TABLE api_tokens (
    jti         text PRIMARY KEY,
    name        text NOT NULL CHECK (name <> ''),
    permissions text[] NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    revoked_at  timestamptz
);
CREATE INDEX api_tokens_name ON api_tokens (name);

-- Keys orchard generates for itself (JWT signing, ...), sealed.
CREATE TABLE server_keys (
    purpose    text PRIMARY KEY,
    key_sealed text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- +goose Down
DROP TABLE server_keys;
DROP TABLE api_tokens;
DROP TABLE audit_events;
DROP TABLE enrolled_devices;
DROP TABLE blueprints;
