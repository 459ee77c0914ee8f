//! `outcomes.svg`: one outcome measure's totals by session against the clinical cutoff for the
//! client's age group, the reliable-change band around intake, and the expected-response band
//! (p10–p90 and p25–p75 with the median, as `GET /v1/episodes/{id}/outcomes` returns it), with
//! each point's on-track status marked. Drawn from the same `InstrumentOutcome`.

use super::alliance::trend_words;
use super::plot::{LegendEntry, Plot, WIDTH, legend};
use super::svg::{Shape, Svg, colour, num, score};
use crate::domain::analytics::episode::InstrumentOutcome;
use crate::domain::analytics::etr::EtrStatus;
use crate::domain::analytics::reliable_change::ChangeClass;
use crate::domain::analytics::statistics::least_squares_slope;

pub struct OutcomeScales {
    /// e.g. `ORS`.
    pub name: String,
    pub range: (f64, f64),
    pub higher_is_better: bool,
    /// The client's age group, as the cutoff was chosen for it.
    pub age_group: String,
}

/// A point's x: its session, or its position for an administration outside any session.
fn position(index: usize, session: Option<i32>) -> i32 {
    session.unwrap_or_else(|| i32::try_from(index).map_or(i32::MAX, |i| i.saturating_add(1)))
}

/// `statuses`: each point's expected-response status (`status_by_session`), empty without a band.
/// `id` prefixes the chart's element ids (unique per page).
pub fn outcomes_svg(outcome: &InstrumentOutcome, scales: &OutcomeScales, statuses: &[EtrStatus], id: &str) -> String {
    let title = format!("{} by session", scales.name);
    let mut svg = Svg::new(WIDTH, id, &title, &describe(outcome, scales));
    svg.text((10.0, 19.0), 14.0, "start", colour::TEXT, &title);
    let points: Vec<(i32, f64)> =
        outcome.series.iter().enumerate().map(|(i, p)| (position(i, p.session_number), p.total)).collect();
    let band = outcome.etr.as_ref().map(|etr| etr.band.as_slice()).unwrap_or_default();
    let last_point = points.iter().map(|(s, _)| *s).max();
    // The band is drawn a few sessions past the latest one: where the client is expected next.
    let band_end = last_point.map_or(6, |last| last.saturating_add(3));
    let band: Vec<_> = band.iter().filter(|b| b.session_number <= band_end).collect();
    let sessions = points.iter().map(|(s, _)| *s).chain(band.iter().map(|b| b.session_number));
    let (first, last) = sessions.fold((i32::MAX, i32::MIN), |(low, high), s| (low.min(s), high.max(s)));
    let plot = Plot::new(44.0, 150.0, if first <= last { (first, last) } else { (1, 1) }, scales.range);
    svg.open_group(&plot.data_attributes("plot outcomes"));
    plot.axes(&mut svg, &format!("{} total", scales.name), "session");
    if let Some(intake) = outcome.change.intake {
        let (upper, lower) = (plot.y(intake + outcome.reliable_change), plot.y(intake - outcome.reliable_change));
        svg.rect(
            (plot.left(), upper),
            (plot.right() - plot.left(), lower - upper),
            colour::MUTED,
            0.12,
            "reliable-change",
        );
        for y in [upper, lower] {
            svg.line((plot.left(), y), (plot.right(), y), colour::MUTED, 1.0, Some("2 2"), "reliable-change-edge");
        }
    }
    let at = |session: i32, value: f64| (plot.x(session), plot.y(value));
    let outer_upper: Vec<(f64, f64)> = band.iter().map(|b| at(b.session_number, b.p90)).collect();
    let outer_lower: Vec<(f64, f64)> = band.iter().map(|b| at(b.session_number, b.p10)).collect();
    svg.band(&outer_upper, &outer_lower, colour::EXPECTED, 0.2, "expected-p10-p90");
    let inner_upper: Vec<(f64, f64)> = band.iter().map(|b| at(b.session_number, b.p75)).collect();
    let inner_lower: Vec<(f64, f64)> = band.iter().map(|b| at(b.session_number, b.p25)).collect();
    svg.band(&inner_upper, &inner_lower, colour::EXPECTED, 0.35, "expected-p25-p75");
    let median: Vec<(f64, f64)> = band.iter().map(|b| at(b.session_number, b.p50)).collect();
    svg.polyline(&median, colour::EXPECTED, Some("4 2"), "expected-median");
    if let Some(cutoff) = outcome.clinical_cutoff {
        let y = plot.y(cutoff);
        svg.line((plot.left(), y), (plot.right(), y), colour::CUTOFF, 2.0, Some("6 3"), "cutoff");
        svg.label((plot.right(), y + 12.0), "end", &format!("clinical cutoff {}", score(cutoff)));
    }
    if points.is_empty() {
        let middle = plot.top + plot.height / 2.0;
        svg.text(((plot.left() + plot.right()) / 2.0, middle), 12.0, "middle", colour::MUTED, "No scores yet");
    }
    let line: Vec<(f64, f64)> = points.iter().map(|&(s, v)| at(s, v)).collect();
    svg.polyline(&line, colour::CLIENT, None, "series");
    for (index, ((point, &xy), &(session, _))) in outcome.series.iter().zip(&line).zip(&points).enumerate() {
        let status = statuses.get(index).copied().unwrap_or(EtrStatus::InsufficientReference);
        let attributes = format!(
            "class=\"point\" data-session=\"{session}\" data-total=\"{}\" data-response-id=\"{}\" data-status=\"{}\"",
            num(point.total),
            point.response_id,
            status_code(status)
        );
        let words = format!("Session {session}: {} {}{}", scales.name, score(point.total), status_words(status));
        svg.marker(Shape::Circle, xy, 3.5, colour::CLIENT, colour::CLIENT, &attributes, &words);
        match status {
            EtrStatus::OffTrack => {
                let label = format!("Session {session}: off track");
                svg.marker(Shape::Diamond, xy, 5.0, "none", colour::RUPTURE, "class=\"off-track\"", &label);
            }
            EtrStatus::AtRisk => {
                let label = format!("Session {session}: at risk");
                let below = (xy.0, xy.1 + 11.0);
                svg.marker(Shape::TriangleDown, below, 3.2, colour::DROP, colour::DROP, "class=\"at-risk\"", &label);
            }
            EtrStatus::OnTrack | EtrStatus::InsufficientReference => {}
        }
    }
    svg.close_group();
    let bottom = legend(
        &mut svg,
        plot.bottom() + 40.0,
        &[
            LegendEntry::series(&scales.name),
            LegendEntry::dashed("clinical cutoff", colour::CUTOFF, "6 3"),
            LegendEntry::dashed("reliable change", colour::MUTED, "2 2"),
            LegendEntry::dashed("expected (median, p10–p90)", colour::EXPECTED, "4 2"),
            LegendEntry::mark("at risk", colour::DROP, Shape::TriangleDown, true),
            LegendEntry::mark("off track", colour::RUPTURE, Shape::Diamond, false),
        ],
    );
    svg.finish(bottom)
}

fn status_code(status: EtrStatus) -> &'static str {
    match status {
        EtrStatus::OnTrack => "on_track",
        EtrStatus::AtRisk => "at_risk",
        EtrStatus::OffTrack => "off_track",
        EtrStatus::InsufficientReference => "insufficient_reference",
    }
}

fn status_words(status: EtrStatus) -> &'static str {
    match status {
        EtrStatus::OnTrack => ", on track",
        EtrStatus::AtRisk => ", at risk",
        EtrStatus::OffTrack => ", off track",
        EtrStatus::InsufficientReference => "",
    }
}

fn class_words(class: ChangeClass) -> &'static str {
    match class {
        ChangeClass::Recovered => "recovered (reliable improvement into the non-clinical range)",
        ChangeClass::Improved => "reliably improved",
        ChangeClass::Unchanged => "no reliable change",
        ChangeClass::Deteriorated => "reliably deteriorated",
        ChangeClass::InsufficientData => "too few scores to judge change",
    }
}

/// The chart in words: intake, latest, change and its class, the cutoff, the trend, and the
/// expected response at the latest session.
pub fn describe(outcome: &InstrumentOutcome, scales: &OutcomeScales) -> String {
    let name = &scales.name;
    let change = &outcome.change;
    let (Some(intake), Some(current)) = (change.intake, change.current) else {
        return format!("No {name} scores in this episode yet.");
    };
    let better = if scales.higher_is_better { "Higher is better." } else { "Lower is better." };
    let mut words = format!(
        "{} {name} score{}. {better} Intake {}, latest {}",
        change.administrations,
        if change.administrations == 1 { "" } else { "s" },
        score(intake),
        score(current),
    );
    if let Some(delta) = change.change {
        words.push_str(&format!(
            " (change {}{}; reliable change is {} points)",
            if delta > 0.0 { "+" } else { "" },
            score(delta),
            score(outcome.reliable_change)
        ));
    }
    words.push_str(&format!(": {}.", class_words(change.class)));
    if let Some(cutoff) = outcome.clinical_cutoff {
        words.push_str(&format!(" Clinical cutoff {} for the {} age group.", score(cutoff), scales.age_group));
    }
    let points: Vec<(f64, f64)> =
        outcome.series.iter().enumerate().map(|(i, p)| (f64::from(position(i, p.session_number)), p.total)).collect();
    if let Some(slope) = least_squares_slope(&points) {
        words.push_str(&trend_words(slope));
    }
    if let Some(etr) = &outcome.etr {
        match (etr.status, etr.expected, etr.session_number) {
            (EtrStatus::InsufficientReference, _, _) => words.push_str(&format!(
                " Expected response: not enough comparable episodes ({} at this session).",
                etr.reference_count
            )),
            (status, Some(expected), Some(session)) => words.push_str(&format!(
                " Expected response at session {session}: {} (median of comparable episodes {}).",
                status_words(status).trim_start_matches(", "),
                score(expected)
            )),
            _ => {}
        }
    }
    words
}
