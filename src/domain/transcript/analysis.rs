//! One session's transcript read for rupture markers and therapist moves, rupture episodes and
//! their resolution, and the session's metrics (docs/methodology.md, section 14). Pure: the
//! same turns, lexicon and settings give the same analysis.

use super::episodes::episodes;
pub use super::episodes::{EpisodeFamily, EpisodeStatus, Resolution, RuptureEpisode};
use super::kinds::{Category, Family, MarkerKind, MoveKind, Speaker, Strength};
use super::lexicon::{Entry, Lexicon, Position, SentenceType};
use super::metrics::metrics;
pub use super::metrics::{PerSpeaker, ShareBasis, TranscriptMetrics};
use super::tokens::{NEGATORS, Tokens, tokenize};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::ToSchema;

/// One speaker turn as uploaded (validated by `parse`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Turn {
    pub speaker: Speaker,
    /// Milliseconds from the start of the recording.
    pub start_ms: i64,
    pub end_ms: i64,
    pub text: String,
}

/// The organization's analysis settings (organization settings, `transcripts`).
#[derive(Clone, Copy, Debug)]
pub struct AnalysisSettings {
    /// Longest evidence snippet kept, in characters; 0 keeps none.
    pub evidence_chars: usize,
    /// A rupture is addressed when a resolving move follows within this many turns.
    pub resolution_window_turns: usize,
    /// A client answer of at most this many words to an open question is a minimal response.
    pub minimal_response_words: usize,
}

/// A client rupture marker.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Marker {
    pub kind: MarkerKind,
    pub family: Family,
    /// Index of the turn (0-based).
    pub turn: usize,
    /// Character offsets into the turn's text (end exclusive).
    pub start: usize,
    pub end: usize,
    /// The rule that fired: `lexicon` or a structural rule such as `minimal_response`.
    pub rule: String,
    /// The lexicon entry that matched, for lexicon rules.
    pub lexicon_entry: Option<String>,
    pub strength: Strength,
    /// The words around the match, at most the configured length; absent when it is 0.
    pub evidence: Option<String>,
}

/// A therapist move.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Move {
    pub kind: MoveKind,
    pub turn: usize,
    pub start: usize,
    pub end: usize,
    pub rule: String,
    pub lexicon_entry: Option<String>,
    pub evidence: Option<String>,
}

/// Everything found in one transcript.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TranscriptAnalysis {
    pub rules_version: String,
    pub language: String,
    pub markers: Vec<Marker>,
    pub moves: Vec<Move>,
    pub rupture_episodes: Vec<RuptureEpisode>,
    pub metrics: TranscriptMetrics,
}

const FIRST_PERSON: [&str; 5] = ["i", "me", "my", "mine", "myself"];
/// "I think …", "I mean …": hedges that do not make talk about oneself.
const HEDGES: [&str; 6] = ["think", "mean", "suppose", "guess", "believe", "know"];

/// Whether a turn speaks of the speaker (outside quotes and hedges).
fn speaks_of_self(tokens: &Tokens) -> bool {
    tokens.tokens.iter().enumerate().any(|(index, token)| {
        let next = index.checked_add(1).and_then(|i| tokens.tokens.get(i));
        !token.quoted
            && FIRST_PERSON.contains(&token.word.as_str())
            && !(token.word == "i" && next.is_some_and(|n| HEDGES.contains(&n.word.as_str())))
    })
}

struct Found<'a> {
    entry: &'a Entry,
    start: usize,
    end: usize,
}

/// Where each sentence and each clause of a turn begins, after fillers ("well", "um"), and
/// where each sentence begins before them ("So you …").
fn phrase_starts(tokens: &Tokens, lexicon: &Lexicon) -> Vec<usize> {
    let mut starts: Vec<usize> = tokens.sentences.iter().map(|s| s.first).collect();
    let mut skipping = false;
    for (index, token) in tokens.tokens.iter().enumerate() {
        let previous = index.checked_sub(1).and_then(|i| tokens.tokens.get(i));
        if previous.is_none_or(|p| p.clause != token.clause || p.sentence != token.sentence) {
            skipping = true;
        }
        if skipping && !lexicon.fillers.contains(&token.word) {
            starts.push(index);
            skipping = false;
        }
    }
    starts
}

/// An odd number of negators earlier in the match's clause turns it around ("I don't think
/// this isn't helping").
fn negated(tokens: &Tokens, at: usize) -> bool {
    let Some(token) = tokens.tokens.get(at) else { return false };
    let count = tokens.tokens[..at]
        .iter()
        .filter(|t| t.clause == token.clause && t.sentence == token.sentence && NEGATORS.contains(&t.word.as_str()))
        .count();
    count % 2 == 1
}

struct TurnContext {
    after_open_question: bool,
    first_person: bool,
}

fn find<'a>(
    tokens: &Tokens,
    lexicon: &'a Lexicon,
    context: &TurnContext,
    wanted: impl Fn(Category) -> bool,
) -> Vec<Found<'a>> {
    let starts = phrase_starts(tokens, lexicon);
    let turn_start = tokens.tokens.iter().position(|t| !lexicon.fillers.contains(&t.word));
    let mut found = Vec::new();
    for (at, token) in tokens.tokens.iter().enumerate() {
        if token.quoted {
            continue;
        }
        for entry in lexicon.starting_with(&token.word) {
            if !wanted(entry.category)
                || (entry.after_open_question && !context.after_open_question)
                || (entry.without_first_person && context.first_person)
            {
                continue;
            }
            let Some(sentence) = tokens.sentences.get(token.sentence) else { continue };
            let position_ok = match entry.position {
                Position::Anywhere => true,
                Position::TurnStart => turn_start == Some(at),
                Position::SentenceStart => starts.contains(&at),
            };
            let sentence_ok = match entry.sentence {
                SentenceType::Any => true,
                SentenceType::Question => sentence.question,
                SentenceType::Statement => !sentence.question,
            };
            if !position_ok || !sentence_ok {
                continue;
            }
            let Some(last) = at.checked_add(entry.words.len()).and_then(|end| end.checked_sub(1)) else { continue };
            let Some(span) = tokens.tokens.get(at..=last) else { continue };
            let words_match = span
                .iter()
                .zip(&entry.words)
                .all(|(t, w)| !t.quoted && t.sentence == token.sentence && (w == "*" || *w == t.word));
            if words_match && negated(tokens, at) == entry.negated {
                found.push(Found { entry, start: token.start, end: span.last().map_or(token.end, |t| t.end) });
            }
        }
    }
    found
}

/// At most `limit` characters of `text` around `start..end`.
pub fn snippet(text: &str, start: usize, end: usize, limit: usize) -> Option<String> {
    if limit == 0 {
        return None;
    }
    let chars: Vec<char> = text.chars().collect();
    let length = end.saturating_sub(start);
    let (from, to) = if length >= limit {
        (start, start.saturating_add(limit))
    } else {
        let spare = limit.saturating_sub(length);
        let from = start.saturating_sub(spare / 2);
        let to = from.saturating_add(limit).min(chars.len());
        (to.saturating_sub(limit).min(from), to)
    };
    let piece: String = chars.get(from..to.min(chars.len()))?.iter().collect();
    Some(piece.trim().to_owned())
}

fn word_count(tokens: &Tokens) -> u64 {
    let mut spans: Vec<(usize, usize)> = tokens.tokens.iter().map(|t| (t.start, t.end)).collect();
    spans.dedup();
    spans.len() as u64
}

/// Reads one transcript.
pub fn analyse(turns: &[Turn], lexicon: &Lexicon, settings: &AnalysisSettings) -> TranscriptAnalysis {
    let tokenized: Vec<Tokens> = turns.iter().map(|turn| tokenize(&turn.text)).collect();
    let mut markers: Vec<Marker> = Vec::new();
    let mut moves: Vec<Move> = Vec::new();
    let mut words = PerSpeaker::default();
    let mut speaking_ms = PerSpeaker::default();
    // Whether the latest therapist turn asked an open question (other speakers are skipped).
    let mut open_question_pending = false;
    for (index, (turn, tokens)) in turns.iter().zip(&tokenized).enumerate() {
        let turn_words = word_count(tokens);
        words.add(turn.speaker, turn_words);
        speaking_ms.add(turn.speaker, u64::try_from(turn.end_ms.saturating_sub(turn.start_ms)).unwrap_or(0));
        let evidence = |start: usize, end: usize| snippet(&turn.text, start, end, settings.evidence_chars);
        match turn.speaker {
            Speaker::Other => {}
            Speaker::Client => {
                let context =
                    TurnContext { after_open_question: open_question_pending, first_person: speaks_of_self(tokens) };
                let mut by_kind: BTreeMap<MarkerKind, Marker> = BTreeMap::new();
                if open_question_pending && turn_words <= settings.minimal_response_words as u64 {
                    let end = turn.text.chars().count();
                    by_kind.insert(
                        MarkerKind::MinimalResponse,
                        Marker {
                            kind: MarkerKind::MinimalResponse,
                            family: Family::Withdrawal,
                            turn: index,
                            start: 0,
                            end,
                            rule: "minimal_response".into(),
                            lexicon_entry: None,
                            strength: if turn_words <= 1 { Strength::High } else { Strength::Moderate },
                            evidence: evidence(0, end),
                        },
                    );
                }
                for found in find(tokens, lexicon, &context, |c| matches!(c, Category::Marker(_))) {
                    let Category::Marker(kind) = found.entry.category else { continue };
                    let stronger = by_kind.get(&kind).is_none_or(|m| found.entry.strength > m.strength);
                    if stronger {
                        by_kind.insert(
                            kind,
                            Marker {
                                kind,
                                family: kind.family(),
                                turn: index,
                                start: found.start,
                                end: found.end,
                                rule: "lexicon".into(),
                                lexicon_entry: Some(found.entry.id.clone()),
                                strength: found.entry.strength,
                                evidence: evidence(found.start, found.end),
                            },
                        );
                    }
                }
                markers.extend(by_kind.into_values());
            }
            Speaker::Therapist => {
                let context = TurnContext { after_open_question: false, first_person: false };
                let mut by_kind: BTreeMap<MoveKind, Move> = BTreeMap::new();
                let found_moves = find(tokens, lexicon, &context, |c| matches!(c, Category::Move(_)));
                let sentence_of = |start: usize| tokens.tokens.iter().find(|t| t.start == start).map(|t| t.sentence);
                // A question stem such as "how much" makes its sentence closed whatever else matched.
                let closed_sentences: Vec<usize> = found_moves
                    .iter()
                    .filter(|f| f.entry.category == Category::Move(MoveKind::QuestionClosed))
                    .filter_map(|f| sentence_of(f.start))
                    .collect();
                let mut open_sentences = Vec::new();
                for found in found_moves {
                    let Category::Move(kind) = found.entry.category else { continue };
                    if kind == MoveKind::QuestionClosed {
                        continue;
                    }
                    if kind == MoveKind::QuestionOpen {
                        match sentence_of(found.start) {
                            Some(sentence) if !closed_sentences.contains(&sentence) => open_sentences.push(sentence),
                            _ => continue,
                        }
                    }
                    by_kind.entry(kind).or_insert_with(|| Move {
                        kind,
                        turn: index,
                        start: found.start,
                        end: found.end,
                        rule: "lexicon".into(),
                        lexicon_entry: Some(found.entry.id.clone()),
                        evidence: evidence(found.start, found.end),
                    });
                }
                let closed = tokens
                    .sentences
                    .iter()
                    .enumerate()
                    .find(|(number, s)| s.question && !open_sentences.contains(number));
                if let Some((_, sentence)) = closed {
                    let start = tokens.tokens.get(sentence.first).map_or(0, |t| t.start);
                    let end = sentence.end.checked_sub(1).and_then(|i| tokens.tokens.get(i)).map_or(start, |t| t.end);
                    by_kind.entry(MoveKind::QuestionClosed).or_insert_with(|| Move {
                        kind: MoveKind::QuestionClosed,
                        turn: index,
                        start,
                        end,
                        rule: "closed_question".into(),
                        lexicon_entry: None,
                        evidence: evidence(start, end),
                    });
                }
                open_question_pending = by_kind.contains_key(&MoveKind::QuestionOpen);
                moves.extend(by_kind.into_values());
            }
        }
        if turn.speaker == Speaker::Client {
            open_question_pending = false;
        }
    }
    let rupture_episodes = episodes(&markers, &moves, lexicon, settings.resolution_window_turns);
    let metrics = metrics(turns.len(), words, speaking_ms, &markers, &moves, &rupture_episodes);
    TranscriptAnalysis {
        rules_version: lexicon.version.clone(),
        language: lexicon.language.clone(),
        markers,
        moves,
        rupture_episodes,
        metrics,
    }
}
