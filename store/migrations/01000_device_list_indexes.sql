-- +goose Up
-- The device list at a million devices. Its filters each have an index: serial
-- number (enrolled_devices_serial_number), UDID (its unique constraint),
-- platform (enrolled_devices_platform), blocked (enrolled_devices_blocked),
-- and search, a substring of the name, serial number, UDID or model, which
-- only trigram indexes can answer without reading every row: one per column,
-- which the planner ORs together (one index of the four columns takes half as
-- long again to build, and cannot be built a column at a time in parallel).
--
-- Not CONCURRENTLY: a concurrent build waits for every older snapshot in the
-- database, among them that of a second server waiting on the migration lock
-- this one holds, and neither would ever go on (TestTwoServersShareOneDatabase).
-- The builds hold device writes (check-ins) back while they run: about a
-- minute per million devices on 2 cores.
CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE INDEX enrolled_devices_search_name ON enrolled_devices USING gin (name gin_trgm_ops);
CREATE INDEX enrolled_devices_search_serial ON enrolled_devices USING gin (serial_number gin_trgm_ops);
CREATE INDEX enrolled_devices_search_udid ON enrolled_devices USING gin (udid gin_trgm_ops);
CREATE INDEX enrolled_devices_search_model ON enrolled_devices USING gin (model gin_trgm_ops);

-- orchard_bounded_count counts the rows of query exactly up to bound; past it,
-- it returns the planner's estimate (at least bound + 1), so a long list's
-- totalCount costs at most bound rows read, whatever the table's size. query
-- is orchard's own SQL, never a caller's text, with its arguments written
-- $1[1], $1[2], ... of args: the planner sees them as constants, so the
-- estimate uses each value's statistics. VOLATILE because EXPLAIN is refused
-- in other functions. Sequential scans are off inside it: counting stops at
-- the bound, and the planner, taking the matching rows to be spread evenly,
-- would otherwise read the table from its start until it found them, which
-- for rows that lie together at its end is the whole table.
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION orchard_bounded_count(query text, args text[], bound bigint) RETURNS bigint
LANGUAGE plpgsql VOLATILE SET enable_seqscan = off AS $$
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
DROP FUNCTION orchard_bounded_count(text, text[], bigint);
DROP INDEX enrolled_devices_search_name, enrolled_devices_search_serial, enrolled_devices_search_udid,
    enrolled_devices_search_model;
