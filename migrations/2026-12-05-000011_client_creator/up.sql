-- Who created a client (a user or service account id). A clinician may read back a client it
-- created until someone opens an episode for that client; from then on the caseload decides.
-- Clients created before this migration have no recorded creator.
ALTER TABLE clients ADD COLUMN created_by uuid;
