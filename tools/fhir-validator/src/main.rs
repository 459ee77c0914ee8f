//! Reads one JSON resource per line on stdin; writes one line per resource on stdout: `ok`, or
//! `invalid: <why>`.
//!
//! fhirbolt checks structure, types, required elements and unknown elements, but keeps coded
//! values as plain strings; `bindings` adds the required value-set bindings of the elements
//! Rapport emits, transcribed from the R4 specification.

mod bindings;

use fhirbolt::model::r4::Resource;
use fhirbolt::serde::{DeserializationConfig, DeserializationMode};
use std::io::{BufRead, Write};

fn check(line: &str) -> Result<(), String> {
    let config = Some(DeserializationConfig { mode: DeserializationMode::Strict });
    let resource: Resource = fhirbolt::json::from_str(line, config).map_err(|e| e.to_string())?;
    let again = fhirbolt::json::to_string(&resource, None).map_err(|e| e.to_string())?;
    let sent: serde_json::Value = serde_json::from_str(line).map_err(|e| e.to_string())?;
    let kept: serde_json::Value = serde_json::from_str(&again).map_err(|e| e.to_string())?;
    if sent != kept {
        return Err(format!("the R4 model does not keep it as sent; it reads back as {again}"));
    }
    bindings::check(&sent)
}

fn main() {
    let stdin = std::io::stdin();
    let mut out = std::io::stdout().lock();
    for line in stdin.lock().lines() {
        let Ok(line) = line else { break };
        let verdict = match check(&line) {
            Ok(()) => "ok".to_owned(),
            Err(why) => format!("invalid: {}", why.replace('\n', " ")),
        };
        if writeln!(out, "{verdict}").and_then(|()| out.flush()).is_err() {
            break;
        }
    }
}
