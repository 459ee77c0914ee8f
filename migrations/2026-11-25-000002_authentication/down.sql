DROP INDEX audit_events_by_resource;
DROP TABLE refresh_tokens;
DROP TABLE login_names;
DROP TABLE service_accounts;
