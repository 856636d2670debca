-- +goose Up
-- Enrollment secrets are kept as SHA-256 only: the profile URL is shown once,
-- when the enrollment is created. DEP enrollments must give their URL to Apple
-- again whenever a DEP profile is defined, so theirs is also kept sealed
-- (secret_sealed); rows from before this migration are sealed on first use
-- and meanwhile keep their old clear secret.
ALTER TABLE mdm_enrollments
    ALTER COLUMN secret DROP NOT NULL,
    ADD COLUMN secret_sha256 bytea,
    ADD COLUMN secret_sealed text,
    -- After it, the profile URL answers 410 and its challenges are refused.
    ADD COLUMN expires_at    timestamptz,
    -- How many identity certificates the enrollment may issue (NULL: no limit).
    ADD COLUMN max_uses      integer CHECK (max_uses > 0),
    ADD COLUMN uses          integer NOT NULL DEFAULT 0;
UPDATE mdm_enrollments SET secret_sha256 = sha256(convert_to(secret, 'UTF8'));
UPDATE mdm_enrollments SET secret = NULL WHERE NOT dep;
UPDATE mdm_enrollments e SET uses = (SELECT count(*) FROM mdm_scep_certificates c WHERE c.enrollment_id = e.id);
ALTER TABLE mdm_enrollments
    ALTER COLUMN secret_sha256 SET NOT NULL,
    ADD CONSTRAINT mdm_enrollments_secret_sha256_key UNIQUE (secret_sha256);

-- Challenges are compared, never shown again: keep their hash, and delete
-- them when used.
DELETE FROM mdm_scep_challenges WHERE used_at IS NOT NULL;
ALTER TABLE mdm_scep_challenges ADD COLUMN challenge_sha256 bytea;
UPDATE mdm_scep_challenges SET challenge_sha256 = sha256(convert_to(challenge, 'UTF8'));
ALTER TABLE mdm_scep_challenges
    DROP CONSTRAINT mdm_scep_challenges_pkey,
    DROP COLUMN challenge,
    DROP COLUMN used_at,
    ALTER COLUMN challenge_sha256 SET NOT NULL,
    ADD PRIMARY KEY (challenge_sha256);

-- A certificate is revoked when the enrollment that issued it is deleted;
-- those issued by enrollments deleted before this migration are revoked now.
ALTER TABLE mdm_scep_certificates ADD COLUMN revoked_at timestamptz;
UPDATE mdm_scep_certificates SET revoked_at = now() WHERE enrollment_id IS NULL;
CREATE INDEX mdm_scep_certificates_enrollment ON mdm_scep_certificates (enrollment_id);

-- One-shot permission, given by an administrator, to bind a device to a new
-- identity while its current one is still valid.
ALTER TABLE enrolled_devices ADD COLUMN reenroll_allowed_until timestamptz;
-- The identity-expiry gauge scans by expiry.
CREATE INDEX enrolled_devices_cert_not_valid_after ON enrolled_devices (cert_not_valid_after)
    WHERE checkout_at IS NULL AND blocked_at IS NULL;

-- +goose Down
DROP INDEX enrolled_devices_cert_not_valid_after;
ALTER TABLE enrolled_devices DROP COLUMN reenroll_allowed_until;
DROP INDEX mdm_scep_certificates_enrollment;
ALTER TABLE mdm_scep_certificates DROP COLUMN revoked_at;
-- Hashed challenges cannot be given back: drop them (profiles are fetched again).
DELETE FROM mdm_scep_challenges;
ALTER TABLE mdm_scep_challenges
    DROP CONSTRAINT mdm_scep_challenges_pkey,
    DROP COLUMN challenge_sha256,
    ADD COLUMN challenge text PRIMARY KEY,
    ADD COLUMN used_at timestamptz;
-- Hashed secrets cannot be given back either: those enrollments get an
-- unguessable secret nobody knows, and must be made again.
UPDATE mdm_enrollments SET secret = encode(secret_sha256, 'hex') WHERE secret IS NULL;
ALTER TABLE mdm_enrollments
    DROP CONSTRAINT mdm_enrollments_secret_sha256_key,
    DROP COLUMN secret_sha256,
    DROP COLUMN secret_sealed,
    DROP COLUMN expires_at,
    DROP COLUMN max_uses,
    DROP COLUMN uses,
    ALTER COLUMN secret SET NOT NULL;
