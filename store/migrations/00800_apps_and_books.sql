-- +goose Up
-- Apps and Books locations: one content token each (sealed by store/seal,
-- place: locations, token_sealed, id), and the SHA-256 of the bearer secret
-- Apple sends with its notifications (the secret itself is never kept).
CREATE TABLE locations (
    id                           bigserial PRIMARY KEY,
    -- Apple's uId of the location's library: a renewal keeps it.
    library_uid                  text NOT NULL UNIQUE,
    name                         text NOT NULL,
    organization_name            text NOT NULL,
    country_code                 text NOT NULL DEFAULT '',
    platform                     text NOT NULL DEFAULT '',
    website_url                  text NOT NULL DEFAULT '',
    mdm_info_id                  text NOT NULL,
    server_token_expiration_date timestamptz NOT NULL,
    token_sealed                 text NOT NULL,
    notification_secret_sha256   bytea NOT NULL,
    assets_version_id            text,
    last_synced_at               timestamptz,
    created_at                   timestamptz NOT NULL DEFAULT now(),
    updated_at                   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE location_assets (
    id                bigserial PRIMARY KEY,
    location_id       bigint NOT NULL REFERENCES locations ON DELETE CASCADE,
    adam_id           text NOT NULL,
    pricing_param     text NOT NULL,
    product_type      text NOT NULL DEFAULT '',
    platforms         text[] NOT NULL DEFAULT '{}',
    name              text,
    device_assignable boolean NOT NULL DEFAULT false,
    revocable         boolean NOT NULL DEFAULT false,
    assigned_count    integer NOT NULL DEFAULT 0,
    available_count   integer NOT NULL DEFAULT 0,
    retired_count     integer NOT NULL DEFAULT 0,
    total_count       integer NOT NULL DEFAULT 0,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    UNIQUE (location_id, adam_id, pricing_param)
);
CREATE INDEX location_assets_adam_id ON location_assets (adam_id);

-- Which devices hold a licence of an asset.
CREATE TABLE location_asset_assignments (
    location_asset_id bigint NOT NULL REFERENCES location_assets ON DELETE CASCADE,
    serial_number     text NOT NULL,
    PRIMARY KEY (location_asset_id, serial_number)
);

-- A sync writes Apple's pages here, one transaction a page, and swaps them
-- in at the end in one transaction: a sync cut short leaves the previous
-- counts. sync_id is the job's id.
CREATE TABLE location_sync_assets (
    location_id       bigint NOT NULL REFERENCES locations ON DELETE CASCADE,
    sync_id           bigint NOT NULL,
    adam_id           text NOT NULL,
    pricing_param     text NOT NULL,
    product_type      text NOT NULL,
    platforms         text[] NOT NULL,
    device_assignable boolean NOT NULL,
    revocable         boolean NOT NULL,
    assigned_count    integer NOT NULL,
    available_count   integer NOT NULL,
    retired_count     integer NOT NULL,
    total_count       integer NOT NULL,
    PRIMARY KEY (location_id, sync_id, adam_id, pricing_param)
);

CREATE TABLE location_sync_assignments (
    location_id   bigint NOT NULL REFERENCES locations ON DELETE CASCADE,
    sync_id       bigint NOT NULL,
    adam_id       text NOT NULL,
    pricing_param text NOT NULL,
    serial_number text NOT NULL,
    PRIMARY KEY (location_id, sync_id, adam_id, pricing_param, serial_number)
);

-- Notifications applied, by Apple's notificationId: a repeated one is ignored.
CREATE TABLE location_notifications (
    location_id       bigint NOT NULL REFERENCES locations ON DELETE CASCADE,
    notification_id   text NOT NULL,
    notification_type text NOT NULL,
    received_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (location_id, notification_id)
);

-- Licences orchard gives (associate) or takes back (disassociate) for
-- devices: the job sends them in batches within Apple's limits, keeps each
-- batch's eventId (a retried job sends only the rest), and polls the events.
CREATE TABLE location_asset_operations (
    id                bigserial PRIMARY KEY,
    location_asset_id bigint NOT NULL REFERENCES location_assets ON DELETE CASCADE,
    kind              text NOT NULL CHECK (kind IN ('associate', 'disassociate')),
    device_ids        bigint[] NOT NULL,
    serial_numbers    text[] NOT NULL,
    event_ids         text[] NOT NULL DEFAULT '{}',
    status            text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'complete')),
    done_count        integer NOT NULL DEFAULT 0,
    failed_count      integer NOT NULL DEFAULT 0,
    created_at        timestamptz NOT NULL DEFAULT now(),
    finished_at       timestamptz
);

-- +goose Down
DROP TABLE location_asset_operations;
DROP TABLE location_notifications;
DROP TABLE location_sync_assignments;
DROP TABLE location_sync_assets;
DROP TABLE location_asset_assignments;
DROP TABLE location_assets;
DROP TABLE locations;
