//! A plot area: maps sessions and scores to SVG coordinates, and draws its grid, axes and
//! legend. The mapping is also written on the plot's `<g>` (`data-*`), so a reader (and the
//! tests) can turn any point's `y` back into its score.

use super::svg::{Shape, Svg, colour, num};

/// Width of every chart in SVG units (rendered at twice that in pixels by default).
pub const WIDTH: f64 = 360.0;
const LEFT: f64 = 34.0;
const RIGHT: f64 = 12.0;

#[derive(Clone, Copy, Debug)]
pub struct Plot {
    pub top: f64,
    pub height: f64,
    /// First and last session on the x axis.
    pub sessions: (i32, i32),
    /// The instrument's score range on the y axis.
    pub scores: (f64, f64),
}

impl Plot {
    pub fn new(top: f64, height: f64, sessions: (i32, i32), scores: (f64, f64)) -> Self {
        Self { top, height, sessions, scores }
    }

    pub fn left(&self) -> f64 {
        LEFT
    }

    pub fn right(&self) -> f64 {
        WIDTH - RIGHT
    }

    pub fn bottom(&self) -> f64 {
        self.top + self.height
    }

    /// x of a session: evenly spaced from the first to the last; a lone session in the middle.
    pub fn x(&self, session: i32) -> f64 {
        self.x_at(f64::from(session))
    }

    fn x_at(&self, session: f64) -> f64 {
        let (first, last) = (f64::from(self.sessions.0), f64::from(self.sessions.1));
        let span = last - first;
        if span <= 0.0 {
            return (self.left() + self.right()) / 2.0;
        }
        let inset = 8.0;
        self.left() + inset + (session - first) / span * (self.right() - self.left() - 2.0 * inset)
    }

    /// y of a score, clamped to the plot.
    pub fn y(&self, score: f64) -> f64 {
        let (low, high) = self.scores;
        let share = if high > low { ((score - low) / (high - low)).clamp(0.0, 1.0) } else { 0.5 };
        self.bottom() - share * self.height
    }

    /// The attributes that state the mapping, for the plot's group.
    pub fn data_attributes(&self, class: &str) -> String {
        format!(
            "class=\"{class}\" data-top=\"{}\" data-bottom=\"{}\" data-score-min=\"{}\" data-score-max=\"{}\"",
            num(self.top),
            num(self.bottom()),
            num(self.scores.0),
            num(self.scores.1),
        )
    }

    /// Grid lines and labels at "nice" score steps, session labels below, and the axis titles.
    pub fn axes(&self, svg: &mut Svg, y_title: &str, x_title: &str) {
        let (low, high) = self.scores;
        let step = nice_step(high - low, 5.0);
        let mut tick = (low / step).ceil() * step;
        while tick <= high + 1e-9 {
            let y = self.y(tick);
            svg.line((self.left(), y), (self.right(), y), colour::GRID, 0.5, None, "grid");
            svg.text((self.left() - 4.0, y + 4.0), 11.0, "end", colour::MUTED, &num(tick));
            tick += step;
        }
        svg.line((self.left(), self.bottom()), (self.right(), self.bottom()), colour::MUTED, 1.0, None, "axis");
        // At most about ten labels, whatever the session numbers (they come from callers).
        let (first, last) = (f64::from(self.sessions.0), f64::from(self.sessions.1));
        let every = nice_step(last - first + 1.0, 10.0).max(1.0);
        let mut tick = first;
        while tick <= last {
            // The last session is labelled unless a label sits too close to it.
            if last - tick >= every / 2.0 || tick == last {
                svg.text((self.x_at(tick), self.bottom() + 13.0), 11.0, "middle", colour::MUTED, &num(tick));
            }
            tick += every;
        }
        if (last - first) % every != 0.0 {
            svg.text((self.x_at(last), self.bottom() + 13.0), 11.0, "middle", colour::MUTED, &num(last));
        }
        svg.text((self.right(), self.bottom() + 26.0), 11.0, "end", colour::MUTED, x_title);
        svg.text((self.left() - 30.0, self.top - 7.0), 11.0, "start", colour::MUTED, y_title);
    }
}

/// The smallest of 1, 2, 5, 10, 20, 50… that cuts `range` into at most `most` steps.
fn nice_step(range: f64, most: f64) -> f64 {
    if !(range.is_finite() && most > 0.0) {
        return 1.0;
    }
    let mut magnitude = 1.0;
    loop {
        for factor in [1.0, 2.0, 5.0] {
            let step = factor * magnitude;
            if range / step <= most {
                return step;
            }
        }
        magnitude *= 10.0;
    }
}

/// One legend entry: a line (with its dash), a marker, or both.
pub struct LegendEntry<'a> {
    pub label: &'a str,
    pub colour: &'a str,
    pub line: Option<Option<&'a str>>,
    pub marker: Option<(Shape, bool)>,
}

impl<'a> LegendEntry<'a> {
    /// The client's series: a solid line with filled circles.
    pub fn series(label: &'a str) -> Self {
        Self { label, colour: colour::CLIENT, line: Some(None), marker: Some((Shape::Circle, true)) }
    }

    /// A dashed line (a cutoff, a band's median or edge).
    pub fn dashed(label: &'a str, colour: &'a str, dash: &'a str) -> Self {
        Self { label, colour, line: Some(Some(dash)), marker: None }
    }

    /// A marker alone (an event: a drop, a rupture, a status).
    pub fn mark(label: &'a str, colour: &'a str, shape: Shape, filled: bool) -> Self {
        Self { label, colour, line: None, marker: Some((shape, filled)) }
    }
}

/// Legend entries in rows under the plot from `top`; returns the y below the last row.
pub fn legend(svg: &mut Svg, top: f64, entries: &[LegendEntry<'_>]) -> f64 {
    let (mut x, mut y) = (LEFT - 24.0, top);
    for entry in entries {
        // About 6 units per character at font size 11.
        let width = 26.0 + entry.label.chars().count() as f64 * 6.0;
        if x + width > WIDTH - 4.0 {
            x = LEFT - 24.0;
            y += 15.0;
        }
        if let Some(dash) = entry.line {
            svg.line((x, y - 3.5), (x + 18.0, y - 3.5), entry.colour, 2.0, dash, "legend-line");
        }
        if let Some((shape, filled)) = entry.marker {
            let fill = if filled { entry.colour } else { "#FFFFFF" };
            svg.marker(shape, (x + 9.0, y - 3.5), 3.2, fill, entry.colour, "class=\"legend-marker\"", entry.label);
        }
        svg.text((x + 22.0, y), 11.0, "start", colour::TEXT, entry.label);
        x += width + 8.0;
    }
    y + 15.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_map_to_y_and_back() {
        let plot = Plot::new(30.0, 150.0, (1, 9), (0.0, 40.0));
        assert_eq!((plot.y(0.0), plot.y(40.0), plot.y(20.0)), (180.0, 30.0, 105.0));
        assert_eq!(plot.y(55.0), 30.0, "clamped");
        assert_eq!(plot.x(1), plot.left() + 8.0);
        assert_eq!(plot.x(9), plot.right() - 8.0);
        let lone = Plot::new(0.0, 10.0, (4, 4), (0.0, 40.0));
        assert_eq!(lone.x(4), (lone.left() + lone.right()) / 2.0);
    }

    #[test]
    fn far_apart_sessions_get_a_handful_of_labels() {
        let plot = Plot::new(30.0, 150.0, (1, 2_000_000_000), (0.0, 40.0));
        let mut svg = Svg::new(WIDTH, "t", "t", "d");
        plot.axes(&mut svg, "y", "session");
        let labels = svg.finish(300.0).matches("text-anchor=\"middle\"").count();
        assert!((2..=12).contains(&labels), "{labels} labels");
    }

    #[test]
    fn steps_are_round_numbers() {
        assert_eq!((nice_step(40.0, 5.0), nice_step(27.0, 5.0), nice_step(4.0, 5.0)), (10.0, 10.0, 1.0));
        assert_eq!((nice_step(21.0, 5.0), nice_step(12.0, 10.0), nice_step(30.0, 10.0)), (5.0, 2.0, 5.0));
    }
}
