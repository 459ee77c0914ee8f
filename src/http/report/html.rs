//! The supervision report as one HTML page: no script, no external resource, one inline style
//! sheet (allowed by its hash), charts inline as SVG. Prints to a page or two of A4 from any
//! browser. Every value is escaped.

use crate::db::signals::Signal;
use crate::domain::analytics::clinician::ClinicianInsights;
use crate::domain::analytics::statistics::{DifferenceWithCi, MeanWithCi};
use crate::domain::signals::SignalStatus;
use crate::domain::transcript::growth::TranscriptGrowth;
use crate::http::charts::svg::escape;
use chrono::{DateTime, Utc};
use std::fmt::Write;
use uuid::Uuid;

/// The page's only style sheet. Its SHA-256 is in the Content-Security-Policy: change it freely,
/// the hash follows.
pub const STYLE: &str = "\
body{font-family:Helvetica,Arial,sans-serif;color:#222;margin:0 auto;max-width:60rem;padding:1rem;\
font-size:11pt;line-height:1.35}\
h1{font-size:1.5rem;margin:0 0 .2rem}\
h2{font-size:1.1rem;margin:1.1rem 0 .4rem;border-bottom:1px solid #bbb}\
h3{font-size:1rem;margin:.6rem 0 .3rem}\
table{border-collapse:collapse;width:100%;font-size:.9rem}\
th,td{text-align:left;padding:.2rem .4rem;border-bottom:1px solid #e3e3e3;vertical-align:top}\
th{font-weight:600}\
.num{text-align:right;font-variant-numeric:tabular-nums}\
.note{color:#595959;font-size:.85rem}\
.warn{border-left:4px solid #E69F00;padding:.3rem .6rem;background:#FFF8E6}\
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(17rem,1fr));gap:.6rem}\
figure{margin:0;border:1px solid #ddd;padding:.4rem;break-inside:avoid}\
figcaption{font-size:.85rem;margin-bottom:.3rem;font-weight:600}\
svg{width:100%;height:auto;display:block}\
dl{display:grid;grid-template-columns:max-content auto;gap:.1rem 1rem;margin:0}\
dt{font-weight:600}dd{margin:0}\
@media print{body{max-width:none;padding:0;font-size:9.5pt}h2{break-after:avoid}}\
@page{size:A4;margin:12mm}";

/// An episode the report shows in small multiples, with why.
pub struct AttentionEpisode {
    pub episode_id: Uuid,
    pub reasons: Vec<&'static str>,
    /// Inline SVG charts (alliance, then the first outcome measure).
    pub charts: Vec<String>,
}

pub struct Report<'a> {
    pub clinician_id: Uuid,
    pub clinician_name: Option<&'a str>,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub generated_at: DateTime<Utc>,
    pub insights: &'a ClinicianInsights,
    pub growth: &'a TranscriptGrowth,
    /// Open and acknowledged signals of the clinician's episodes, newest first.
    pub signals: &'a [Signal],
    pub attention: &'a [AttentionEpisode],
}

/// A short, non-identifying label for an episode: the first 8 hex digits of its id.
pub fn episode_label(id: Uuid) -> String {
    id.simple().to_string().chars().take(8).collect()
}

fn fixed(value: Option<f64>, decimals: usize) -> String {
    value.map_or_else(|| "—".to_owned(), |v| format!("{v:.decimals$}"))
}

fn percent(share: Option<f64>) -> String {
    share.map_or_else(|| "—".to_owned(), |s| format!("{:.0}%", s * 100.0))
}

fn mean_with_ci(m: &MeanWithCi) -> String {
    match (m.mean, m.ci_lower, m.ci_upper) {
        (Some(mean), Some(low), Some(high)) => format!("{mean:.1} (95% CI {low:.1} to {high:.1}; n {})", m.n),
        (Some(mean), _, _) => format!("{mean:.1} (n {})", m.n),
        _ => "— (n 0)".to_owned(),
    }
}

fn difference(d: Option<&DifferenceWithCi>) -> String {
    d.map_or_else(
        || "—".to_owned(),
        |d| format!("{:+.2} (95% CI {:+.2} to {:+.2})", d.difference, d.ci_lower, d.ci_upper),
    )
}

fn words(code: &str) -> String {
    let spaced = code.replace('_', " ");
    let mut chars = spaced.chars();
    chars.next().map(|first| first.to_uppercase().chain(chars).collect()).unwrap_or_default()
}

/// An area's code (`srs:goals_topics`, `wai:bond`) as a heading: `SRS: goals topics`.
fn area_words(code: &str) -> String {
    match code.split_once(':') {
        Some((instrument, item)) => format!("{}: {}", instrument.to_uppercase(), item.replace('_', " ")),
        None => words(code),
    }
}

pub fn render(report: &Report<'_>) -> String {
    let mut page = String::with_capacity(32 * 1024);
    let who = report.clinician_name.map_or_else(|| report.clinician_id.to_string(), str::to_owned);
    let _ = write!(
        page,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>Supervision report: {who}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<main>\n\
         <h1>Supervision report</h1>\n<p>Clinician: <strong>{who}</strong><br>Period: {from} to {to} \
         (UTC, the end excluded)<br><span class=\"note\">Made {made} by Rapport. Methods: \
         docs/methodology.md.</span></p>\n",
        who = escape(&who),
        from = report.from.format("%Y-%m-%d"),
        to = report.to.format("%Y-%m-%d"),
        made = report.generated_at.format("%Y-%m-%d %H:%M UTC"),
    );
    let insights = report.insights;
    if insights.low_reliability {
        page.push_str(
            "<p class=\"warn\">Few distinct clients in this period: every figure below has a wide margin \
             of error. Read them as questions for supervision, not as findings.</p>\n",
        );
    }
    caseload(&mut page, insights);
    alliance(&mut page, insights);
    outcomes(&mut page, insights);
    areas(&mut page, insights, report.growth);
    signals(&mut page, report.signals);
    attention(&mut page, report.attention);
    page.push_str("</main>\n</body>\n</html>\n");
    page
}

fn caseload(page: &mut String, insights: &ClinicianInsights) {
    let v = &insights.volume;
    let _ = write!(
        page,
        "<h2>Caseload</h2>\n<dl><dt>Clients</dt><dd>{}</dd><dt>Episodes</dt><dd>{}</dd><dt>Sessions</dt><dd>{}</dd>\
         <dt>Sessions with an alliance rating</dt><dd>{}</dd></dl>\n",
        v.clients,
        v.episodes,
        v.sessions,
        percent(v.srs_completion_rate)
    );
}

fn alliance(page: &mut String, insights: &ClinicianInsights) {
    let a = &insights.alliance;
    let _ = write!(
        page,
        "<h2>Alliance</h2>\n<table><tbody>\
         <tr><th>Mean session rating</th><td class=\"num\">{}</td></tr>\
         <tr><th>Ratings below the cutoff</th><td class=\"num\">{}</td></tr>\
         <tr><th>Ruptures</th><td class=\"num\">{} ({} per 100 rated sessions)</td></tr>\
         <tr><th>Ruptures repaired</th><td class=\"num\">{}</td></tr>\
         <tr><th>Ratings at the ceiling (40 of 40)</th><td class=\"num\">{}</td></tr>\
         </tbody></table>\n",
        mean_with_ci(&a.mean_srs),
        percent(a.below_cutoff_share),
        a.ruptures,
        fixed(a.ruptures_per_100_sessions, 1),
        percent(a.repair_rate),
        percent(a.ceiling_share),
    );
    if !insights.agreement.is_empty() {
        page.push_str(
            "<h3>Client and therapist working alliance</h3>\n<table><thead><tr><th>Subscale</th>\
             <th class=\"num\">Sessions with both</th><th class=\"num\">Client − therapist (item mean)</th></tr>\
             </thead><tbody>",
        );
        for agreement in &insights.agreement {
            let _ = write!(
                page,
                "<tr><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
                escape(&words(&agreement.subscale)),
                agreement.n,
                fixed(agreement.mean_difference, 2)
            );
        }
        page.push_str("</tbody></table>\n");
    }
}

fn outcomes(page: &mut String, insights: &ClinicianInsights) {
    let o = &insights.outcomes;
    let _ = write!(
        page,
        "<h2>Outcomes</h2>\n<table><tbody>\
         <tr><th>Episodes with two or more ORS or CORS scores</th><td class=\"num\">{}</td></tr>\
         <tr><th>Recovered</th><td class=\"num\">{}</td></tr><tr><th>Improved</th><td class=\"num\">{}</td></tr>\
         <tr><th>No reliable change</th><td class=\"num\">{}</td></tr><tr><th>Deteriorated</th>\
         <td class=\"num\">{}</td></tr><tr><th>Mean change (intake to latest)</th><td class=\"num\">{}</td></tr>\
         <tr><th>Effect size (mean change ÷ SD at intake)</th><td class=\"num\">{}</td></tr>\
         </tbody></table>\n",
        o.episodes,
        percent(o.recovered),
        percent(o.improved),
        percent(o.unchanged),
        percent(o.deteriorated),
        mean_with_ci(&o.mean_change_with_ci),
        fixed(o.effect_size, 2),
    );
}

fn areas(page: &mut String, insights: &ClinicianInsights, growth: &TranscriptGrowth) {
    page.push_str("<h2>Areas for growth</h2>\n");
    match &insights.areas.area_for_growth {
        Some(area) => {
            let _ = writeln!(
                page,
                "<p>Named: <strong>{}</strong>. Its 95% interval lies entirely below the rest of the \
                 organization.</p>",
                escape(&area_words(area))
            );
        }
        None => page.push_str(
            "<p>None named: no item's or subscale's interval lies entirely below the rest of the \
             organization.</p>\n",
        ),
    }
    if !insights.areas.comparisons.is_empty() {
        page.push_str(
            "<table><thead><tr><th>Area</th><th class=\"num\">This clinician</th><th class=\"num\">Rest of the \
             organization</th><th class=\"num\">Difference</th></tr></thead><tbody>",
        );
        for c in &insights.areas.comparisons {
            let _ = write!(
                page,
                "<tr><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
                escape(&area_words(&c.area)),
                mean_with_ci(&c.clinician),
                mean_with_ci(&c.organization),
                difference(c.difference.as_ref())
            );
        }
        page.push_str("</tbody></table>\n");
    }
    let _ = write!(page, "<h3>From session transcripts</h3>\n<p class=\"note\">{} ", escape(growth.validity_note));
    if growth.low_reliability {
        let _ = writeln!(
            page,
            "No area is named below {} analysed sessions; this period has {}.</p>",
            growth.min_sessions, growth.sessions
        );
        return;
    }
    let _ = writeln!(page, "{} analysed sessions.</p>", growth.sessions);
    let flagged: Vec<_> = growth.areas.iter().filter(|a| a.flagged).collect();
    if flagged.is_empty() {
        page.push_str("<p>None named.</p>\n");
    }
    for area in flagged {
        let rule = serde_json::to_value(area.rule).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
        let _ = writeln!(
            page,
            "<p>Named: <strong>{}</strong>: {} against a threshold of {} (n {}).</p>",
            escape(&words(&rule)),
            fixed(area.value, 2),
            area.threshold,
            area.n
        );
    }
}

fn signals(page: &mut String, signals: &[Signal]) {
    page.push_str("<h2>Open signals</h2>\n");
    if signals.is_empty() {
        page.push_str("<p>No open signals.</p>\n");
        return;
    }
    page.push_str(
        "<table><thead><tr><th>Raised</th><th>Signal</th><th>Severity</th><th>Status</th><th>Episode</th></tr>\
         </thead><tbody>",
    );
    for signal in signals {
        let status = if signal.status == SignalStatus::Acknowledged { "acknowledged" } else { "open" };
        let _ = write!(
            page,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{status}</td><td><code>{}</code></td></tr>",
            signal.created_at.format("%Y-%m-%d"),
            escape(&words(signal.kind.as_str())),
            escape(signal.severity.as_str()),
            episode_label(signal.episode_id)
        );
    }
    page.push_str("</tbody></table>\n");
}

fn attention(page: &mut String, episodes: &[AttentionEpisode]) {
    page.push_str("<h2>Episodes that need attention</h2>\n");
    if episodes.is_empty() {
        page.push_str("<p>None: no open safety item, no episode off track, no rupture left unrepaired.</p>\n");
        return;
    }
    page.push_str("<div class=\"grid\">\n");
    for episode in episodes {
        let _ = writeln!(
            page,
            "<figure><figcaption>Episode <code>{}</code>: {}</figcaption>",
            episode_label(episode.episode_id),
            escape(&episode.reasons.join(", "))
        );
        for chart in &episode.charts {
            page.push_str(chart);
        }
        page.push_str("</figure>\n");
    }
    page.push_str("</div>\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_read_as_words() {
        assert_eq!(area_words("srs:goals_topics"), "SRS: goals topics");
        assert_eq!(area_words("wai:bond"), "WAI: bond");
        assert_eq!(words("safety_item"), "Safety item");
        assert_eq!(episode_label(Uuid::from_u128(0x0123_4567_89ab_cdef_0000_0000_0000_0000)), "01234567");
        assert_eq!(
            (percent(Some(0.125)), percent(None), fixed(Some(2.345), 1)),
            ("12%".into(), "—".into(), "2.3".into())
        );
    }
}
