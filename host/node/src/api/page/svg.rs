//! The page's two charts as inline SVG: no script, no image files, and
//! they scale to the width of a phone. Every mark is a link to its entry
//! and carries a `<title>` that browsers show as a tooltip and screen
//! readers read.

use maud::{Markup, html};

use super::text::Text;

const W: f64 = 640.0;
const H: f64 = 320.0;
const LEFT: f64 = 88.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 30.0;
const BOTTOM: f64 = 44.0;

/// One mark.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    /// Horizontal value.
    pub x: f64,
    /// Vertical value.
    pub y: f64,
    /// Tooltip text (outside text: cleaned when rendered).
    pub label: String,
    /// Where the mark links.
    pub href: String,
}

/// An axis: the metric's name and which way is better.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Axis {
    /// Metric name.
    pub name: String,
    /// Larger is better.
    pub maximize: bool,
}

impl Axis {
    fn caption(&self) -> String {
        format!(
            "{} ({} is better)",
            self.name,
            if self.maximize { "higher" } else { "lower" }
        )
    }
}

/// Maps a value range onto a pixel range; a flat range is widened so a
/// single point sits in the middle instead of dividing by zero.
#[derive(Debug, Clone, Copy)]
struct Scale {
    lo: f64,
    hi: f64,
    from: f64,
    to: f64,
}

impl Scale {
    fn new(values: impl Iterator<Item = f64>, from: f64, to: f64) -> Scale {
        let (mut lo, mut hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
        if !lo.is_finite() || !hi.is_finite() {
            (lo, hi) = (0.0, 1.0);
        }
        if hi - lo <= f64::EPSILON * hi.abs().max(1.0) {
            let pad = (hi.abs() * 0.1).max(1.0);
            (lo, hi) = (lo - pad, hi + pad);
        } else {
            // Marks at the extremes stay clear of the axes.
            let pad = (hi - lo) * 0.06;
            (lo, hi) = (lo - pad, hi + pad);
        }
        Scale { lo, hi, from, to }
    }

    fn at(&self, v: f64) -> f64 {
        self.from + (v - self.lo) / (self.hi - self.lo) * (self.to - self.from)
    }
}

/// Indices of the points no other point beats on both axes (the 2-D
/// Pareto frontier), in increasing `x`.
pub fn frontier(points: &[Point], x: &Axis, y: &Axis) -> Vec<usize> {
    let better = |a: f64, b: f64, max: bool| if max { a > b } else { a < b };
    let no_worse = |a: f64, b: f64, max: bool| if max { a >= b } else { a <= b };
    let dominates = |a: &Point, b: &Point| {
        no_worse(a.x, b.x, x.maximize)
            && no_worse(a.y, b.y, y.maximize)
            && (better(a.x, b.x, x.maximize) || better(a.y, b.y, y.maximize))
    };
    let mut on: Vec<usize> = (0..points.len())
        .filter(|&i| !points.iter().any(|q| dominates(q, &points[i])))
        .collect();
    on.sort_by(|&a, &b| points[a].x.total_cmp(&points[b].x));
    on
}

/// Short numbers for axis labels and tooltips.
pub fn num(v: f64) -> String {
    if v.abs() >= 1e6 || (v != 0.0 && v.abs() < 1e-3) {
        format!("{v:.3e}")
    } else {
        format!("{v:.4}")
    }
}

fn px(v: f64) -> String {
    format!("{v:.1}")
}

/// Scatter of `points` with the frontier drawn as a line through its
/// members.
pub fn scatter(points: &[Point], x: &Axis, y: &Axis, title: &str) -> Markup {
    let sx = Scale::new(points.iter().map(|p| p.x), LEFT, W - RIGHT);
    let sy = Scale::new(points.iter().map(|p| p.y), H - BOTTOM, TOP);
    let front = frontier(points, x, y);
    let line: Vec<String> = front
        .iter()
        .map(|&i| format!("{},{}", px(sx.at(points[i].x)), px(sy.at(points[i].y))))
        .collect();
    html! {
        svg.chart viewBox={"0 0 " (W) " " (H)} role="img" aria-label=(title) {
            title { (title) }
            (frame(&sx, &sy, &x.caption(), &y.caption(), num))
            @if line.len() > 1 {
                polyline.front points=(line.join(" ")) {}
            }
            @for (i, p) in points.iter().enumerate() {
                a href=(p.href) {
                    circle class=(if front.contains(&i) { "dot on" } else { "dot" })
                        cx=(px(sx.at(p.x))) cy=(px(sy.at(p.y))) r="5" {
                        title { (Text(&p.label)) ": " (x.name) " " (num(p.x)) ", " (y.name) " " (num(p.y)) }
                    }
                }
            }
        }
    }
}

/// The best score so far as a step line over time: one step per entry
/// that took the lead, held until the next one (or until `until_ms`).
pub fn steps(points: &[Point], until_ms: f64, y_name: &str, title: &str) -> Markup {
    let end = points.last().map_or(until_ms, |p| p.x.max(until_ms));
    let sx = Scale::new(points.iter().map(|p| p.x).chain([end]), LEFT, W - RIGHT);
    let sy = Scale::new(points.iter().map(|p| p.y), H - BOTTOM, TOP);
    let mut d = String::new();
    for (i, p) in points.iter().enumerate() {
        let (x, y) = (px(sx.at(p.x)), px(sy.at(p.y)));
        if i == 0 {
            d.push_str(&format!("M{x} {y}"));
        } else {
            d.push_str(&format!(" H{x} V{y}"));
        }
    }
    if !points.is_empty() {
        d.push_str(&format!(" H{}", px(sx.at(end))));
    }
    let date = |ms: f64| crate::runtime::timefmt::utc(ms.max(0.0) as u64 / 1000);
    html! {
        svg.chart viewBox={"0 0 " (W) " " (H)} role="img" aria-label=(title) {
            title { (title) }
            (frame(&sx, &sy, "time (UTC)", y_name, date))
            path.best d=(d) {}
            @for p in points {
                a href=(p.href) {
                    circle.dot.on cx=(px(sx.at(p.x))) cy=(px(sy.at(p.y))) r="4" {
                        title { (Text(&p.label)) ": " (num(p.y)) " at " (date(p.x)) }
                    }
                }
            }
        }
    }
}

/// Axes, their end labels and captions.
fn frame(
    sx: &Scale,
    sy: &Scale,
    x_caption: &str,
    y_caption: &str,
    xfmt: impl Fn(f64) -> String,
) -> Markup {
    let (x0, x1, y0, y1) = (LEFT, W - RIGHT, H - BOTTOM, TOP);
    html! {
        g.axes {
            line x1=(px(x0)) y1=(px(y0)) x2=(px(x1)) y2=(px(y0)) {}
            line x1=(px(x0)) y1=(px(y0)) x2=(px(x0)) y2=(px(y1)) {}
            text x=(px(x0)) y=(px(y0 + 16.0)) { (xfmt(sx.lo)) }
            text x=(px(x1)) y=(px(y0 + 16.0)) text-anchor="end" { (xfmt(sx.hi)) }
            text x=(px((x0 + x1) / 2.0)) y=(px(H - 6.0)) text-anchor="middle" { (x_caption) }
            text x=(px(x0 - 6.0)) y=(px(y0)) text-anchor="end" { (num(sy.lo)) }
            text x=(px(x0 - 6.0)) y=(px(y1 + 10.0)) text-anchor="end" { (num(sy.hi)) }
            text x=(px(x0)) y="18" { (y_caption) }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(x: f64, y: f64) -> Point {
        Point {
            x,
            y,
            label: format!("{x},{y}"),
            href: "/".into(),
        }
    }

    #[test]
    fn the_frontier_keeps_exactly_the_undominated_points() {
        let reward = Axis {
            name: "reward".into(),
            maximize: true,
        };
        let risk = Axis {
            name: "risk".into(),
            maximize: false,
        };
        // (reward, risk): (3,3) and (1,1) trade off; (2,4) loses to (3,3);
        // (1,2) loses to (1,1).
        let pts = [p(3.0, 3.0), p(2.0, 4.0), p(1.0, 1.0), p(1.0, 2.0)];
        assert_eq!(frontier(&pts, &reward, &risk), vec![2, 0]);
    }

    #[test]
    fn equal_points_are_both_on_the_frontier() {
        let a = Axis {
            name: "a".into(),
            maximize: true,
        };
        let pts = [p(1.0, 1.0), p(1.0, 1.0)];
        assert_eq!(frontier(&pts, &a, &a).len(), 2);
    }

    #[test]
    fn a_single_point_or_a_flat_series_is_drawn_inside_the_plot() {
        let s = Scale::new([5.0].into_iter(), LEFT, W - RIGHT);
        let x = s.at(5.0);
        assert!(x > LEFT && x < W - RIGHT, "{x}");
        let s = Scale::new(std::iter::empty(), 0.0, 10.0);
        assert!(s.at(0.5).is_finite());
    }

    #[test]
    fn the_scatter_links_every_point_and_marks_the_frontier() {
        let a = Axis {
            name: "reward".into(),
            maximize: true,
        };
        let b = Axis {
            name: "risk".into(),
            maximize: false,
        };
        let svg = scatter(&[p(1.0, 1.0), p(0.5, 2.0)], &a, &b, "t").into_string();
        assert_eq!(svg.matches("<a href").count(), 2);
        assert_eq!(svg.matches("class=\"dot on\"").count(), 1);
    }

    #[test]
    fn the_best_score_line_steps_at_each_new_leader_and_runs_to_the_end() {
        let svg = steps(&[p(0.0, 1.0), p(10.0, 2.0)], 20.0, "score", "t").into_string();
        let d = svg.split("d=\"").nth(1).unwrap().split('"').next().unwrap();
        assert_eq!(d.matches('H').count(), 2, "{d}");
        assert_eq!(d.matches('V').count(), 1, "{d}");
    }
}
