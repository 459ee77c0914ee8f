ALTER INDEX responses_series RENAME TO responses_series_covering;
