DROP TABLE bulk_export_files;
DROP TABLE bulk_exports;
DROP TABLE organization_keys;
DROP INDEX responses_by_change;
ALTER TABLE responses DROP COLUMN change_xact;
