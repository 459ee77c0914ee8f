//! `transcripts`: no server. Precision and recall of the transcript rules per marker and move
//! kind on the hand-labelled set (`benches/transcripts/labelled`), and the time to analyse a
//! 60-minute session (about 9,000 words) built from the same turns.

use rapport::domain::transcript::{AnalysisSettings, Family, Lexicon, MarkerKind, Turn, analyse};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

struct Labelled {
    turns: Vec<Turn>,
    expected: BTreeSet<(usize, String)>,
}

fn load() -> Vec<Labelled> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/transcripts/labelled");
    let mut paths: Vec<_> = std::fs::read_dir(dir)
        .expect("the labelled set")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|path| {
            let doc: Value = serde_json::from_slice(&std::fs::read(&path).expect("readable")).expect("JSON");
            let turns: Vec<Turn> = serde_json::from_value(doc["turns"].clone()).expect("turns");
            let mut expected = BTreeSet::new();
            for group in ["markers", "moves"] {
                for label in doc["labels"][group].as_array().into_iter().flatten() {
                    let turn = label["turn"].as_u64().expect("turn") as usize;
                    expected.insert((turn, label["kind"].as_str().expect("kind").to_owned()));
                }
            }
            Labelled { turns, expected }
        })
        .collect()
}

/// Each marker label also counts for its family and for "any marker" in its turn: whether a
/// rupture is seen at all, whatever its kind.
fn with_families(labels: BTreeSet<(usize, String)>) -> BTreeSet<(usize, String)> {
    let mut all = labels.clone();
    for (turn, kind) in &labels {
        if let Some(marker) = MarkerKind::parse(kind) {
            let family = match marker.family() {
                Family::Withdrawal => "(family) withdrawal",
                Family::Confrontation => "(family) confrontation",
            };
            all.insert((*turn, family.to_owned()));
            all.insert((*turn, "(any marker)".to_owned()));
        }
    }
    all
}

fn settings() -> AnalysisSettings {
    AnalysisSettings { evidence_chars: 80, resolution_window_turns: 3, minimal_response_words: 3 }
}

/// kind → (true positives, false positives, false negatives) over `set`.
fn score(set: &[Labelled], lexicon: &Lexicon) -> BTreeMap<String, (usize, usize, usize)> {
    let mut counts: BTreeMap<String, (usize, usize, usize)> = BTreeMap::new();
    for transcript in set {
        let analysis = analyse(&transcript.turns, lexicon, &settings());
        let found: BTreeSet<(usize, String)> = analysis
            .markers
            .iter()
            .map(|m| (m.turn, m.kind.as_str().to_owned()))
            .chain(analysis.moves.iter().map(|m| (m.turn, m.kind.as_str().to_owned())))
            .collect();
        let (found, expected) = (with_families(found), with_families(transcript.expected.clone()));
        for item in found.union(&expected) {
            let entry = counts.entry(item.1.clone()).or_default();
            match (found.contains(item), expected.contains(item)) {
                (true, true) => entry.0 += 1,
                (true, false) => entry.1 += 1,
                _ => entry.2 += 1,
            }
        }
    }
    counts
}

pub fn run() {
    let set = load();
    let lexicon = Lexicon::builtin();
    // Files 01–17 were read while the rules were refined (development); 18 on were not (held out).
    let (development, held_out) = set.split_at(17.min(set.len()));
    let rate = |a: usize, b: usize| if b == 0 { "—".to_owned() } else { format!("{:.2}", a as f64 / b as f64) };
    let mut summary = serde_json::Map::new();
    for (name, part) in [("held-out", held_out), ("development", development), ("all", &set[..])] {
        let counts = score(part, lexicon);
        println!("\ntranscript rules {} on {} {name} transcripts", lexicon.version, part.len());
        println!("| kind | labelled | found | precision | recall |\n|---|---|---|---|---|");
        let mut kinds = serde_json::Map::new();
        for (kind, (tp, fp, fn_)) in &counts {
            println!("| {kind} | {} | {} | {} | {} |", tp + fn_, tp + fp, rate(*tp, tp + fp), rate(*tp, tp + fn_));
            kinds.insert(kind.clone(), serde_json::json!({"tp": tp, "fp": fp, "fn": fn_}));
        }
        summary.insert(name.to_owned(), serde_json::Value::Object(kinds));
    }
    // A 60-minute session: the labelled turns repeated until 9,000 words, in time order.
    let mut long: Vec<Turn> = Vec::new();
    let (mut words, mut offset) = (0usize, 0i64);
    'fill: loop {
        for transcript in &set {
            for turn in &transcript.turns {
                let mut turn = turn.clone();
                turn.start_ms += offset;
                turn.end_ms += offset;
                words += turn.text.split_whitespace().count();
                long.push(turn);
                if words >= 9_000 {
                    break 'fill;
                }
            }
            offset = long.last().map_or(0, |t| t.end_ms);
        }
    }
    let mut times: Vec<f64> = (0..30)
        .map(|_| {
            let started = Instant::now();
            let analysis = analyse(&long, lexicon, &settings());
            std::hint::black_box(analysis);
            started.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    times.sort_by(f64::total_cmp);
    println!(
        "\nanalysis of a {words}-word, {}-turn transcript: median {:.1} ms, max {:.1} ms (30 runs, one core)",
        long.len(),
        times[times.len() / 2],
        times[times.len() - 1]
    );
    let out = concat!(env!("CARGO_MANIFEST_DIR"), "/target/transcript-eval.json");
    let report = serde_json::json!({"rules_version": lexicon.version, "transcripts": set.len(), "kinds": summary,
        "words": words, "median_ms": times[times.len() / 2]});
    let _ = std::fs::write(out, serde_json::to_vec_pretty(&report).expect("serializes"));
}
