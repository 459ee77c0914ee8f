DROP TABLE series_states;
