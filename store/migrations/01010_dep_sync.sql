-- +goose Up
-- dep_devices keeps its foreign key's rule, checked once per statement instead
-- of once per row. A DEP sync writes pages of 1,000 devices, and the per-row
-- check (one query per inserted device) was a quarter of the insert's time in
-- a full fetch. The statement triggers below check and lock, as the foreign
-- key did: every virtual server the written rows name must exist, and is held
-- FOR KEY SHARE until the transaction ends, so it cannot be deleted under them;
-- deleting a virtual server deletes its devices.
ALTER TABLE dep_devices DROP CONSTRAINT dep_devices_virtual_server_id_fkey;

-- +goose StatementBegin
CREATE FUNCTION dep_devices_check_server() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    missing bigint;
BEGIN
    PERFORM 1 FROM dep_virtual_servers
        WHERE id IN (SELECT DISTINCT virtual_server_id FROM written) FOR KEY SHARE;
    SELECT w.id INTO missing FROM (SELECT DISTINCT virtual_server_id AS id FROM written) AS w
        WHERE NOT EXISTS (SELECT 1 FROM dep_virtual_servers AS v WHERE v.id = w.id)
        LIMIT 1;
    IF FOUND THEN
        RAISE foreign_key_violation USING
            MESSAGE = format('dep_devices: virtual server %s does not exist', missing),
            TABLE = 'dep_devices', COLUMN = 'virtual_server_id';
    END IF;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

CREATE TRIGGER dep_devices_server_inserted AFTER INSERT ON dep_devices
    REFERENCING NEW TABLE AS written FOR EACH STATEMENT EXECUTE FUNCTION dep_devices_check_server();
CREATE TRIGGER dep_devices_server_updated AFTER UPDATE ON dep_devices
    REFERENCING NEW TABLE AS written FOR EACH STATEMENT EXECUTE FUNCTION dep_devices_check_server();

-- +goose StatementBegin
CREATE FUNCTION dep_virtual_servers_delete_devices() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM dep_devices WHERE virtual_server_id = OLD.id;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

CREATE TRIGGER dep_virtual_servers_deleted AFTER DELETE ON dep_virtual_servers
    FOR EACH ROW EXECUTE FUNCTION dep_virtual_servers_delete_devices();

-- +goose Down
DROP TRIGGER dep_virtual_servers_deleted ON dep_virtual_servers;
DROP FUNCTION dep_virtual_servers_delete_devices();
DROP TRIGGER dep_devices_server_updated ON dep_devices;
DROP TRIGGER dep_devices_server_inserted ON dep_devices;
DROP FUNCTION dep_devices_check_server();
ALTER TABLE dep_devices ADD CONSTRAINT dep_devices_virtual_server_id_fkey
    FOREIGN KEY (virtual_server_id) REFERENCES dep_virtual_servers (id) ON DELETE CASCADE;
