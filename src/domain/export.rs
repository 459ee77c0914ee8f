//! Exports for pipelines (docs/integration.md, "Export"): the resumable cursor, the pseudonyms
//! analysts see instead of ids, and the row every format is written from.

use crate::domain::instruments::Scores;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use serde::Serialize;
use sha2::Sha256;
use std::collections::BTreeMap;
use uuid::Uuid;

/// Where an export resumes: strictly after the row `(xact, after)` in export order, where
/// `xact` is the transaction that last changed a response. The cursor handed out at the end of
/// an export is the snapshot's xmin with the nil id: every transaction below it had ended, so a
/// row committed later carries a larger `xact` and is never skipped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExportCursor {
    pub xact: u64,
    pub after: Uuid,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("not a cursor this service handed out")]
pub struct MalformedCursor;

impl ExportCursor {
    /// The beginning: every row.
    pub const START: ExportCursor = ExportCursor { xact: 0, after: Uuid::nil() };

    /// The cursor after which everything at or above `xmin` follows.
    pub fn below(xmin: u64) -> Self {
        Self { xact: xmin, after: Uuid::nil() }
    }

    /// `<xact>.<id as 32 hex digits>`: the form for real ids and for the nil id.
    pub fn encode(&self) -> String {
        format!("{}.{}", self.xact, self.after.simple())
    }

    /// Parses what [`Namer::cursor`] wrote. A sealed id stays sealed until [`Namer::open`].
    pub fn parse(text: &str) -> Result<ParsedCursor, MalformedCursor> {
        let (xact, after) = text.split_once('.').ok_or(MalformedCursor)?;
        if xact.is_empty() || xact.len() > 19 || !xact.bytes().all(|b| b.is_ascii_digit()) {
            return Err(MalformedCursor);
        }
        let (sealed, after) = match after.strip_prefix('s') {
            Some(rest) => (true, rest),
            None => (false, after),
        };
        if after.len() != 32 || !after.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()) {
            return Err(MalformedCursor);
        }
        let xact: u64 = xact.parse().map_err(|_| MalformedCursor)?;
        // xid8 is a signed 64-bit value on the wire.
        if xact > i64::MAX as u64 {
            return Err(MalformedCursor);
        }
        let after = u128::from_str_radix(after, 16).map_err(|_| MalformedCursor)?;
        Ok(ParsedCursor { xact, after, sealed })
    }
}

/// A cursor as a caller sent it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParsedCursor {
    pub xact: u64,
    after: u128,
    sealed: bool,
}

impl ParsedCursor {
    pub fn is_sealed(&self) -> bool {
        self.sealed
    }
}

/// How an export names records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdMode {
    /// The service's ids (admins, on request).
    Real,
    /// Keyed hashes (the default, and all an analyst may have).
    Pseudonymous,
}

/// The kinds of record an export names; each has its own prefix and hash domain, so a client's
/// pseudonym cannot be matched with a clinician's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdKind {
    Response,
    Client,
    Episode,
    Session,
    Clinician,
}

impl IdKind {
    fn prefix(self) -> &'static str {
        match self {
            IdKind::Response => "res_",
            IdKind::Client => "cli_",
            IdKind::Episode => "epi_",
            IdKind::Session => "ses_",
            IdKind::Clinician => "clin_",
        }
    }
}

/// The organization's pseudonym key (32 random bytes, kept in the database).
pub struct PseudonymKey {
    /// HMAC-SHA256 already keyed: each use clones it instead of hashing the key again.
    keyed: Hmac<Sha256>,
}

impl PseudonymKey {
    pub fn new(key: [u8; 32]) -> Self {
        Self { keyed: Hmac::<Sha256>::new_from_slice(&key).expect("HMAC takes keys of any length") }
    }

    /// `prefix` + the first 128 bits of HMAC-SHA256(key, prefix ‖ id), in hex. Stable for the
    /// organization, not reversible without its key, and unlinkable across organizations.
    pub fn pseudonym(&self, kind: IdKind, id: Uuid) -> String {
        let mut mac = self.keyed.clone();
        mac.update(kind.prefix().as_bytes());
        mac.update(id.as_bytes());
        let digest = mac.finalize().into_bytes();
        format!("{}{}", kind.prefix(), hex::encode(&digest[..16]))
    }
}

impl PseudonymKey {
    /// One round function of the cursor cipher: HMAC-SHA256 as a pseudorandom function.
    fn round(&self, round: u8, half: u64) -> u64 {
        let mut mac = self.keyed.clone();
        mac.update(b"cursor");
        mac.update(&[round]);
        mac.update(&half.to_be_bytes());
        let digest = mac.finalize().into_bytes();
        u64::from_be_bytes(digest[..8].try_into().expect("a SHA-256 digest has 8 bytes"))
    }

    /// Encrypts a row id for a pseudonymous cursor: a four-round Feistel network over the
    /// 128 bits with HMAC rounds (Luby–Rackoff), so the service can resume after the row while
    /// the cursor shows nothing of its id.
    fn seal(&self, id: Uuid) -> u128 {
        let value = id.as_u128();
        let (mut left, mut right) = ((value >> 64) as u64, value as u64);
        for round in 0..4 {
            (left, right) = (right, left ^ self.round(round, right));
        }
        (u128::from(left) << 64) | u128::from(right)
    }

    fn open(&self, sealed: u128) -> Uuid {
        let (mut left, mut right) = ((sealed >> 64) as u64, sealed as u64);
        for round in (0..4).rev() {
            (left, right) = (right ^ self.round(round, left), left);
        }
        Uuid::from_u128((u128::from(left) << 64) | u128::from(right))
    }
}

/// Names records, and writes cursors, for one export.
pub struct Namer {
    pub mode: IdMode,
    pub key: PseudonymKey,
}

impl Namer {
    pub fn name(&self, kind: IdKind, id: Uuid) -> String {
        match self.mode {
            IdMode::Real => id.to_string(),
            IdMode::Pseudonymous => self.key.pseudonym(kind, id),
        }
    }

    /// A row's cursor; with pseudonyms its id is sealed (`<xact>.s<32 hex digits>`).
    pub fn cursor(&self, cursor: ExportCursor) -> String {
        match self.mode {
            IdMode::Pseudonymous if !cursor.after.is_nil() => {
                format!("{}.s{:032x}", cursor.xact, self.key.seal(cursor.after))
            }
            _ => cursor.encode(),
        }
    }

    /// The position a caller's cursor names.
    pub fn open(&self, parsed: ParsedCursor) -> ExportCursor {
        let after = if parsed.sealed { self.key.open(parsed.after) } else { Uuid::from_u128(parsed.after) };
        ExportCursor { xact: parsed.xact, after }
    }
}

/// One exported response, as every format writes it. No names, no free-text comments.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct ExportRow {
    /// Pass this as `since` to resume after this row.
    pub cursor: String,
    pub response_id: String,
    pub client_id: String,
    pub episode_id: String,
    pub session_id: Option<String>,
    pub clinician_id: Option<String>,
    pub instrument: String,
    pub instrument_version: i32,
    pub rater: String,
    pub administered_at: DateTime<Utc>,
    pub recorded_at: DateTime<Utc>,
    pub session_number: Option<i32>,
    pub program: Option<String>,
    pub age_group: String,
    pub client_attributes: serde_json::Value,
    pub answers: serde_json::Value,
    pub total: f64,
    pub item_mean: f64,
    /// Subscale totals by subscale key.
    pub subscales: BTreeMap<String, f64>,
    pub band: Option<String>,
    /// Flag codes; a flag about one item is `code:item`.
    pub flags: Vec<String>,
    pub voided: bool,
    pub voided_at: Option<DateTime<Utc>>,
}

/// The parts of a score an export carries.
pub fn score_columns(scores: &Scores) -> (BTreeMap<String, f64>, Vec<String>) {
    let subscales = scores.subscales.iter().map(|(key, subscale)| (key.clone(), subscale.total)).collect();
    let flags = scores
        .flags
        .iter()
        .map(|flag| match &flag.item {
            Some(item) => format!("{}:{item}", flag.code),
            None => flag.code.clone(),
        })
        .collect();
    (subscales, flags)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_survives_its_round_trip_and_orders_after_the_start() {
        let cursor = ExportCursor { xact: 7_312, after: Uuid::from_u128(0xabc) };
        for mode in [IdMode::Real, IdMode::Pseudonymous] {
            let namer = Namer { mode, key: PseudonymKey::new([3; 32]) };
            for position in [cursor, ExportCursor::START, ExportCursor::below(99)] {
                let text = namer.cursor(position);
                assert_eq!(namer.open(ExportCursor::parse(&text).unwrap()), position, "{text}");
            }
        }
        assert_eq!(ExportCursor::below(99).encode(), "99.00000000000000000000000000000000");
    }

    #[test]
    fn cursors_the_service_never_made_are_refused() {
        for text in [
            "",
            "12",
            ".00000000000000000000000000000000",
            "-1.00000000000000000000000000000000",
            "9223372036854775808.00000000000000000000000000000000",
            "99999999999999999999.00000000000000000000000000000000",
            "1.0000000000000000000000000000000",
            "1.0000000000000000000000000000000G",
            "1.0000000000000000000000000000000A",
            "1.00000000-0000-0000-0000-000000000000",
        ] {
            assert_eq!(ExportCursor::parse(text), Err(MalformedCursor), "{text:?}");
        }
    }

    #[test]
    fn a_sealed_cursor_hides_its_row_id_and_only_its_key_opens_it() {
        let id = Uuid::from_u128(0x0192_3456_789a_7bcd_8ef0_1234_5678_9abc);
        let cursor = ExportCursor { xact: 5, after: id };
        let namer = Namer { mode: IdMode::Pseudonymous, key: PseudonymKey::new([1; 32]) };
        let text = namer.cursor(cursor);
        assert!(text.starts_with("5.s") && !text.contains(&id.simple().to_string()), "{text}");
        let parsed = ExportCursor::parse(&text).unwrap();
        assert!(parsed.is_sealed());
        let stranger = Namer { mode: IdMode::Pseudonymous, key: PseudonymKey::new([2; 32]) };
        assert_ne!(stranger.open(parsed), cursor);
        assert_eq!(namer.open(parsed), cursor);
    }

    #[test]
    fn pseudonyms_are_stable_keyed_and_separate_per_kind() {
        let key = PseudonymKey::new([7; 32]);
        let other = PseudonymKey::new([8; 32]);
        let id = Uuid::from_u128(42);
        let client = key.pseudonym(IdKind::Client, id);
        assert_eq!(client, key.pseudonym(IdKind::Client, id));
        assert!(client.starts_with("cli_") && client.len() == 4 + 32, "{client}");
        assert_ne!(client, other.pseudonym(IdKind::Client, id));
        assert_ne!(client[4..], key.pseudonym(IdKind::Clinician, id)[5..]);
        assert!(!client.contains(&id.simple().to_string()));
    }
}
