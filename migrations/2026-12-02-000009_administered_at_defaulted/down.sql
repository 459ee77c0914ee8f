ALTER TABLE responses DROP COLUMN administered_at_defaulted;
