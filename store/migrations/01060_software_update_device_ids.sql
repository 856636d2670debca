-- +goose Up
-- What Apple's software update catalog (gdmf.apple.com/v2/pmv) lists a device
-- under: its SoftwareUpdateDeviceID (DeviceInformation; a board id such as
-- J314sAP on Macs, iPhone15,2 on phones) and its ProductName (iPad8,12). The
-- model a Mac reports (Mac14,3) is in no entry, so without these a Mac had no
-- release to enforce or list as available. Constant defaults: no rewrite.
ALTER TABLE enrolled_devices
    ADD COLUMN product_name text NOT NULL DEFAULT '',
    ADD COLUMN software_update_device_id text NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE enrolled_devices DROP COLUMN product_name, DROP COLUMN software_update_device_id;
