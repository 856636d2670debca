-- +goose Up
-- Commands and answers that carry secrets are sealed by store/seal, bound to
-- their command by its CommandUUID (place: mdm_device_commands, <column>, uuid).
ALTER TABLE mdm_device_commands
    -- The whole command plist when it carries a secret (command is then
    -- empty); dropped once the command can no longer be sent.
    ADD COLUMN command_sealed text,
    -- The Find My PIN of a DeviceLock or EraseDevice: kept for good, as a Mac
    -- that ran the command asks for it, whatever was queued after.
    ADD COLUMN pin_sealed text,
    -- The answer (JSON) when it may carry a secret (result and result_plist
    -- then stay null).
    ADD COLUMN result_sealed text;

-- Commands answered before sealing existed keep no secret: their plists go.
-- Pending ones are emptied when answered.
UPDATE mdm_device_commands SET command = ''::bytea
WHERE request_type IN ('DeviceLock', 'EraseDevice', 'SetRecoveryLock', 'VerifyRecoveryLock', 'SetFirmwarePassword',
        'VerifyFirmwarePassword', 'ClearPasscode', 'SetAutoAdminPassword', 'RequestMirroring', 'RotateFileVaultKey',
        'InstallProfile', 'InstallApplication', 'InstallEnterpriseApplication', 'Settings')
    AND status NOT IN ('Queued', 'Sent', 'NotNow');

-- +goose Down
ALTER TABLE mdm_device_commands
    DROP COLUMN command_sealed,
    DROP COLUMN pin_sealed,
    DROP COLUMN result_sealed;
