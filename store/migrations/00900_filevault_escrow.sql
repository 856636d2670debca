-- +goose Up
-- A blueprint may have orchard escrow its Macs' FileVault personal recovery
-- key: OFF, or ESCROW (the escrow profile installed, the key decrypted from
-- the Mac's answers and kept sealed in enrolled_devices.filevault_prk_sealed).
ALTER TABLE blueprints
    ADD COLUMN filevault text NOT NULL DEFAULT 'OFF' CHECK (filevault IN ('OFF', 'ESCROW'));

-- +goose Down
ALTER TABLE blueprints DROP COLUMN filevault;
