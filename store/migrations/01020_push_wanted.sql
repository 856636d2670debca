-- +goose Up
-- Devices waiting for a push that a transaction asked for (a command queued
-- for them). Asking leaves a row here instead of queueing a push job per
-- transaction; the push dispatcher of each working process turns the rows
-- into push jobs of up to 1,000 devices, so a burst of small transactions
-- costs a few jobs, not one each. One row per device: asking twice before
-- the dispatcher runs is one push.
CREATE TABLE apns_push_wanted (
    device_id bigint PRIMARY KEY REFERENCES enrolled_devices (id) ON DELETE CASCADE,
    wanted_at timestamptz NOT NULL DEFAULT now()
);

-- +goose Down
DROP TABLE apns_push_wanted;
