//! `alliance.svg`: the episode's session alliance ratings (SRS or CSRS) by session against the
//! cutoff, with drops, ruptures and repairs marked, and the working-alliance forms (WAI-SR,
//! WAI-SR-T) in a second panel. Drawn from the same `EpisodeAlliance` as the JSON endpoint.

use super::plot::{LegendEntry, Plot, WIDTH, legend};
use super::svg::{Shape, Svg, colour, escape, num, score};
use crate::domain::analytics::episode::EpisodeAlliance;
use crate::domain::analytics::rupture::RuptureStatus;
use crate::domain::analytics::statistics::least_squares_slope;
use crate::domain::instruments::definition::Rater;

/// What the chart needs besides the analytics: names and scales from the instruments'
/// definitions.
pub struct AllianceScales {
    /// e.g. `SRS`.
    pub name: String,
    pub range: (f64, f64),
    /// The item range of the working-alliance forms.
    pub working_alliance_range: (f64, f64),
}

/// The chart; `id` prefixes its element ids (unique per page).
pub fn alliance_svg(alliance: &EpisodeAlliance, scales: &AllianceScales, id: &str) -> String {
    let title = format!("Alliance by session ({})", scales.name);
    let mut svg = Svg::new(WIDTH, id, &title, &describe(alliance, &scales.name));
    svg.text((10.0, 19.0), 14.0, "start", colour::TEXT, &title);
    let sessions = session_range(alliance);
    let plot = Plot::new(44.0, 150.0, sessions.unwrap_or((1, 1)), scales.range);
    svg.open_group(&plot.data_attributes("plot alliance"));
    plot.axes(&mut svg, &format!("{} total", scales.name), "session");
    let cutoff_y = plot.y(alliance.cutoff);
    svg.line((plot.left(), cutoff_y), (plot.right(), cutoff_y), colour::CUTOFF, 2.0, Some("6 3"), "cutoff");
    svg.label((plot.right(), cutoff_y + 12.0), "end", &format!("cutoff {}", score(alliance.cutoff)));
    if alliance.series.is_empty() {
        let middle = plot.top + plot.height / 2.0;
        svg.text(((plot.left() + plot.right()) / 2.0, middle), 12.0, "middle", colour::MUTED, "No ratings yet");
    }
    let line: Vec<(f64, f64)> = alliance.series.iter().map(|p| (plot.x(p.session_number), plot.y(p.total))).collect();
    svg.polyline(&line, colour::CLIENT, None, "series");
    for (point, &(x, y)) in alliance.series.iter().zip(&line) {
        let words = format!(
            "Session {}: {} {}{}",
            point.session_number,
            scales.name,
            score(point.total),
            if point.below_cutoff { ", below the cutoff" } else { "" }
        );
        let attributes = format!(
            "class=\"point\" data-session=\"{}\" data-total=\"{}\" data-response-id=\"{}\"",
            point.session_number,
            num(point.total),
            point.response_id
        );
        // Open circles are below the cutoff: shape, not only position, says so.
        let fill = if point.below_cutoff { "#FFFFFF" } else { colour::CLIENT };
        svg.marker(Shape::Circle, (x, y), 3.5, fill, colour::CLIENT, &attributes, &words);
        if let Some(drop) = point.drop {
            let label = format!("Session {}: drop of {} points", point.session_number, score(drop));
            svg.marker(Shape::TriangleDown, (x, y + 11.0), 3.2, colour::DROP, colour::DROP, "class=\"drop\"", &label);
        }
        if point.rupture {
            let label = format!("Session {}: rupture", point.session_number);
            svg.marker(Shape::Diamond, (x, y), 5.0, "none", colour::RUPTURE, "class=\"rupture\"", &label);
        }
        if point.repair {
            let label = format!("Session {}: repair", point.session_number);
            svg.marker(
                Shape::TriangleUp,
                (x, y - 11.0),
                3.2,
                colour::REPAIR,
                colour::REPAIR,
                "class=\"repair\"",
                &label,
            );
        }
    }
    svg.close_group();
    let mut bottom = legend(
        &mut svg,
        plot.bottom() + 40.0,
        &[
            LegendEntry::series(&scales.name),
            LegendEntry::mark("below cutoff", colour::CLIENT, Shape::Circle, false),
            LegendEntry::dashed("cutoff", colour::CUTOFF, "6 3"),
            LegendEntry::mark("drop", colour::DROP, Shape::TriangleDown, true),
            LegendEntry::mark("rupture", colour::RUPTURE, Shape::Diamond, false),
            LegendEntry::mark("repair", colour::REPAIR, Shape::TriangleUp, true),
        ],
    );
    if !alliance.working_alliance.is_empty() {
        bottom = working_alliance_panel(&mut svg, bottom + 8.0, sessions.unwrap_or((1, 1)), alliance, scales);
    }
    svg.finish(bottom)
}

fn session_range(alliance: &EpisodeAlliance) -> Option<(i32, i32)> {
    let sessions = alliance
        .series
        .iter()
        .map(|p| p.session_number)
        .chain(alliance.working_alliance.iter().flat_map(|s| s.points.iter().map(|p| p.session_number)));
    sessions.fold(None, |range, s| match range {
        None => Some((s, s)),
        Some((low, high)) => Some((low.min(s), high.max(s))),
    })
}

fn working_alliance_panel(
    svg: &mut Svg,
    top: f64,
    sessions: (i32, i32),
    alliance: &EpisodeAlliance,
    scales: &AllianceScales,
) -> f64 {
    svg.text((10.0, top + 4.0), 13.0, "start", colour::TEXT, "Working alliance (item mean)");
    let plot = Plot::new(top + 26.0, 80.0, sessions, scales.working_alliance_range);
    svg.open_group(&plot.data_attributes("plot working-alliance"));
    plot.axes(svg, "item mean", "session");
    for series in &alliance.working_alliance {
        let (stroke, dash, shape) = style(series.rater);
        let points: Vec<(f64, f64)> =
            series.points.iter().map(|p| (plot.x(p.session_number), plot.y(p.item_mean))).collect();
        svg.polyline(&points, stroke, dash, "series");
        for (point, &at) in series.points.iter().zip(&points) {
            let attributes = format!(
                "class=\"point\" data-instrument=\"{}\" data-session=\"{}\" data-total=\"{}\"",
                escape(&series.instrument),
                point.session_number,
                num(point.item_mean)
            );
            let words = format!(
                "Session {}: {} {} item mean {}",
                point.session_number,
                rater_word(series.rater),
                series.instrument.to_uppercase(),
                score(point.item_mean)
            );
            svg.marker(shape, at, 3.2, stroke, stroke, &attributes, &words);
        }
    }
    svg.close_group();
    let labels: Vec<(String, Rater)> = alliance
        .working_alliance
        .iter()
        .map(|s| (format!("{} ({})", s.instrument.to_uppercase(), rater_word(s.rater)), s.rater))
        .collect();
    let entries: Vec<LegendEntry<'_>> = labels
        .iter()
        .map(|(label, rater)| {
            let (stroke, dash, shape) = style(*rater);
            LegendEntry { label, colour: stroke, line: Some(dash), marker: Some((shape, true)) }
        })
        .collect();
    legend(svg, plot.bottom() + 40.0, &entries)
}

/// Client: solid line, circles; therapist: dashed line, squares.
fn style(rater: Rater) -> (&'static str, Option<&'static str>, Shape) {
    match rater {
        Rater::Therapist => (colour::THERAPIST, Some("5 3"), Shape::Square),
        _ => (colour::CLIENT, None, Shape::Circle),
    }
}

fn rater_word(rater: Rater) -> &'static str {
    rater.as_str()
}

/// The chart in words, for `<desc>`: how many ratings, where the latest stands, the trend,
/// ruptures and repairs, and the working-alliance forms.
pub fn describe(alliance: &EpisodeAlliance, name: &str) -> String {
    let series = &alliance.series;
    let (Some(first), Some(last)) = (series.first(), series.last()) else {
        return format!("No {name} ratings in this episode yet. The cutoff is {}.", score(alliance.cutoff));
    };
    let mut words = format!(
        "{} {name} rating{} from session {} to {}. The latest, {}, is {} the cutoff of {}.",
        series.len(),
        if series.len() == 1 { "" } else { "s" },
        first.session_number,
        last.session_number,
        score(last.total),
        if last.below_cutoff { "below" } else { "at or above" },
        score(alliance.cutoff)
    );
    let points: Vec<(f64, f64)> = series.iter().map(|p| (f64::from(p.session_number), p.total)).collect();
    if let Some(slope) = least_squares_slope(&points) {
        words.push_str(&trend_words(slope));
    }
    let drops = series.iter().filter(|p| p.drop.is_some()).count();
    if drops > 0 {
        words.push_str(&format!(" {drops} drop{} from one rating to the next.", if drops == 1 { "" } else { "s" }));
    }
    if alliance.ruptures.is_empty() {
        words.push_str(" No ruptures.");
    }
    for rupture in &alliance.ruptures {
        let outcome = match (rupture.status, rupture.repaired_at_session) {
            (RuptureStatus::Repaired, Some(at)) => format!("repaired at session {at}"),
            (RuptureStatus::Repaired, None) => "repaired".to_owned(),
            (RuptureStatus::Unrepaired, _) => "not repaired".to_owned(),
            (RuptureStatus::Pending, _) => "repair window still open".to_owned(),
        };
        words.push_str(&format!(" Rupture at session {} ({outcome}).", rupture.session_number));
    }
    for series in &alliance.working_alliance {
        if let Some(latest) = series.points.last() {
            words.push_str(&format!(
                " {} ({}) item mean {} at session {}.",
                series.instrument.to_uppercase(),
                rater_word(series.rater),
                score(latest.item_mean),
                latest.session_number
            ));
        }
    }
    words
}

/// "Rising by 0.8 points per session", or "steady" within ±0.1.
pub fn trend_words(slope: f64) -> String {
    if slope.abs() < 0.1 {
        " Trend: steady.".to_owned()
    } else {
        format!(
            " Trend: {} by {} points per session.",
            if slope > 0.0 { "rising" } else { "falling" },
            score(slope.abs())
        )
    }
}
