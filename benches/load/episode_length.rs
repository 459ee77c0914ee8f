//! Whether a submission's cost grows with its episode: the ingest load sent to episodes that
//! already hold one response and to episodes that already hold `LONG` responses (issue 14).

use super::client::{Measured, Setup, saturate};
use std::time::Duration;

/// Earlier responses in each long episode before the measured run.
const LONG: usize = 1_000;
/// Episodes in each group: one per connection of the load.
const EPISODES: usize = 16;

pub async fn run(setup: &Setup, duration: Duration) -> Vec<(String, Measured, Option<(String, f64)>)> {
    let short = sessions(setup, "SHORT").await;
    let long = sessions(setup, "LONG").await;
    prefill(setup, &short, 1, "short-prefill").await;
    prefill(setup, &long, LONG, "long-prefill").await;
    let short_run = saturate(EPISODES, duration, |n| setup.submit_srs_to(&short, n, "short")).await;
    let long_run = saturate(EPISODES, duration, |n| setup.submit_srs_to(&long, n, "long")).await;
    let grown = |run: &Measured, start: usize| start + run.requests / EPISODES;
    vec![
        (format!("ingest, episodes of 1 → ~{} responses", grown(&short_run, 1)), short_run.clone(), None),
        (
            format!("ingest, episodes of {LONG} → ~{} responses", grown(&long_run, LONG)),
            long_run,
            Some(("the same with episodes of 1".into(), short_run.rate)),
        ),
    ]
}

async fn sessions(setup: &Setup, prefix: &str) -> Vec<String> {
    setup.episodes_with_a_session(prefix, EPISODES).await.into_iter().map(|(_, _, session)| session).collect()
}

/// `per_episode` responses into each session, one writer per session so the load stays even.
async fn prefill(setup: &Setup, sessions: &[String], per_episode: usize, key_prefix: &str) {
    let writers = sessions.iter().enumerate().map(|(i, session)| async move {
        let one = std::slice::from_ref(session);
        for n in 0..per_episode {
            assert!(setup.submit_srs_to(one, n, &format!("{key_prefix}-{i}")).await, "prefill submission refused");
        }
    });
    futures_util::future::join_all(writers).await;
}
