//! A small SVG writer: the document frame (with its `<title>` and `<desc>`), escaped text, and
//! numbers printed with one decimal so that the same data gives the same bytes.
//!
//! Only presentation attributes are used (no `style`), so the charts render under a
//! Content-Security-Policy that allows no inline style, inside `<img>` as well as inline in the
//! supervision report.

use std::fmt::Write;

/// The Okabe–Ito palette (Okabe & Ito 2008): told apart with every common colour-vision
/// deficiency. Each series also differs by marker shape and dash (docs/methodology.md, section 15).
pub mod colour {
    /// The client's ratings.
    pub const CLIENT: &str = "#0072B2";
    /// The therapist's ratings.
    pub const THERAPIST: &str = "#000000";
    /// Cutoff lines. The browser test looks for this colour at the cutoff's height.
    pub const CUTOFF: &str = "#CC79A7";
    pub const DROP: &str = "#E69F00";
    pub const RUPTURE: &str = "#D55E00";
    pub const REPAIR: &str = "#009E73";
    /// The expected-response band.
    pub const EXPECTED: &str = "#56B4E9";
    pub const GRID: &str = "#D9D9D9";
    pub const TEXT: &str = "#222222";
    pub const MUTED: &str = "#595959";
}

/// Escapes text for an XML text node or a quoted attribute.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            // Control characters are not allowed in XML 1.0; stored text never has them, but a
            // chart must stay well-formed whatever it is given.
            c if c.is_control() && !matches!(c, '\n' | '\t') => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// One decimal, never `-0.0`: coordinates and the numbers in descriptions.
pub fn num(value: f64) -> String {
    let rounded = (value * 10.0).round() / 10.0;
    if rounded == 0.0 { "0".to_owned() } else { format!("{}", rounded) }
}

/// A score as people read it: whole numbers without decimals, others with one.
pub fn score(value: f64) -> String {
    let rounded = (value * 10.0).round() / 10.0;
    if rounded.fract() == 0.0 { format!("{rounded:.0}") } else { format!("{rounded:.1}") }
}

/// A marker's shape. Shapes, not only colours, tell the series and events apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    Circle,
    Square,
    Diamond,
    TriangleUp,
    TriangleDown,
}

/// An SVG document being written. Its height is known only at the end, when the layout is done.
pub struct Svg {
    out: String,
    head: String,
    pub width: f64,
}

impl Svg {
    /// Opens the document; `title` and `desc` are what a screen reader announces. `id` makes
    /// their element ids unique where several charts share a page (the report).
    pub fn new(width: f64, id: &str, title: &str, desc: &str) -> Self {
        let head = format!(
            "role=\"img\" aria-labelledby=\"{id}-title {id}-desc\" font-family=\"Helvetica, Arial, sans-serif\">\n\
             <title id=\"{id}-title\">{title}</title>\n<desc id=\"{id}-desc\">{desc}</desc>\n",
            id = escape(id),
            title = escape(title),
            desc = escape(desc),
        );
        Self { out: String::with_capacity(8 * 1024), head, width }
    }

    /// Raw markup the caller has already escaped.
    pub fn raw(&mut self, markup: &str) {
        self.out.push_str(markup);
    }

    pub fn open_group(&mut self, attributes: &str) {
        let _ = writeln!(self.out, "<g {attributes}>");
    }

    pub fn close_group(&mut self) {
        self.out.push_str("</g>\n");
    }

    #[allow(clippy::too_many_arguments)]
    pub fn line(
        &mut self,
        from: (f64, f64),
        to: (f64, f64),
        stroke: &str,
        width: f64,
        dash: Option<&str>,
        class: &str,
    ) {
        let _ = writeln!(
            self.out,
            "<line class=\"{class}\" x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"{stroke}\" stroke-width=\"{}\"{}/>",
            num(from.0),
            num(from.1),
            num(to.0),
            num(to.1),
            num(width),
            dash.map(|d| format!(" stroke-dasharray=\"{d}\"")).unwrap_or_default(),
        );
    }

    pub fn polyline(&mut self, points: &[(f64, f64)], stroke: &str, dash: Option<&str>, class: &str) {
        if points.len() < 2 {
            return;
        }
        let coordinates: Vec<String> = points.iter().map(|(x, y)| format!("{},{}", num(*x), num(*y))).collect();
        let _ = writeln!(
            self.out,
            "<polyline class=\"{class}\" points=\"{}\" fill=\"none\" stroke=\"{stroke}\" stroke-width=\"2\" \
             stroke-linejoin=\"round\"{}/>",
            coordinates.join(" "),
            dash.map(|d| format!(" stroke-dasharray=\"{d}\"")).unwrap_or_default(),
        );
    }

    /// A filled area between two curves given left to right (`upper` and `lower` at the same x).
    pub fn band(&mut self, upper: &[(f64, f64)], lower: &[(f64, f64)], fill: &str, opacity: f64, class: &str) {
        if upper.is_empty() {
            return;
        }
        let coordinates: Vec<String> =
            upper.iter().chain(lower.iter().rev()).map(|(x, y)| format!("{},{}", num(*x), num(*y))).collect();
        let _ = writeln!(
            self.out,
            "<polygon class=\"{class}\" points=\"{}\" fill=\"{fill}\" fill-opacity=\"{}\" stroke=\"none\"/>",
            coordinates.join(" "),
            num(opacity),
        );
    }

    pub fn rect(&mut self, corner: (f64, f64), size: (f64, f64), fill: &str, opacity: f64, class: &str) {
        let _ = writeln!(
            self.out,
            "<rect class=\"{class}\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"{fill}\" fill-opacity=\"{}\"/>",
            num(corner.0),
            num(corner.1),
            num(size.0),
            num(size.1),
            num(opacity),
        );
    }

    /// Text at `at`; `anchor` is `start`, `middle` or `end`.
    pub fn text(&mut self, at: (f64, f64), size: f64, anchor: &str, fill: &str, text: &str) {
        let _ = writeln!(
            self.out,
            "<text x=\"{}\" y=\"{}\" font-size=\"{}\" text-anchor=\"{anchor}\" fill=\"{fill}\">{}</text>",
            num(at.0),
            num(at.1),
            num(size),
            escape(text),
        );
    }

    /// Text with a white halo, legible over lines and bands (a cutoff's label).
    pub fn label(&mut self, at: (f64, f64), anchor: &str, text: &str) {
        let _ = writeln!(
            self.out,
            "<text x=\"{}\" y=\"{}\" font-size=\"11\" text-anchor=\"{anchor}\" fill=\"{}\" stroke=\"#FFFFFF\" \
             stroke-width=\"3\" paint-order=\"stroke\">{}</text>",
            num(at.0),
            num(at.1),
            colour::TEXT,
            escape(text),
        );
    }

    /// A marker centred on `at`, of radius about `r`. `attributes` (already escaped) and a
    /// tooltip `label` go on the element.
    #[allow(clippy::too_many_arguments)]
    pub fn marker(
        &mut self,
        shape: Shape,
        at: (f64, f64),
        r: f64,
        fill: &str,
        stroke: &str,
        attributes: &str,
        label: &str,
    ) {
        let (x, y) = at;
        let element = match shape {
            Shape::Circle => format!("<circle cx=\"{}\" cy=\"{}\" r=\"{}\"", num(x), num(y), num(r)),
            Shape::Square => format!(
                "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\"",
                num(x - r),
                num(y - r),
                num(2.0 * r),
                num(2.0 * r)
            ),
            Shape::Diamond => polygon(&[(x, y - r * 1.4), (x + r * 1.4, y), (x, y + r * 1.4), (x - r * 1.4, y)]),
            Shape::TriangleUp => polygon(&[(x, y - r * 1.3), (x + r * 1.2, y + r * 0.9), (x - r * 1.2, y + r * 0.9)]),
            Shape::TriangleDown => polygon(&[(x, y + r * 1.3), (x + r * 1.2, y - r * 0.9), (x - r * 1.2, y - r * 0.9)]),
        };
        let _ = writeln!(
            self.out,
            "{element} fill=\"{fill}\" stroke=\"{stroke}\" stroke-width=\"1.5\" {attributes}><title>{}</title></{}>",
            escape(label),
            match shape {
                Shape::Circle => "circle",
                Shape::Square => "rect",
                _ => "polygon",
            }
        );
    }

    /// Closes the document at `height`. It is drawn at twice its size in units by default;
    /// embedders scale it (it keeps its aspect ratio).
    pub fn finish(self, height: f64) -> String {
        let (w, h) = (num(self.width), num(height));
        format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" viewBox=\"0 0 {w} {h}\" width=\"{}\" \
             height=\"{}\" {}<rect x=\"0\" y=\"0\" width=\"{w}\" height=\"{h}\" fill=\"#FFFFFF\"/>\n{}</svg>\n",
            num(self.width * 2.0),
            num(height * 2.0),
            self.head,
            self.out
        )
    }
}

fn polygon(points: &[(f64, f64)]) -> String {
    let coordinates: Vec<String> = points.iter().map(|(x, y)| format!("{},{}", num(*x), num(*y))).collect();
    format!("<polygon points=\"{}\"", coordinates.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped_and_numbers_are_stable() {
        assert_eq!(escape(r#"<a & "b" 'c'>"#), "&lt;a &amp; &quot;b&quot; &#39;c&#39;&gt;");
        assert_eq!(escape("nul\u{0}"), "nul\u{FFFD}");
        assert_eq!(
            (num(-0.04), num(12.25), num(3.0), num(-1.96)),
            ("0".into(), "12.3".into(), "3".into(), "-2".into())
        );
        assert_eq!((score(36.0), score(34.45), score(9.96)), ("36".into(), "34.5".into(), "10".into()));
    }
}
