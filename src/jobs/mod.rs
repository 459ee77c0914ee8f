//! Background work of the service process (no extra infrastructure): retention for now.
//! Must not import actix; it talks to the database through `db`.

pub mod retention;
