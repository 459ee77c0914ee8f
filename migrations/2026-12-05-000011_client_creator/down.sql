ALTER TABLE clients DROP COLUMN created_by;
