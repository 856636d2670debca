-- +goose Up
-- APNs push certificates. A renewal updates the row in place: the topic never changes.
CREATE TABLE push_certificates (
    id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name               text NOT NULL CHECK (name <> ''),
    topic              text NOT NULL UNIQUE CHECK (topic LIKE 'com.apple.mgmt%'),
    certificate        text NOT NULL,
    -- PKCS #8 DER, sealed by store/seal (place: push_certificates, private_key_sealed, id).
    private_key_sealed text NOT NULL,
    not_before         timestamptz NOT NULL,
    not_after          timestamptz NOT NULL,
    -- Set by the periodic expiry check, cleared by a renewal.
    expiry_warning     text,
    expiry_warned_at   timestamptz,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now()
);

-- Devices whose push was put off because they were pushed moments ago; a
-- scheduled job pushes them when the window ends. One row per device keeps a
-- burst of requests to one follow-up.
CREATE TABLE apns_push_deferred (
    device_id bigint PRIMARY KEY REFERENCES enrolled_devices (id) ON DELETE CASCADE,
    due_at    timestamptz NOT NULL
);

-- Pushes rewrite last_notified_at of thousands of devices at once (and
-- check-ins last_seen_at). Free room in each page lets PostgreSQL update in
-- place (HOT) instead of touching every index of the table.
ALTER TABLE enrolled_devices SET (fillfactor = 80);

-- +goose Down
ALTER TABLE enrolled_devices RESET (fillfactor);
DROP TABLE apns_push_deferred;
DROP TABLE push_certificates;
