-- A form filled in right now may be sent without `administered_at`: the time of receipt is
-- used, and the response says so for as long as it exists.
ALTER TABLE responses ADD COLUMN administered_at_defaulted boolean NOT NULL DEFAULT false;
