-- +goose NO TRANSACTION
-- +goose Up
-- The device list at a million devices. Its filters each have an index: serial
-- number (enrolled_devices_serial_number), UDID (its unique constraint),
-- platform (enrolled_devices_platform), blocked (enrolled_devices_blocked),
-- and search, a substring of the name, serial number, UDID or model, which
-- only a trigram index can answer without reading every row.
--
-- The index is built CONCURRENTLY so that upgrading a large installation does
-- not stop check-ins (they update enrolled_devices) while it builds; a build
-- that failed leaves an invalid index, dropped here on the next attempt.
CREATE EXTENSION IF NOT EXISTS pg_trgm;

DROP INDEX CONCURRENTLY IF EXISTS enrolled_devices_search;

CREATE INDEX CONCURRENTLY enrolled_devices_search ON enrolled_devices
    USING gin (name gin_trgm_ops, serial_number gin_trgm_ops, udid gin_trgm_ops, model gin_trgm_ops);

-- orchard_bounded_count counts the rows of query exactly up to bound; past it,
-- it returns the planner's estimate (at least bound + 1), so a long list's
-- totalCount costs at most bound rows read, whatever the table's size. query
-- is orchard's own SQL, never a caller's text, with its arguments written
-- $1[1], $1[2], ... of args: the planner sees them as constants, so the
-- estimate uses each value's statistics. VOLATILE because EXPLAIN is refused
-- in other functions.
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION orchard_bounded_count(query text, args text[], bound bigint) RETURNS bigint
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    n bigint;
    plan json;
BEGIN
    EXECUTE format('SELECT count(*) FROM (%s LIMIT %s) bounded', query, bound + 1) INTO n USING args;
    IF n <= bound THEN
        RETURN n;
    END IF;
    EXECUTE 'EXPLAIN (FORMAT JSON) ' || query INTO plan USING args;
    RETURN greatest(bound + 1, (plan -> 0 -> 'Plan' ->> 'Plan Rows')::numeric::bigint);
END
$$;
-- +goose StatementEnd

-- +goose Down
DROP FUNCTION IF EXISTS orchard_bounded_count(text, text[], bigint);
DROP INDEX CONCURRENTLY IF EXISTS enrolled_devices_search;
