//! Background work of the service process (no extra infrastructure): retention, and webhook
//! delivery from the outbox.
//! Must not import actix; it talks to the database through `db`.

pub mod retention;
pub mod webhooks;
