//! The report's two plots as inline SVG, drawn with integer geometry (every coordinate a whole
//! pixel, so the same report gives the same bytes): discrepancies recorded per bucket stacked
//! by class, and discrepancies open over time as a step line. Each has a y axis with round
//! ticks, time ticks on round minutes, hours or days, and `<title>` tooltips (a browser shows
//! them without any script).

use std::fmt::Write;

use tianping_ledger::DiscrepancyClass;

use super::collect::{CLASSES, Report};
use super::period::{BucketUnit, Buckets};
use crate::evidence::instant_text;

/// Each class's colour (the Okabe–Ito palette: told apart with the common colour-vision
/// deficiencies), by the class's numeric value; the HTML tables use the same.
pub const CLASS_COLOURS: [&str; CLASSES] =
    ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9"];

/// The widest the bars together may be, in pixels.
const PLOT_WIDTH_MAX: u64 = 880;
/// The widest one bar may be: a single bucket stays a bar, not a wall.
const BAR_WIDTH_MAX: u64 = 48;
/// The plot area's height, in pixels.
const PLOT_HEIGHT: u64 = 220;
/// Room for the y axis labels.
const MARGIN_LEFT: u64 = 64;
/// Room right of the plot for the last time label.
const MARGIN_RIGHT: u64 = 48;
/// Room above the plot for the top tick label.
const MARGIN_TOP: u64 = 12;
/// Room below the plot for the time labels.
const MARGIN_BOTTOM: u64 = 32;
/// The legend's rows below the time labels: two rows of three classes.
const LEGEND_HEIGHT: u64 = 44;
/// One legend entry's width.
const LEGEND_ENTRY_WIDTH: u64 = 200;
/// Most y ticks above zero.
const Y_TICKS_MAX: u64 = 5;
/// Pixels per character of a tick label, for keeping time labels apart.
const LABEL_CHAR_WIDTH: u64 = 7;

/// An axis from 0 to `top` with a tick every `step`: `step` is 1, 2 or 5 times a power of ten,
/// the smallest that needs at most five ticks for `max`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Axis {
    /// The value at the top of the plot.
    pub top: u64,
    /// Between two ticks.
    pub step: u64,
}

impl Axis {
    /// The axis for values up to `max` (an empty plot gets 0..1).
    pub fn for_max(max: u64) -> Axis {
        let mut power: u64 = 1;
        loop {
            for factor in [1, 2, 5] {
                let Some(step) = power.checked_mul(factor) else {
                    return Axis { top: max.max(1), step: max.max(1) };
                };
                let ticks = max.div_ceil(step).max(1);
                if ticks <= Y_TICKS_MAX {
                    return match ticks.checked_mul(step) {
                        Some(top) => Axis { top, step },
                        None => Axis { top: max, step: max },
                    };
                }
            }
            power = match power.checked_mul(10) {
                Some(next) => next,
                None => return Axis { top: max.max(1), step: max.max(1) },
            };
        }
    }

    /// The y pixel of `value` (0..=top) in a plot whose bottom is at `bottom`.
    fn y(self, value: u128, bottom: u64) -> u64 {
        let top = u128::from(self.top.max(1));
        let lifted = value.min(top) * u128::from(PLOT_HEIGHT) / top;
        // `lifted <= PLOT_HEIGHT`, so it fits and the subtraction stays inside the plot.
        bottom - u64::try_from(lifted).unwrap_or(PLOT_HEIGHT)
    }
}

/// Where the bars go: one column of `bar` pixels per bucket.
#[derive(Clone, Copy)]
struct Frame {
    buckets: Buckets,
    bar: u64,
    plot_width: u64,
    bottom: u64,
}

impl Frame {
    fn new(buckets: Buckets) -> Frame {
        let count = u64::try_from(buckets.count()).unwrap_or(u64::MAX).max(1);
        let bar = (PLOT_WIDTH_MAX / count).clamp(1, BAR_WIDTH_MAX);
        Frame { buckets, bar, plot_width: bar * count, bottom: MARGIN_TOP + PLOT_HEIGHT }
    }

    fn x(self, index: usize) -> u64 {
        MARGIN_LEFT + self.bar * u64::try_from(index).unwrap_or(0)
    }

    fn width(self) -> u64 {
        (MARGIN_LEFT + self.plot_width + MARGIN_RIGHT).max(MARGIN_LEFT + 3 * LEGEND_ENTRY_WIDTH)
    }
}

/// A time label's text for a bucket boundary, by unit: `16:05`, `11-24 16:00`, `2025-11-24`.
pub fn time_label(at: u64, unit: BucketUnit) -> String {
    let text = instant_text(at);
    let part = |range: std::ops::Range<usize>| text.get(range).unwrap_or_default().to_owned();
    match unit {
        BucketUnit::Minute => part(11..16),
        BucketUnit::Hour => format!("{} {}", part(5..10), part(11..16)),
        BucketUnit::Day => part(0..10),
    }
}

/// How many buckets apart time labels are: the first of a few round spacings that leaves each
/// label room for its text.
fn label_every(frame: Frame) -> u64 {
    let (spacings, chars): (&[u64], u64) = match frame.buckets.unit() {
        BucketUnit::Minute => (&[1, 2, 5, 10, 15, 30, 60, 120, 180, 360], 5),
        BucketUnit::Hour => (&[1, 2, 3, 6, 12, 24, 48, 72, 168, 336], 11),
        BucketUnit::Day => (&[1, 2, 7, 14, 28, 56, 91, 182, 364], 10),
    };
    let room = chars * LABEL_CHAR_WIDTH + 2 * LABEL_CHAR_WIDTH;
    spacings.iter().copied().find(|&every| every * frame.bar >= room).unwrap_or(366)
}

fn open_svg(out: &mut String, frame: Frame, label: &str) {
    let height = frame.bottom + MARGIN_BOTTOM + LEGEND_HEIGHT;
    let width = frame.width();
    let _ = write!(
        out,
        r#"<svg class="plot" role="img" aria-label="{label}" width="{width}" height="{height}" viewBox="0 0 {width} {height}">"#
    );
}

/// The y axis: grid lines and labels at each tick, and the axis line.
fn y_axis(out: &mut String, frame: Frame, axis: Axis) {
    let right = MARGIN_LEFT + frame.plot_width;
    let mut value = 0;
    while value <= axis.top {
        let y = axis.y(u128::from(value), frame.bottom);
        let _ = write!(
            out,
            r#"<line class="grid" x1="{MARGIN_LEFT}" y1="{y}" x2="{right}" y2="{y}"/><text class="tick" x="{}" y="{}" text-anchor="end">{value}</text>"#,
            MARGIN_LEFT - 6,
            y + 4
        );
        value = match value.checked_add(axis.step) {
            Some(next) if axis.step > 0 => next,
            _ => break,
        };
    }
    let _ = write!(
        out,
        r#"<line class="axis" x1="{MARGIN_LEFT}" y1="{MARGIN_TOP}" x2="{MARGIN_LEFT}" y2="{}"/><line class="axis" x1="{MARGIN_LEFT}" y1="{}" x2="{right}" y2="{}"/>"#,
        frame.bottom, frame.bottom, frame.bottom
    );
}

/// The time axis: a tick and a label at every round boundary.
fn time_axis(out: &mut String, frame: Frame) {
    let every = label_every(frame);
    let width = frame.buckets.unit().width_ns();
    for index in 0..=frame.buckets.count() {
        let Some(at) = frame.buckets.bucket_start(index) else { continue };
        if !(at / width).is_multiple_of(every) {
            continue;
        }
        let x = frame.x(index);
        let _ = write!(
            out,
            r#"<line class="axis" x1="{x}" y1="{}" x2="{x}" y2="{}"/><text class="tick" x="{x}" y="{}" text-anchor="middle">{}</text>"#,
            frame.bottom,
            frame.bottom + 5,
            frame.bottom + 18,
            time_label(at, frame.buckets.unit())
        );
    }
}

fn legend(out: &mut String, frame: Frame, totals: &[u64; CLASSES]) {
    for (index, class) in DiscrepancyClass::ALL.into_iter().enumerate() {
        let column = u64::try_from(index % 3).unwrap_or(0);
        let row = u64::try_from(index / 3).unwrap_or(0);
        let x = MARGIN_LEFT + column * LEGEND_ENTRY_WIDTH;
        let y = frame.bottom + MARGIN_BOTTOM + row * 20;
        let _ = write!(
            out,
            r#"<rect class="swatch" x="{x}" y="{y}" width="12" height="12" fill="{}"/><text class="legend" x="{}" y="{}">{} ({})</text>"#,
            CLASS_COLOURS[index],
            x + 18,
            y + 11,
            class.name(),
            totals[index]
        );
    }
}

/// Discrepancies recorded per bucket, one bar per bucket, stacked by class in the classes'
/// numeric order from the bottom, with a legend giving each class's total.
pub fn recorded_plot(report: &Report) -> String {
    let frame = Frame::new(report.buckets);
    let mut totals = [0u64; CLASSES];
    let mut max = 0u64;
    for counts in &report.recorded_per_bucket {
        let mut stacked = 0u64;
        for (total, &count) in totals.iter_mut().zip(counts) {
            *total = total.saturating_add(count);
            stacked = stacked.saturating_add(count);
        }
        max = max.max(stacked);
    }
    let axis = Axis::for_max(max);
    let unit = report.buckets.unit().name();
    let mut out = String::new();
    open_svg(&mut out, frame, &format!("discrepancies recorded per {unit}, by class"));
    y_axis(&mut out, frame, axis);
    let gap = u64::from(frame.bar >= 4);
    for (index, counts) in report.recorded_per_bucket.iter().enumerate() {
        let Some(at) = report.buckets.bucket_start(index) else { continue };
        let x = frame.x(index) + gap;
        let mut below: u128 = 0;
        for (class_index, &count) in counts.iter().enumerate() {
            let above = below + u128::from(count);
            let (top, bottom) = (axis.y(above, frame.bottom), axis.y(below, frame.bottom));
            below = above;
            if count == 0 || top == bottom {
                continue;
            }
            let _ = write!(
                out,
                r#"<rect class="bar" x="{x}" y="{top}" width="{}" height="{}" fill="{}"><title>{} {}: {count}</title></rect>"#,
                frame.bar - gap,
                bottom - top,
                CLASS_COLOURS[class_index],
                instant_text(at),
                DiscrepancyClass::ALL[class_index].name()
            );
        }
    }
    time_axis(&mut out, frame);
    legend(&mut out, frame, &totals);
    out.push_str("</svg>");
    out
}

/// Discrepancies open over time: a step line from the count open when the period began,
/// changing at each bucket's end to the count open then.
pub fn open_plot(report: &Report) -> String {
    let frame = Frame::new(report.buckets);
    let start = report.figures.open_at_start;
    let max = report.open_per_bucket.iter().copied().fold(start, u64::max);
    let axis = Axis::for_max(max);
    let mut out = String::new();
    open_svg(&mut out, frame, "discrepancies open over time");
    y_axis(&mut out, frame, axis);
    let mut path = format!("M{} {}", frame.x(0), axis.y(u128::from(start), frame.bottom));
    for (index, &open) in report.open_per_bucket.iter().enumerate() {
        let _ =
            write!(path, " H{} V{}", frame.x(index + 1), axis.y(u128::from(open), frame.bottom));
    }
    let _ = write!(out, r#"<path class="step" d="{path}" fill="none"/>"#);
    for (index, &open) in report.open_per_bucket.iter().enumerate() {
        let Some(end) = report.buckets.bucket_start(index + 1) else { continue };
        let end = end.min(report.header.period.until());
        let _ = write!(
            out,
            r#"<circle class="point" cx="{}" cy="{}" r="2"><title>{}: {open} open</title></circle>"#,
            frame.x(index + 1),
            axis.y(u128::from(open), frame.bottom),
            instant_text(end)
        );
    }
    time_axis(&mut out, frame);
    let _ = write!(
        out,
        r#"<text class="legend" x="{MARGIN_LEFT}" y="{}">open when the period began: {start}; now: {}</text>"#,
        frame.bottom + MARGIN_BOTTOM + 11,
        report.figures.open_now
    );
    out.push_str("</svg>");
    out
}
