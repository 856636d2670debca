-- +goose Up
-- Apple's software update catalog (the gdmf pmv lists), one row per release
-- and list kind: the same release in PublicAssetSets and AssetSets is two
-- rows (public true and false). Replaced as a whole by each sync.
CREATE TABLE software_updates (
    id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    platform           text NOT NULL CHECK (platform <> ''),
    product_version    text NOT NULL CHECK (product_version ~ '^[0-9]+(\.[0-9]+)*$'),
    build              text NOT NULL CHECK (build <> ''),
    public             boolean NOT NULL,
    -- Background Security Improvements: the supplemental version "(a)" and
    -- the build it applies to.
    extra              text NOT NULL DEFAULT '',
    prerequisite_build text NOT NULL DEFAULT '',
    posting_date       date NOT NULL,
    -- Null: still signed.
    expiration_date    date,
    -- Apple's device ids (ProductName, or board id for Macs), sorted.
    supported_devices  text[] NOT NULL DEFAULT '{}',
    -- For ordering by version: 18.10 after 18.9.
    version_parts      int[] GENERATED ALWAYS AS (string_to_array(product_version, '.')::int[]) STORED,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    UNIQUE (platform, product_version, build, public)
);
CREATE INDEX software_updates_devices ON software_updates USING gin (supported_devices);

-- What a blueprint enforces per device platform: a specific release by a
-- local date-time, or the latest release once it is N days old.
CREATE TABLE software_update_enforcements (
    blueprint_id          bigint NOT NULL REFERENCES blueprints (id) ON DELETE CASCADE,
    platform              text NOT NULL CHECK (platform IN ('iOS', 'iPadOS', 'macOS', 'tvOS', 'visionOS', 'watchOS')),
    os_version            text NOT NULL DEFAULT '',
    build_version         text NOT NULL DEFAULT '',
    -- Device-local time, as Apple's TargetLocalDateTime (no zone).
    target_local_datetime timestamp,
    latest_minus_days     integer CHECK (latest_minus_days BETWEEN 0 AND 365),
    -- Time of day of a "latest minus N days" deadline, device-local.
    local_time            time NOT NULL DEFAULT '09:00',
    details_url           text NOT NULL DEFAULT '',
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (blueprint_id, platform),
    CHECK ((os_version <> '' AND target_local_datetime IS NOT NULL AND latest_minus_days IS NULL)
        OR (os_version = '' AND build_version = '' AND target_local_datetime IS NULL AND latest_minus_days IS NOT NULL))
);

-- +goose Down
DROP TABLE software_update_enforcements;
DROP TABLE software_updates;
