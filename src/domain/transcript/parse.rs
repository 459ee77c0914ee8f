//! Transcripts as uploaded: speaker-turn JSON (already typed by the JSON extractor, checked
//! here) or WebVTT with voice tags (`<v Therapist>`), as telehealth platforms export them.
//! Every problem is reported at once, by JSON pointer or by line.

use super::analysis::Turn;
use super::kinds::Speaker;
use crate::domain::validation::FieldError;

/// More turns than a day of talk.
pub const MAX_TURNS: usize = 20_000;
pub const MAX_TURN_CHARS: usize = 20_000;
/// 24 hours.
pub const MAX_MS: i64 = 86_400_000;

/// Checks turns that arrived as JSON.
pub fn check_turns(turns: &[Turn]) -> Result<(), Vec<FieldError>> {
    let mut errors = Vec::new();
    if turns.is_empty() {
        errors.push(FieldError::new("", "a transcript needs at least one turn"));
    }
    if turns.len() > MAX_TURNS {
        errors.push(FieldError::new("", format!("at most {MAX_TURNS} turns")));
    }
    let mut previous_start: Option<i64> = None;
    for (index, turn) in turns.iter().enumerate() {
        let at = |field: &str| format!("/{index}/{field}");
        if !(0..=MAX_MS).contains(&turn.start_ms) {
            errors.push(FieldError::new(at("start_ms"), format!("must be from 0 to {MAX_MS} (24 h)")));
        } else if previous_start.is_some_and(|p| turn.start_ms < p) {
            errors.push(FieldError::new(at("start_ms"), "must not be before the previous turn's start"));
        }
        if !(0..=MAX_MS).contains(&turn.end_ms) {
            errors.push(FieldError::new(at("end_ms"), format!("must be from 0 to {MAX_MS} (24 h)")));
        } else if turn.end_ms < turn.start_ms {
            errors.push(FieldError::new(at("end_ms"), "must not be before start_ms"));
        }
        if let Some(problem) = text_problem(&turn.text) {
            errors.push(FieldError::new(at("text"), problem));
        }
        previous_start = Some(turn.start_ms);
    }
    if errors.is_empty() { Ok(()) } else { Err(errors) }
}

fn text_problem(text: &str) -> Option<String> {
    if text.trim().is_empty() {
        Some("must not be empty".into())
    } else if text.chars().count() > MAX_TURN_CHARS {
        Some(format!("at most {MAX_TURN_CHARS} characters"))
    } else if text.chars().any(|c| c.is_control() && c != '\n' && c != '\t' && c != '\r') {
        Some("must not contain control characters".into())
    } else {
        None
    }
}

/// Voice names as a recording gives them (`Dr Lee`, `Sam`), each mapped to a role by the
/// uploader; compared without regard to case. Names not listed are read by their first word.
#[derive(Clone, Debug, Default)]
pub struct VoiceNames {
    pub therapist: Vec<String>,
    pub client: Vec<String>,
    pub other: Vec<String>,
}

impl VoiceNames {
    fn role_of(&self, voice: &str) -> Option<Speaker> {
        let named = |names: &[String]| names.iter().any(|n| n.trim().eq_ignore_ascii_case(voice.trim()));
        if named(&self.therapist) {
            Some(Speaker::Therapist)
        } else if named(&self.client) {
            Some(Speaker::Client)
        } else if named(&self.other) {
            Some(Speaker::Other)
        } else {
            speaker_of(voice)
        }
    }
}

/// The speaker a voice name stands for, by its first word ("Therapist", "Client Jo").
fn speaker_of(voice: &str) -> Option<Speaker> {
    let first = voice.split(|c: char| c.is_whitespace() || c == ':' || c == '(').next()?.to_lowercase();
    match first.as_str() {
        "therapist" | "clinician" | "counselor" | "counsellor" | "provider" | "psychologist" | "psychotherapist" => {
            Some(Speaker::Therapist)
        }
        "client" | "patient" => Some(Speaker::Client),
        "other" | "interpreter" | "parent" | "guardian" | "family" => Some(Speaker::Other),
        _ => None,
    }
}

/// `hh:mm:ss.ttt` or `mm:ss.ttt` in milliseconds.
fn timestamp(raw: &str) -> Option<i64> {
    let (clock, millis) = raw.split_once('.')?;
    if millis.len() != 3 || !millis.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let parts: Vec<&str> = clock.split(':').collect();
    let number = |s: &str, width: Option<usize>| -> Option<i64> {
        let ok = !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) && width.is_none_or(|w| s.len() == w);
        if ok { s.parse().ok() } else { None }
    };
    let (hours, minutes, seconds) = match parts.as_slice() {
        [h, m, s] if h.len() >= 2 => (number(h, None)?, number(m, Some(2))?, number(s, Some(2))?),
        [m, s] => (0, number(m, Some(2))?, number(s, Some(2))?),
        _ => return None,
    };
    if minutes > 59 || seconds > 59 {
        return None;
    }
    hours
        .checked_mul(3_600_000)?
        .checked_add(minutes.checked_mul(60_000)?)?
        .checked_add(seconds.checked_mul(1000)?)?
        .checked_add(number(millis, Some(3))?)
}

fn decode_entities(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&nbsp;", " ")
        .replace("&lrm;", "")
        .replace("&rlm;", "")
        .replace("&amp;", "&")
}

/// A cue's payload as (voice, text) pieces; tags other than voices are dropped.
fn voices(payload: &str) -> Vec<(Option<String>, String)> {
    let mut pieces: Vec<(Option<String>, String)> = Vec::new();
    let mut current: (Option<String>, String) = (None, String::new());
    let mut rest = payload;
    while let Some(open) = rest.find('<') {
        current.1.push_str(&rest[..open]);
        let after = &rest[open..];
        let Some(close) = after.find('>') else {
            current.1.push_str(after);
            rest = "";
            break;
        };
        let tag = &after[1..close];
        if let Some(annotation) = tag.strip_prefix('v').filter(|t| t.starts_with([' ', '.', '\t'])) {
            let name = annotation.split_once([' ', '\t']).map_or("", |(_, name)| name).trim().to_owned();
            let finished = std::mem::replace(&mut current, (Some(name), String::new()));
            if !finished.1.trim().is_empty() || finished.0.is_some() {
                pieces.push(finished);
            }
        } else if tag == "/v" {
            let finished = std::mem::take(&mut current);
            pieces.push(finished);
        }
        rest = &after[close.saturating_add(1)..];
    }
    current.1.push_str(rest);
    if !current.1.trim().is_empty() || current.0.is_some() {
        pieces.push(current);
    }
    // Exports without voice tags (Zoom) start the text with "Name: ".
    let prefixed = match pieces.as_slice() {
        [(None, text)] => text
            .split_once(": ")
            .filter(|(name, _)| {
                let name = name.trim();
                (1..=60).contains(&name.chars().count()) && !name.contains(['\n', '<', '>'])
            })
            .map(|(name, rest)| (name.trim().to_owned(), rest.to_owned())),
        _ => None,
    };
    if let Some((name, rest)) = prefixed {
        pieces = vec![(Some(name), rest)];
    }
    pieces
        .into_iter()
        .filter(|(_, text)| !text.trim().is_empty())
        .map(|(voice, text)| (voice, decode_entities(text.split_whitespace().collect::<Vec<_>>().join(" ").as_str())))
        .collect()
}

/// Parses WebVTT. Consecutive cues of one speaker become one turn.
pub fn parse_vtt(bytes: &[u8], names: &VoiceNames) -> Result<Vec<Turn>, Vec<FieldError>> {
    let text = std::str::from_utf8(bytes).map_err(|error| {
        let valid = bytes.get(..error.valid_up_to()).unwrap_or_default();
        let line = valid.iter().filter(|b| **b == b'\n').count().saturating_add(1);
        vec![FieldError::line(line, "not valid UTF-8")]
    })?;
    let text = text.strip_prefix('\u{FEFF}').unwrap_or(text);
    let lines: Vec<&str> = text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l)).collect();
    let header = lines.first().copied().unwrap_or("");
    if !(header == "WEBVTT" || header.starts_with("WEBVTT ") || header.starts_with("WEBVTT\t")) {
        return Err(vec![FieldError::line(1, "a WebVTT file starts with the line `WEBVTT`")]);
    }
    let mut errors = Vec::new();
    let mut turns: Vec<Turn> = Vec::new();
    let mut previous_start: Option<i64> = None;
    let mut index = 1usize;
    while index < lines.len() {
        // Skip blank lines, then read one block up to the next blank line.
        if lines.get(index).is_some_and(|l| l.trim().is_empty()) {
            index = index.saturating_add(1);
            continue;
        }
        let block_start = index;
        while lines.get(index).is_some_and(|l| !l.trim().is_empty()) {
            index = index.saturating_add(1);
        }
        let block = lines.get(block_start..index).unwrap_or_default();
        let first = block.first().copied().unwrap_or("");
        if first.starts_with("NOTE") || first == "STYLE" || first == "REGION" {
            continue;
        }
        let Some(offset) = block.iter().position(|l| l.contains("-->")) else {
            errors.push(FieldError::line(block_start.saturating_add(1), "a cue needs a timing line `start --> end`"));
            continue;
        };
        let timing_line = block_start.saturating_add(offset).saturating_add(1);
        let timing = block.get(offset).copied().unwrap_or("");
        let mut parts = timing.split("-->");
        let start = parts.next().map(str::trim).and_then(timestamp);
        let end = parts.next().and_then(|rest| rest.split_whitespace().next()).and_then(timestamp);
        let (Some(start), Some(end)) = (start, end) else {
            errors.push(FieldError::line(timing_line, "timestamps must look like 00:01:02.345 --> 00:01:04.000"));
            continue;
        };
        if end < start {
            errors.push(FieldError::line(timing_line, "the cue ends before it starts"));
            continue;
        }
        if start > MAX_MS || end > MAX_MS {
            errors.push(FieldError::line(timing_line, "timestamps must be within 24 h"));
            continue;
        }
        if previous_start.is_some_and(|p| start < p) {
            errors.push(FieldError::line(timing_line, "cues must be in order of their start time"));
            continue;
        }
        previous_start = Some(start);
        let payload = block.get(offset.saturating_add(1)..).unwrap_or_default().join("\n");
        let pieces = voices(&payload);
        if pieces.is_empty() {
            errors.push(FieldError::line(timing_line, "the cue has no text"));
            continue;
        }
        for (voice, words) in pieces {
            let payload_line = timing_line.saturating_add(1);
            let Some(voice) = voice else {
                errors.push(FieldError::line(
                    payload_line,
                    "no speaker: start the text with a voice tag such as <v Therapist>",
                ));
                continue;
            };
            let Some(speaker) = names.role_of(&voice) else {
                errors.push(FieldError::line(
                    payload_line,
                    format!(
                        "unknown speaker `{voice}`: name voices Therapist, Client or Other, or map the name \
                         with the `therapist`, `client` or `other` query parameter"
                    ),
                ));
                continue;
            };
            if words.chars().any(|c| c.is_control()) {
                errors.push(FieldError::line(payload_line, "must not contain control characters"));
                continue;
            }
            match turns.last_mut() {
                Some(last) if last.speaker == speaker => {
                    last.text.push(' ');
                    last.text.push_str(&words);
                    last.end_ms = last.end_ms.max(end);
                }
                _ => turns.push(Turn { speaker, start_ms: start, end_ms: end, text: words }),
            }
        }
    }
    if turns.is_empty() && errors.is_empty() {
        errors.push(FieldError::line(lines.len(), "the file holds no cues"));
    }
    if turns.len() > MAX_TURNS {
        errors.push(FieldError::line(lines.len(), format!("at most {MAX_TURNS} turns")));
    }
    if let Some(long) = turns.iter().position(|t| t.text.chars().count() > MAX_TURN_CHARS) {
        errors.push(FieldError::line(lines.len(), format!("turn {long} is longer than {MAX_TURN_CHARS} characters")));
    }
    if errors.is_empty() { Ok(turns) } else { Err(errors) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(bytes: &[u8]) -> Result<Vec<Turn>, Vec<FieldError>> {
        parse_vtt(bytes, &VoiceNames::default())
    }

    fn lines_of(result: Result<Vec<Turn>, Vec<FieldError>>) -> Vec<String> {
        result.unwrap_err().into_iter().map(|e| e.pointer).collect()
    }

    #[test]
    fn voices_become_turns_and_one_speaker_s_cues_merge() {
        let vtt = "WEBVTT\n\n1\n00:00:01.000 --> 00:00:04.000\n<v Therapist>How was your week?</v>\n\n00:00:04.500 --> 00:00:06.000\n<v Client Sam>Fine &amp; quiet.\n\n00:00:06.000 --> 00:00:07.000\n<v Client Sam>Mostly.\n\nNOTE a comment\n\n00:00:08.000 --> 00:00:09.500\n<v.loud Therapist>Mostly?\n";
        let turns = parse_vtt(vtt.as_bytes(), &VoiceNames::default()).unwrap();
        assert_eq!(turns.len(), 3);
        assert_eq!((turns[1].speaker, turns[1].text.as_str()), (Speaker::Client, "Fine & quiet. Mostly."));
        assert_eq!((turns[1].start_ms, turns[1].end_ms), (4500, 7000));
        assert_eq!((turns[2].speaker, turns[2].start_ms), (Speaker::Therapist, 8000));
    }

    #[test]
    fn every_malformed_cue_is_reported_by_its_line() {
        let vtt = "WEBVTT\n\n00:00:05.000 --> 00:00:04.000\n<v Therapist>Backwards\n\n00:00:61.000 --> 00:01:04.000\n<v Client>Bad seconds\n\n00:00:06.000 --> 00:00:07.000\nNo voice\n\n00:00:07.000 --> 00:00:08.000\n<v Dr Lee>Who?\n";
        assert_eq!(lines_of(parse(vtt.as_bytes())), ["/3", "/6", "/10", "/13"]);
        assert_eq!(lines_of(parse(b"WEBVTX\n")), ["/1"]);
        assert_eq!(lines_of(parse(b"WEBVTT\n\n")), ["/3"]);
        assert_eq!(lines_of(parse(b"WEBVTT\n\n00:00:01.000 --> 00:00:02.000\n<v Client>caf\xe9\n")), ["/4"]);
    }

    #[test]
    fn named_voices_map_to_roles_by_the_uploader_s_list_or_a_name_prefix() {
        let vtt = "WEBVTT\n\n1\n00:00:01.000 --> 00:00:02.000\nDr Lee: How are you?\n\n2\n00:00:02.500 --> 00:00:03.000\n<v sam>Fine.\n";
        let names = VoiceNames { therapist: vec!["dr lee".into()], client: vec!["Sam".into()], other: vec![] };
        let turns = parse_vtt(vtt.as_bytes(), &names).unwrap();
        let speakers: Vec<Speaker> = turns.iter().map(|t| t.speaker).collect();
        assert_eq!(speakers, [Speaker::Therapist, Speaker::Client]);
        assert_eq!(turns[0].text, "How are you?");
        assert_eq!(lines_of(parse(vtt.as_bytes())), ["/5", "/9"]);
    }

    #[test]
    fn json_turns_are_checked_field_by_field() {
        let turn =
            |start_ms, end_ms, text: &str| Turn { speaker: Speaker::Client, start_ms, end_ms, text: text.into() };
        let errors =
            check_turns(&[turn(1000, 2000, "ok"), turn(500, 400, " "), turn(-1, 90_000_000, "x")]).unwrap_err();
        let pointers: Vec<&str> = errors.iter().map(|e| e.pointer.as_str()).collect();
        assert_eq!(pointers, ["/1/start_ms", "/1/end_ms", "/1/text", "/2/start_ms", "/2/end_ms"]);
        assert_eq!(check_turns(&[]).unwrap_err()[0].pointer, "");
    }
}
