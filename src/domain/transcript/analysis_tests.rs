//! Hand-written transcripts labelled turn by turn: the exact markers, moves and episodes each
//! must give. Each transcript was labelled from the 3RS and MITI definitions before the rules
//! were run on it.

use super::analysis::{EpisodeFamily, EpisodeStatus, ShareBasis, analyse};
use super::*;

fn transcript(lines: &[(&str, &str)]) -> Vec<Turn> {
    lines
        .iter()
        .enumerate()
        .map(|(index, (speaker, text))| {
            let start = i64::try_from(index).unwrap() * 10_000;
            let speaker = match *speaker {
                "T" => Speaker::Therapist,
                "C" => Speaker::Client,
                _ => Speaker::Other,
            };
            Turn { speaker, start_ms: start, end_ms: start + 5_000, text: (*text).to_owned() }
        })
        .collect()
}

fn settings() -> AnalysisSettings {
    AnalysisSettings { evidence_chars: 80, resolution_window_turns: 3, minimal_response_words: 3 }
}

fn run(lines: &[(&str, &str)]) -> TranscriptAnalysis {
    analyse(&transcript(lines), Lexicon::builtin(), &settings())
}

fn markers(analysis: &TranscriptAnalysis) -> Vec<(usize, &'static str)> {
    analysis.markers.iter().map(|m| (m.turn, m.kind.as_str())).collect()
}

fn moves(analysis: &TranscriptAnalysis) -> Vec<(usize, &'static str)> {
    let mut found: Vec<(usize, &'static str)> = analysis.moves.iter().map(|m| (m.turn, m.kind.as_str())).collect();
    found.sort();
    found
}

#[test]
fn each_withdrawal_marker_kind() {
    let analysis = run(&[
        ("T", "How have things been since we last met?"),
        ("C", "Fine."),
        ("T", "What was the hardest part of the week?"),
        ("C", "It doesn't bother me anymore, it's no big deal."),
        ("T", "How did the talk with your sister go?"),
        ("C", "Anyway, did you watch the match on Sunday?"),
        ("T", "We can come back to it. Is it hard to talk about her here?"),
        ("C", "Whatever you think is best, you're the expert."),
        ("T", "How do you feel when she cancels on you?"),
        ("C", "People in general let each other down, that's just how it is."),
    ]);
    assert_eq!(
        markers(&analysis),
        [(1, "minimal_response"), (3, "denial"), (5, "topic_shift"), (7, "deferential"), (9, "abstract_talk")]
    );
    let minimal = &analysis.markers[0];
    assert_eq!(
        (minimal.rule.as_str(), minimal.strength, minimal.lexicon_entry.as_deref()),
        ("minimal_response", Strength::High, None)
    );
    let denial = &analysis.markers[1];
    assert_eq!(denial.lexicon_entry.as_deref(), Some("denial.it_doesnt_bother_me"));
    assert_eq!(denial.strength, Strength::High);
    // Character offsets of "doesn't bother me" … "It doesn't bother me".
    assert_eq!((denial.start, denial.end), (0, 20));
    assert!(analysis.markers.iter().all(|m| m.family == Family::Withdrawal));
}

#[test]
fn each_confrontation_marker_kind() {
    let analysis = run(&[
        ("T", "Let's look at the thought record you did this week."),
        ("C", "You're not listening to me. I said I didn't do it."),
        ("T", "Okay."),
        ("C", "These worksheets feel pointless to me."),
        ("T", "Mm."),
        ("C", "And the sessions are too short to get anywhere."),
        ("T", "Right."),
        ("C", "Honestly this isn't helping. I'm not getting any better."),
        ("T", "Maybe you could try the breathing exercise when it starts."),
        ("C", "That won't work, I already tried that."),
        ("T", "It might be worth another go."),
        ("C", "It's not my fault it didn't work!"),
        ("T", "Let's slow down."),
        ("C", "Just tell me what to do and let me finish for once."),
    ]);
    assert_eq!(
        markers(&analysis),
        [
            (1, "complaint_therapist"),
            (3, "complaint_activities"),
            (5, "complaint_parameters"),
            (7, "complaint_progress"),
            (9, "rejecting_intervention"),
            (11, "defending_self"),
            (13, "controlling"),
        ]
    );
    assert!(analysis.markers.iter().all(|m| m.family == Family::Confrontation));
    // Nothing in between resolves them: one unaddressed episode (each marker within 3 turns).
    assert_eq!(analysis.rupture_episodes.len(), 1);
    assert_eq!(analysis.rupture_episodes[0].markers.len(), 7);
    assert_eq!(analysis.rupture_episodes[0].status, EpisodeStatus::Unaddressed);
}

#[test]
fn each_therapist_move() {
    let analysis = run(&[
        ("T", "What would you like to focus on today?"),
        ("C", "Probably work stuff, my manager mostly."),
        ("T", "It sounds like work has been weighing on you."),
        ("C", "Yes, every single day."),
        ("T", "Did you sleep any better this week?"),
        ("C", "Not really, maybe four hours a night."),
        ("T", "No wonder you're exhausted. That makes sense given everything."),
        ("C", "I guess so."),
        ("T", "How is this going for you so far, is this helpful?"),
        ("C", "Yeah it's good to say it out loud."),
        ("T", "I think I pushed you a bit hard on the homework last time."),
        ("C", "A little, yes."),
        ("T", "What's it like talking about this with me?"),
        ("C", "It's okay, easier than I thought."),
    ]);
    assert_eq!(
        moves(&analysis),
        [
            (0, "agenda_collaboration"),
            (0, "question_open"),
            (2, "reflection"),
            (4, "question_closed"),
            (6, "validation"),
            (8, "feedback_elicited"),
            (8, "question_open"),
            (10, "acknowledging_own_part"),
            (12, "question_open"),
            (12, "relationship_invitation"),
        ]
    );
    assert_eq!(markers(&analysis), []);
    let metrics = &analysis.metrics;
    assert_eq!((metrics.reflections, metrics.open_questions, metrics.closed_questions), (1, 3, 1));
    assert_eq!(metrics.reflection_to_question_ratio, Some(0.25));
    assert_eq!(metrics.talk_share_basis, ShareBasis::Time);
    assert_eq!(metrics.therapist_talk_share, Some(0.5));
}

#[test]
fn an_addressed_and_an_unaddressed_rupture() {
    let analysis = run(&[
        ("T", "How did the exposure homework go?"),
        ("C", "You don't understand how hard that was for me."),
        ("T", "You're right, I think I pushed too fast. That sounds really hard."),
        ("C", "Yeah. It was."),
        ("T", "Let's keep the next step small. Same exercise for five minutes?"),
        ("C", "This is a waste of time."),
        ("T", "So, the homework is five minutes a day."),
        ("C", "Fine."),
        ("T", "Did you bring your diary?"),
        ("C", "No."),
    ]);
    assert_eq!(markers(&analysis), [(1, "complaint_therapist"), (5, "complaint_progress")]);
    let episodes = &analysis.rupture_episodes;
    assert_eq!(episodes.len(), 2);
    assert_eq!((episodes[0].first_turn, episodes[0].status), (1, EpisodeStatus::Addressed));
    let resolution = episodes[0].resolved_by.as_ref().unwrap();
    assert_eq!(resolution.turn, 2);
    assert!(matches!(resolution.kind, MoveKind::Validation | MoveKind::AcknowledgingOwnPart));
    assert_eq!((episodes[1].first_turn, episodes[1].status), (5, EpisodeStatus::Unaddressed));
    assert_eq!(episodes[1].family, EpisodeFamily::Confrontation);
    assert_eq!((analysis.metrics.confrontation_episodes, analysis.metrics.confrontation_unaddressed), (2, 1));
}

#[test]
fn a_session_without_ruptures() {
    let analysis = run(&[
        ("T", "How was your week?"),
        ("C", "Pretty good actually. I went running three times and slept better."),
        ("T", "That's great to hear. What helped?"),
        ("C", "I think planning the runs the night before made the difference."),
        ("T", "Planning ahead really worked for you."),
        ("C", "It did. I want to keep it going next week."),
    ]);
    assert_eq!(markers(&analysis), []);
    assert!(analysis.rupture_episodes.is_empty());
    assert_eq!(analysis.metrics.markers_per_1000_client_words, Some(0.0));
}

#[test]
fn negations_and_quoted_speech_do_not_fire() {
    let analysis = run(&[
        ("T", "How are the sessions feeling lately?"),
        ("C", "I don't think this isn't helping. It's slow, but it's working."),
        ("T", "What happened at work?"),
        ("C", "My boss yelled \"you never listen\" at me in front of everyone, and I just froze."),
        ("T", "That sounds painful."),
        ("C", "My friend said “that's not fair” and I agreed with her."),
        ("T", "Is it not helping?"),
        ("C", "No, it's not that it isn't helping."),
        ("T", "What would make this more helpful?"),
        ("C", "Honestly, it's not helping."),
    ]);
    assert_eq!(markers(&analysis), [(9, "complaint_progress")]);
}

#[test]
fn other_speakers_are_counted_but_not_read_and_evidence_respects_its_limit() {
    let turns = transcript(&[
        ("T", "How has your mother been?"),
        ("O", "She says she's fine, this isn't helping her."),
        ("C", "Fine."),
    ]);
    let mut limited = settings();
    limited.evidence_chars = 0;
    let analysis = analyse(&turns, Lexicon::builtin(), &limited);
    assert_eq!(markers(&analysis), [(2, "minimal_response")]);
    assert!(analysis.markers.iter().all(|m| m.evidence.is_none()));
    assert!(analysis.metrics.words.other > 0);
    limited.evidence_chars = 10;
    let long = transcript(&[("C", "Honestly I think the whole thing is a waste of time for someone like me.")]);
    let analysis = analyse(&long, Lexicon::builtin(), &limited);
    let evidence = analysis.markers[0].evidence.as_deref().unwrap();
    assert!(evidence.chars().count() <= 10 && "waste of time".starts_with(evidence), "{evidence:?}");
}

#[test]
fn custom_entries_fire_and_change_the_rules_version() {
    let custom = [lexicon::CustomEntry {
        kind: "complaint_parameters".into(),
        phrase: "garage was full".into(),
        strength: Strength::Low,
        position: lexicon::Position::Anywhere,
    }];
    let lexicon = Lexicon::with_custom(&custom, 7).unwrap();
    let turns = transcript(&[("C", "Ugh, the garage was full again today.")]);
    let analysis = analyse(&turns, &lexicon, &settings());
    assert_eq!(markers(&analysis), [(0, "complaint_parameters")]);
    assert_eq!(analysis.markers[0].lexicon_entry.as_deref(), Some("custom.0"));
    assert!(analysis.rules_version.ends_with("+org.7"));
}
