ALTER INDEX responses_series_covering RENAME TO responses_series;
