-- +goose Up
-- A DEP server token: orchard's key pair (the certificate goes to Apple
-- Business Manager) and, once uploaded, the OAuth1 keys Apple encrypted to it.
-- Sealed columns use store/seal with place (dep_tokens, column, id).
CREATE TABLE dep_tokens (
    id                     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name                   text NOT NULL CHECK (name <> ''),
    certificate            bytea NOT NULL,
    private_key_sealed     text NOT NULL,
    consumer_key           text NOT NULL DEFAULT '',
    consumer_secret_sealed text,
    access_token           text NOT NULL DEFAULT '',
    access_secret_sealed   text,
    access_token_expiry    timestamptz,
    -- The one DEP session every orchard process shares for this token.
    session_sealed         text,
    session_updated_at     timestamptz,
    uploaded_at            timestamptz,
    created_at             timestamptz NOT NULL DEFAULT now(),
    updated_at             timestamptz NOT NULL DEFAULT now()
);

-- A virtual MDM server in Apple Business Manager, one per token.
CREATE TABLE dep_virtual_servers (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    token_id        bigint NOT NULL UNIQUE REFERENCES dep_tokens (id) ON DELETE CASCADE,
    server_uuid     text NOT NULL UNIQUE CHECK (server_uuid <> ''),
    server_name     text NOT NULL DEFAULT '',
    admin_id        text NOT NULL DEFAULT '',
    facilitator_id  text NOT NULL DEFAULT '',
    org_name        text NOT NULL DEFAULT '',
    org_email       text NOT NULL DEFAULT '',
    org_phone       text NOT NULL DEFAULT '',
    org_address     text NOT NULL DEFAULT '',
    org_type        text NOT NULL DEFAULT '',
    org_version     text NOT NULL DEFAULT '',
    org_id          text NOT NULL DEFAULT '',
    -- Sync state. cursor_phase 'fetch': a full fetch is under way from cursor
    -- (empty: not started); 'sync': the fetch finished, cursor syncs changes.
    -- The cursor is written in the transaction of the page it follows.
    cursor          text NOT NULL DEFAULT '',
    cursor_phase    text NOT NULL DEFAULT 'fetch' CHECK (cursor_phase IN ('fetch', 'sync')),
    fetch_started_at timestamptz,
    last_synced_at  timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);

-- DEP profiles ("DEP enrollments"), with Apple's fields in apple_fields
-- (profile_name, url and devices excluded: orchard sets those).
CREATE TABLE dep_profiles (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    virtual_server_id bigint NOT NULL REFERENCES dep_virtual_servers (id) ON DELETE CASCADE,
    name              text NOT NULL CHECK (name <> ''),
    blueprint_id      bigint REFERENCES blueprints (id) ON DELETE SET NULL,
    apple_fields      jsonb NOT NULL DEFAULT '{}',
    profile_uuid      text NOT NULL DEFAULT '',
    url               text NOT NULL DEFAULT '',
    defined_at        timestamptz,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    UNIQUE (virtual_server_id, name)
);
CREATE INDEX dep_profiles_uuid ON dep_profiles (profile_uuid);

ALTER TABLE dep_virtual_servers
    ADD COLUMN default_profile_id bigint REFERENCES dep_profiles (id) ON DELETE SET NULL;

-- Devices Apple lists for a virtual server. A serial number belongs to one
-- server at a time; devices Apple stops listing keep their row with deleted_at.
CREATE TABLE dep_devices (
    id                   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    virtual_server_id    bigint NOT NULL REFERENCES dep_virtual_servers (id) ON DELETE CASCADE,
    serial_number        text NOT NULL UNIQUE CHECK (serial_number <> ''),
    model                text NOT NULL DEFAULT '',
    description          text NOT NULL DEFAULT '',
    color                text NOT NULL DEFAULT '',
    asset_tag            text NOT NULL DEFAULT '',
    os                   text NOT NULL DEFAULT '',
    device_family        text NOT NULL DEFAULT '',
    profile_status       text NOT NULL DEFAULT '',
    profile_uuid         text NOT NULL DEFAULT '',
    profile_assign_time  timestamptz,
    profile_push_time    timestamptz,
    device_assigned_date timestamptz,
    device_assigned_by   text NOT NULL DEFAULT '',
    last_op_type         text NOT NULL DEFAULT '',
    last_op_date         timestamptz,
    -- When the last full fetch listed the device; older than the fetch's
    -- start once it finishes means Apple no longer lists it.
    fetched_at           timestamptz,
    auto_assign_tried_at timestamptz,
    deleted_at           timestamptz,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX dep_devices_server ON dep_devices (virtual_server_id, id);
CREATE INDEX dep_devices_profile_status ON dep_devices (profile_status, id);
CREATE INDEX dep_devices_op_type ON dep_devices (last_op_type, id);
CREATE INDEX dep_devices_auto_assign ON dep_devices (virtual_server_id, id)
    WHERE profile_status = 'empty' AND deleted_at IS NULL;

-- +goose Down
DROP TABLE dep_devices;
ALTER TABLE dep_virtual_servers DROP COLUMN default_profile_id;
DROP TABLE dep_profiles;
DROP TABLE dep_virtual_servers;
DROP TABLE dep_tokens;
