-- The narrow series index, replaced by 000016's covering one (every plan that used it uses
-- that one): a submission maintains no more indexes than before. Dropped CONCURRENTLY, alone
-- in its migration, so queries of `responses` are never blocked.
DROP INDEX CONCURRENTLY responses_series;
