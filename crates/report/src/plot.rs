//! The report's charts, drawn with plotters twice: as SVG (inlined in the HTML) and as PNG
//! (twice the size, for slides and the Markdown report). The PNG text uses DejaVu Sans,
//! embedded in the binary, so no font needs to be installed.
//!
//! - visibility: eligible peer ASNs seeing the AS, stacked by upstream, with the visible and
//!   eligible lines and numbered event marks;
//! - prefixes: one row per prefix, coloured while it was visible;
//! - spam: the telemetry series, the matched-week baseline over each window compared, the
//!   event lines.
//!
//! All coordinates are UTC epoch seconds; every visibility point holds until the next.

use cutoff_core::timeline::VisibilityPoint;
use cutoff_correlate::telemetry::Series;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::collections::BTreeMap;

/// Width of every chart in CSS pixels; the PNG is `PNG_SCALE` times larger.
pub const WIDTH: u32 = 900;
pub const PNG_SCALE: u32 = 2;
/// Room for the y labels, the same in every chart so their time axes line up.
const Y_LABEL_W: f64 = 128.0;
const FONT: &str = "sans-serif";
static DEJAVU: &[u8] = include_bytes!("../../../assets/fonts/DejaVuSans.ttf");

/// A drawn chart: its SVG text, PNG bytes and what it shows.
#[derive(Debug, Clone)]
pub struct Chart {
    /// File name without extension (`visibility-AS26780`).
    pub stem: String,
    pub title: String,
    /// What the chart shows and how to read it (plain text).
    pub caption: String,
    pub svg: String,
    pub png: Vec<u8>,
    /// Size of the SVG; the PNG is `PNG_SCALE` times this.
    pub size: (u32, u32),
}

/// A vertical mark for an event, numbered as in the event table.
#[derive(Debug, Clone)]
pub struct Mark {
    pub time: i64,
    pub number: usize,
    pub color: RGBColor,
}

/// One entry of a chart's legend.
#[derive(Debug, Clone)]
enum Key {
    Fill(RGBColor, String),
    Line(RGBColor, String),
    Dashed(RGBColor, String),
}

pub fn hex(c: RGBColor) -> String {
    format!("#{:02x}{:02x}{:02x}", c.0, c.1, c.2)
}

/// Colour-blind-safe fills for upstreams, in order of first appearance.
pub const UPSTREAM_COLORS: [RGBColor; 8] = [
    RGBColor(0x56, 0xb4, 0xe9),
    RGBColor(0xe6, 0x9f, 0x00),
    RGBColor(0x00, 0x9e, 0x73),
    RGBColor(0xcc, 0x79, 0xa7),
    RGBColor(0x00, 0x72, 0xb2),
    RGBColor(0xf0, 0xe4, 0x42),
    RGBColor(0xd5, 0x5e, 0x00),
    RGBColor(0x8c, 0x8c, 0x8c),
];
const INK: RGBColor = RGBColor(0x22, 0x2b, 0x36);
const MUTED: RGBColor = RGBColor(0x6b, 0x72, 0x7b);
const GRID: RGBColor = RGBColor(0xe6, 0xe8, 0xeb);
const PREFIX_ON: RGBColor = RGBColor(0x1f, 0x6f, 0xb2);
const PREFIX_WEAK: RGBColor = RGBColor(0xa9, 0xcc, 0xe8);
const ROW_BG: RGBColor = RGBColor(0xf3, 0xf4, 0xf6);
const WINDOW_BG: RGBColor = RGBColor(0xfd, 0xf2, 0xd0);
const SPAM_LINE: RGBColor = RGBColor(0x34, 0x49, 0x5e);
const BASELINE: RGBColor = RGBColor(0xb0, 0x3a, 0x2e);

/// Colour of an event kind's mark (dark, so it stands out on the fills).
pub fn event_color(kind: &str) -> RGBColor {
    match kind {
        "disconnected" => RGBColor(0xc0, 0x39, 0x2b),
        "restored" => RGBColor(0x1e, 0x84, 0x49),
        "upstream_lost" => RGBColor(0xa0, 0x40, 0x00),
        "upstream_gained" => RGBColor(0x1a, 0x52, 0x76),
        "prefix_dark" => RGBColor(0x6c, 0x34, 0x83),
        _ => RGBColor(0x5d, 0x6d, 0x7e),
    }
}

fn err<E: std::fmt::Display>(e: E) -> String {
    format!("drawing a chart: {e}")
}

fn register_font() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // The bytes are our own embedded DejaVu Sans; `fonts_register` in the tests proves
        // they parse, and drawing text fails loudly (an error, not a panic) if they did not.
        let _ = plotters::style::register_font(FONT, FontStyle::Normal, DEJAVU);
    });
}

/// A chart that can draw itself on any backend at a scale.
trait Figure {
    /// Height at scale 1 (the width is [`WIDTH`]).
    fn height(&self) -> u32;
    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>, s: f64)
    -> Result<(), String>;
}

/// A figure drawn both ways: SVG text, PNG bytes, SVG size.
type Drawn = (String, Vec<u8>, (u32, u32));

fn render(fig: &impl Figure) -> Result<Drawn, String> {
    register_font();
    let size = (WIDTH, fig.height());
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        fig.draw(&root, 1.0)?;
        root.present().map_err(err)?;
    }
    let (w, h) = (size.0 * PNG_SCALE, size.1 * PNG_SCALE);
    let mut rgb = vec![0u8; (w * h * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, (w, h)).into_drawing_area();
        fig.draw(&root, f64::from(PNG_SCALE))?;
        root.present().map_err(err)?;
    }
    Ok((svg, encode_png(&rgb, w, h)?, size))
}

fn encode_png(rgb: &[u8], w: u32, h: u32) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, w, h);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        let mut writer = enc.write_header().map_err(err)?;
        writer.write_image_data(rgb).map_err(err)?;
    }
    Ok(out)
}

fn font(size: f64, s: f64, color: RGBColor) -> TextStyle<'static> {
    (FONT, size * s).into_font().color(&color)
}

/// Tick positions and label format for a UTC time axis: whole hours, days or weeks.
fn time_ticks(t0: i64, t1: i64) -> Vec<i64> {
    const H: i64 = 3600;
    const D: i64 = 86_400;
    let steps = [
        H,
        2 * H,
        3 * H,
        6 * H,
        12 * H,
        D,
        2 * D,
        7 * D,
        14 * D,
        28 * D,
    ];
    let span = (t1 - t0).max(1);
    let step = steps
        .iter()
        .copied()
        .find(|st| span / st <= 8)
        .unwrap_or(56 * D);
    // Weeks start on Monday: the epoch was a Thursday.
    let offset = if step >= 7 * D { 4 * D } else { 0 };
    let first = (t0 - offset).div_euclid(step) * step + offset;
    (0..)
        .map(|k| first + k * step)
        .skip_while(|t| *t < t0)
        .take_while(|t| *t <= t1)
        .collect()
}

/// `Nov 11` at midnight, `06:00` otherwise.
fn tick_label(t: i64) -> String {
    let Some(d) = chrono::DateTime::from_timestamp(t, 0) else {
        return t.to_string();
    };
    if t.rem_euclid(86_400) == 0 {
        d.format("%b %d").to_string()
    } else {
        d.format("%H:%M").to_string()
    }
}

/// Legend entries laid out in rows that fit the width: (row, x offset) per entry.
fn legend_layout(keys: &[Key]) -> (Vec<(usize, f64)>, usize) {
    register_font();
    let mut out = Vec::new();
    let (mut row, mut x) = (0usize, Y_LABEL_W);
    for k in keys {
        let text = match k {
            Key::Fill(_, t) | Key::Line(_, t) | Key::Dashed(_, t) => t,
        };
        let w = (FONT, 15.0)
            .into_font()
            .box_size(text)
            .map(|(w, _)| f64::from(w))
            .unwrap_or(7.0 * text.chars().count() as f64)
            + 40.0;
        if x + w > f64::from(WIDTH) - 10.0 && x > Y_LABEL_W {
            row += 1;
            x = Y_LABEL_W;
        }
        out.push((row, x));
        x += w;
    }
    let rows = if keys.is_empty() { 0 } else { row + 1 };
    (out, rows)
}

const LEGEND_ROW: f64 = 22.0;

fn draw_legend<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    keys: &[Key],
    s: f64,
) -> Result<(), String> {
    let (pos, _) = legend_layout(keys);
    for (k, (row, x)) in keys.iter().zip(pos) {
        let y = ((row as f64 * LEGEND_ROW + 6.0) * s) as i32;
        let x = (x * s) as i32;
        let (sw, sh) = ((22.0 * s) as i32, (12.0 * s) as i32);
        let text = match k {
            Key::Fill(c, t) => {
                area.draw(&Rectangle::new([(x, y), (x + sw, y + sh)], c.filled()))
                    .map_err(err)?;
                t
            }
            Key::Line(c, t) => {
                area.draw(&PathElement::new(
                    vec![(x, y + sh / 2), (x + sw, y + sh / 2)],
                    c.stroke_width((2.0 * s) as u32),
                ))
                .map_err(err)?;
                t
            }
            Key::Dashed(c, t) => {
                for i in 0..3 {
                    let a = x + i * sw / 3;
                    area.draw(&PathElement::new(
                        vec![(a, y + sh / 2), (a + sw / 5, y + sh / 2)],
                        c.stroke_width((2.0 * s) as u32),
                    ))
                    .map_err(err)?;
                }
                t
            }
        };
        area.draw(&Text::new(
            text.clone(),
            (x + sw + (6.0 * s) as i32, y + sh / 2),
            font(15.0, s, INK).pos(Pos::new(HPos::Left, VPos::Center)),
        ))
        .map_err(err)?;
    }
    Ok(())
}

/// Numbered labels for event marks at the top of a chart, staggered where they would touch.
fn draw_marks<DB: DrawingBackend, F: Fn(i64) -> i32>(
    area: &DrawingArea<DB, Shift>,
    marks: &[Mark],
    x_of: F,
    top: i32,
    bottom: i32,
    s: f64,
) -> Result<(), String> {
    let mut last_x: Vec<i32> = Vec::new();
    for m in marks {
        let x = x_of(m.time);
        area.draw(&PathElement::new(
            vec![(x, top), (x, bottom)],
            m.color.stroke_width((1.5 * s).round() as u32),
        ))
        .map_err(err)?;
        // Each label row remembers its last x; a label goes to the first row with room.
        let gap = (20.0 * s) as i32;
        let row = last_x
            .iter()
            .position(|lx| x - lx >= gap)
            .unwrap_or(last_x.len());
        if row == last_x.len() {
            last_x.push(x);
        } else {
            last_x[row] = x;
        }
        let y = top - (2.0 * s) as i32 - row as i32 * (17.0 * s) as i32;
        area.draw(&Text::new(
            m.number.to_string(),
            (x, y),
            font(14.0, s, m.color).pos(Pos::new(HPos::Center, VPos::Bottom)),
        ))
        .map_err(err)?;
    }
    Ok(())
}

/// The unit of the y axis, above its labels (horizontal, so it reads without tilting).
fn draw_unit<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    text: &str,
    (x, y): (i32, i32),
    s: f64,
) -> Result<(), String> {
    area.draw(&Text::new(
        text.to_string(),
        (x - (6.0 * s) as i32, y - (10.0 * s) as i32),
        font(13.0, s, MUTED).pos(Pos::new(HPos::Right, VPos::Bottom)),
    ))
    .map_err(err)
}

/// Room above the plot for staggered mark labels.
fn marks_room(marks: &[Mark], t0: i64, t1: i64) -> f64 {
    let px = |t: i64| (t - t0) as f64 / (t1 - t0).max(1) as f64 * (f64::from(WIDTH) - Y_LABEL_W);
    let mut rows: Vec<f64> = Vec::new();
    for m in marks {
        let x = px(m.time);
        match rows.iter().position(|lx| x - lx >= 20.0) {
            Some(r) => rows[r] = x,
            None => rows.push(x),
        }
    }
    10.0 + 17.0 * rows.len().max(1) as f64
}

/// Height of a chart: mark labels above, the plot, the time axis, the legend below.
fn chart_height(keys: &[Key], marks: &[Mark], span: (i64, i64), plot: f64) -> u32 {
    let (_, rows) = legend_layout(keys);
    (marks_room(marks, span.0, span.1) + plot + AXIS_H + rows as f64 * LEGEND_ROW + 8.0) as u32
}

// ---------------------------------------------------------------- visibility

/// Visibility of one AS, stacked by upstream.
pub struct Visibility<'a> {
    pub asn: u32,
    pub points: Vec<&'a VisibilityPoint>,
    pub span: (i64, i64),
    pub marks: Vec<Mark>,
    /// Upstream → (colour, legend label); upstreams not here are drawn as "other".
    pub upstreams: &'a BTreeMap<u32, (RGBColor, String)>,
    pub kinds: Vec<(RGBColor, String)>,
}

const PLOT_H: f64 = 300.0;
const AXIS_H: f64 = 36.0;

impl Visibility<'_> {
    fn keys(&self) -> Vec<Key> {
        let mut order: Vec<(&u32, &(RGBColor, String))> = self
            .upstreams
            .iter()
            .filter(|(u, _)| self.points.iter().any(|p| p.upstreams.contains_key(u)))
            .collect();
        order.sort_by_key(|(_, (c, _))| UPSTREAM_COLORS.iter().position(|x| x == c));
        let mut keys: Vec<Key> = order
            .into_iter()
            .map(|(_, (c, l))| Key::Fill(*c, format!("via {l}")))
            .collect();
        if self.has_other() {
            keys.push(Key::Fill(
                RGBColor(0xcf, 0xd3, 0xd8),
                "via other upstreams".into(),
            ));
        }
        keys.push(Key::Line(INK, "visible".into()));
        keys.push(Key::Dashed(MUTED, "eligible peers".into()));
        keys.extend(self.kinds.iter().map(|(c, k)| Key::Line(*c, k.clone())));
        keys
    }

    fn has_other(&self) -> bool {
        self.points
            .iter()
            .any(|p| p.upstreams.keys().any(|u| !self.upstreams.contains_key(u)))
    }

    /// Stacked bands: per point, the (bottom, top) of each upstream, "other" last.
    fn bands(&self) -> Vec<(RGBColor, Vec<(f64, f64)>)> {
        let mut order: Vec<(u32, RGBColor)> =
            self.upstreams.iter().map(|(u, (c, _))| (*u, *c)).collect();
        order.sort_by_key(|(_, c)| UPSTREAM_COLORS.iter().position(|x| x == c));
        let mut base = vec![0.0; self.points.len()];
        let mut bands = Vec::new();
        for (u, c) in order {
            let vals: Vec<f64> = self
                .points
                .iter()
                .map(|p| p.upstreams.get(&u).copied().unwrap_or(0) as f64)
                .collect();
            if vals.iter().all(|v| *v == 0.0) {
                continue;
            }
            bands.push((c, stack(&mut base, &vals)));
        }
        let other: Vec<f64> = self
            .points
            .iter()
            .map(|p| {
                p.upstreams
                    .iter()
                    .filter(|(u, _)| !self.upstreams.contains_key(u))
                    .map(|(_, n)| *n as f64)
                    .sum()
            })
            .collect();
        if other.iter().any(|v| *v > 0.0) {
            bands.push((RGBColor(0xcf, 0xd3, 0xd8), stack(&mut base, &other)));
        }
        bands
    }

    fn ends(&self) -> Vec<(i64, i64)> {
        step_ends(self.points.iter().map(|p| p.time.secs), self.span.1)
    }
}

fn stack(base: &mut [f64], vals: &[f64]) -> Vec<(f64, f64)> {
    base.iter_mut()
        .zip(vals)
        .map(|(b, v)| {
            let lo = *b;
            *b += v;
            (lo, *b)
        })
        .collect()
}

/// (start, end) of each step: a point holds until the next, the last until `end`.
fn step_ends(times: impl Iterator<Item = i64>, end: i64) -> Vec<(i64, i64)> {
    let t: Vec<i64> = times.collect();
    t.iter()
        .enumerate()
        .map(|(i, a)| (*a, t.get(i + 1).copied().unwrap_or(end).max(*a)))
        .collect()
}

impl Figure for Visibility<'_> {
    fn height(&self) -> u32 {
        chart_height(&self.keys(), &self.marks, self.span, PLOT_H)
    }

    fn draw<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
        s: f64,
    ) -> Result<(), String> {
        root.fill(&WHITE).map_err(err)?;
        let (t0, t1) = self.span;
        let top = marks_room(&self.marks, t0, t1);
        let (main, legend) = root.split_vertically(((top + PLOT_H + AXIS_H) * s) as u32);
        let ymax = self
            .points
            .iter()
            .map(|p| p.eligible.max(p.visible).max(p.upstreams.values().sum()))
            .max()
            .unwrap_or(1)
            .max(1) as f64
            * 1.05;
        let ticks = time_ticks(t0, t1);
        let mut chart = ChartBuilder::on(&main)
            .margin_top((top * s) as u32)
            .margin_right((16.0 * s) as u32)
            .x_label_area_size((AXIS_H * s) as u32)
            .y_label_area_size((Y_LABEL_W * s) as u32)
            .build_cartesian_2d((t0..t1).with_key_points(ticks), 0f64..ymax)
            .map_err(err)?;
        chart
            .configure_mesh()
            .bold_line_style(GRID)
            .light_line_style(TRANSPARENT)
            .axis_style(MUTED)
            .label_style(font(15.0, s, MUTED))
            .axis_desc_style(font(15.0, s, MUTED))
            .x_label_formatter(&|t| tick_label(*t))
            .y_label_formatter(&|v| format!("{v:.0}"))
            .y_labels(6)
            .x_desc("UTC")
            .draw()
            .map_err(err)?;
        let ends = self.ends();
        for (color, band) in self.bands() {
            let mut poly: Vec<(i64, f64)> = Vec::new();
            for ((a, b), (_, hi)) in ends.iter().zip(&band) {
                poly.push((*a, *hi));
                poly.push((*b, *hi));
            }
            for ((a, b), (lo, _)) in ends.iter().zip(&band).rev() {
                poly.push((*b, *lo));
                poly.push((*a, *lo));
            }
            chart
                .draw_series(std::iter::once(Polygon::new(poly, color.filled())))
                .map_err(err)?;
        }
        let line = |f: &dyn Fn(&VisibilityPoint) -> f64| -> Vec<(i64, f64)> {
            ends.iter()
                .zip(&self.points)
                .flat_map(|((a, b), p)| [(*a, f(p)), (*b, f(p))])
                .collect()
        };
        chart
            .draw_series(DashedLineSeries::new(
                line(&|p| p.eligible as f64),
                (5.0 * s) as i32,
                (4.0 * s) as i32,
                MUTED.stroke_width((1.5 * s) as u32),
            ))
            .map_err(err)?;
        chart
            .draw_series(LineSeries::new(
                line(&|p| p.visible as f64),
                INK.stroke_width((2.0 * s) as u32),
            ))
            .map_err(err)?;
        let (_, y_top) = chart.backend_coord(&(t0, ymax));
        let (_, y_bottom) = chart.backend_coord(&(t0, 0.0));
        draw_marks(
            root,
            &self.marks,
            |t| chart.backend_coord(&(t.clamp(t0, t1), 0.0)).0,
            y_top,
            y_bottom,
            s,
        )?;
        draw_unit(root, "peer ASNs", chart.backend_coord(&(t0, ymax)), s)?;
        draw_legend(&legend, &self.keys(), s)
    }
}

// ---------------------------------------------------------------- prefixes

/// Which prefixes of one AS were visible when.
pub struct Prefixes<'a> {
    pub points: Vec<&'a VisibilityPoint>,
    pub span: (i64, i64),
    pub marks: Vec<Mark>,
    /// The prefixes shown, top to bottom.
    pub rows: Vec<cutoff_core::model::Prefix>,
}

const ROW_H: f64 = 20.0;

impl Prefixes<'_> {
    fn keys() -> Vec<Key> {
        vec![
            Key::Fill(PREFIX_ON, "seen by at least half its most peers".into()),
            Key::Fill(PREFIX_WEAK, "seen by fewer".into()),
            Key::Fill(ROW_BG, "seen by none (dark)".into()),
        ]
    }
}

impl Figure for Prefixes<'_> {
    fn height(&self) -> u32 {
        chart_height(
            &Self::keys(),
            &self.marks,
            self.span,
            self.rows.len() as f64 * ROW_H,
        )
    }

    fn draw<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
        s: f64,
    ) -> Result<(), String> {
        root.fill(&WHITE).map_err(err)?;
        let (t0, t1) = self.span;
        let top = marks_room(&self.marks, t0, t1);
        let n = self.rows.len();
        let plot_h = n as f64 * ROW_H;
        let (main, legend) = root.split_vertically(((top + plot_h + AXIS_H) * s) as u32);
        let mut chart = ChartBuilder::on(&main)
            .margin_top((top * s) as u32)
            .margin_right((16.0 * s) as u32)
            .x_label_area_size((AXIS_H * s) as u32)
            .y_label_area_size((Y_LABEL_W * s) as u32)
            .build_cartesian_2d((t0..t1).with_key_points(time_ticks(t0, t1)), 0f64..n as f64)
            .map_err(err)?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .y_labels(0)
            .bold_line_style(GRID)
            .light_line_style(TRANSPARENT)
            .axis_style(MUTED)
            .label_style(font(15.0, s, MUTED))
            .axis_desc_style(font(15.0, s, MUTED))
            .x_label_formatter(&|t| tick_label(*t))
            .x_desc("UTC")
            .draw()
            .map_err(err)?;
        let ends = step_ends(self.points.iter().map(|p| p.time.secs), t1);
        for (r, prefix) in self.rows.iter().enumerate() {
            let (lo, hi) = ((n - r - 1) as f64 + 0.12, (n - r) as f64 - 0.12);
            chart
                .draw_series(std::iter::once(Rectangle::new(
                    [(t0, lo), (t1, hi)],
                    ROW_BG.filled(),
                )))
                .map_err(err)?;
            let peak = self
                .points
                .iter()
                .map(|p| p.prefixes.get(prefix).copied().unwrap_or(0))
                .max()
                .unwrap_or(0);
            let cells = ends.iter().zip(&self.points).filter_map(|((a, b), p)| {
                let c = p.prefixes.get(prefix).copied().unwrap_or(0);
                let color = if c == 0 {
                    return None;
                } else if c * 2 >= peak {
                    PREFIX_ON
                } else {
                    PREFIX_WEAK
                };
                Some(Rectangle::new([(*a, lo), (*b, hi)], color.filled()))
            });
            chart.draw_series(cells).map_err(err)?;
        }
        // Prefix names left of their rows (drawn by hand: plotters formats f64 key points
        // only with its default formatter).
        for (r, prefix) in self.rows.iter().enumerate() {
            let (x, y) = chart.backend_coord(&(t0, (n - r) as f64 - 0.5));
            root.draw(&Text::new(
                prefix.to_string(),
                (x - (8.0 * s) as i32, y),
                font(15.0, s, INK).pos(Pos::new(HPos::Right, VPos::Center)),
            ))
            .map_err(err)?;
        }
        let (_, y_top) = chart.backend_coord(&(t0, n as f64));
        let (_, y_bottom) = chart.backend_coord(&(t0, 0.0));
        draw_marks(
            root,
            &self.marks,
            |t| chart.backend_coord(&(t.clamp(t0, t1), 0.0)).0,
            y_top,
            y_bottom,
            s,
        )?;
        draw_legend(&legend, &Self::keys(), s)
    }
}

// ---------------------------------------------------------------- spam

/// A window of the measurement: its bins' matched baseline (`None` where no week had data).
pub struct Window {
    pub start: i64,
    pub end: i64,
    pub baseline: Vec<(i64, Option<f64>)>,
}

/// The telemetry series around the events, with the matched baseline of each window.
pub struct Spam<'a> {
    pub series: &'a Series,
    pub span: (i64, i64),
    /// Windows compared.
    pub windows: Vec<Window>,
    pub marks: Vec<Mark>,
    pub kinds: Vec<(RGBColor, String)>,
    /// Text written in the first window (the measured drop).
    pub note: Option<String>,
    pub baseline_label: String,
}

impl Spam<'_> {
    fn keys(&self) -> Vec<Key> {
        let mut keys = vec![
            Key::Line(SPAM_LINE, self.series.name.clone()),
            Key::Dashed(BASELINE, self.baseline_label.clone()),
            Key::Fill(WINDOW_BG, "window compared".into()),
        ];
        keys.extend(self.kinds.iter().map(|(c, k)| Key::Line(*c, k.clone())));
        keys
    }
}

impl Figure for Spam<'_> {
    fn height(&self) -> u32 {
        chart_height(&self.keys(), &self.marks, self.span, PLOT_H)
    }

    fn draw<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
        s: f64,
    ) -> Result<(), String> {
        root.fill(&WHITE).map_err(err)?;
        let (t0, t1) = self.span;
        let top = marks_room(&self.marks, t0, t1);
        let (main, legend) = root.split_vertically(((top + PLOT_H + AXIS_H) * s) as u32);
        let in_span = self.series.points.range(t0..=t1);
        let ymax = in_span
            .clone()
            .map(|(_, v)| *v)
            .chain(
                self.windows
                    .iter()
                    .flat_map(|w| w.baseline.iter().filter_map(|(_, b)| *b)),
            )
            .fold(1.0f64, f64::max)
            * 1.08;
        let per = cutoff_core::units::duration_text(self.series.bin_secs);
        let desc = format!("count per {per}");
        let mut chart = ChartBuilder::on(&main)
            .margin_top((top * s) as u32)
            .margin_right((16.0 * s) as u32)
            .x_label_area_size((AXIS_H * s) as u32)
            .y_label_area_size((Y_LABEL_W * s) as u32)
            .build_cartesian_2d((t0..t1).with_key_points(time_ticks(t0, t1)), 0f64..ymax)
            .map_err(err)?;
        for w in &self.windows {
            chart
                .draw_series(std::iter::once(Rectangle::new(
                    [(w.start.max(t0), 0.0), (w.end.min(t1), ymax)],
                    WINDOW_BG.filled(),
                )))
                .map_err(err)?;
        }
        chart
            .configure_mesh()
            .bold_line_style(GRID)
            .light_line_style(TRANSPARENT)
            .axis_style(MUTED)
            .label_style(font(15.0, s, MUTED))
            .axis_desc_style(font(15.0, s, MUTED))
            .x_label_formatter(&|t| tick_label(*t))
            .y_label_formatter(&|v| compact(*v))
            .y_labels(6)
            .x_desc("UTC")
            .draw()
            .map_err(err)?;
        // The line breaks where bins are missing: a gap is not a zero.
        for run in runs(in_span.map(|(t, v)| (*t, *v)), self.series.bin_secs) {
            chart
                .draw_series(LineSeries::new(
                    run,
                    SPAM_LINE.stroke_width((1.0 * s).max(1.0) as u32),
                ))
                .map_err(err)?;
        }
        for w in &self.windows {
            let pts = w.baseline.iter().filter_map(|(t, b)| Some((*t, (*b)?)));
            for run in runs(pts, self.series.bin_secs) {
                chart
                    .draw_series(DashedLineSeries::new(
                        run,
                        (4.0 * s) as i32,
                        (3.0 * s) as i32,
                        BASELINE.stroke_width((1.5 * s) as u32),
                    ))
                    .map_err(err)?;
            }
        }
        let (_, y_top) = chart.backend_coord(&(t0, ymax));
        let (_, y_bottom) = chart.backend_coord(&(t0, 0.0));
        draw_marks(
            root,
            &self.marks,
            |t| chart.backend_coord(&(t.clamp(t0, t1), 0.0)).0,
            y_top,
            y_bottom,
            s,
        )?;
        // The measured drop, in a box over the window, kept inside the plot.
        if let (Some(note), Some(win)) = (&self.note, self.windows.first()) {
            let (a, b) = (win.start, win.end);
            let style = font(15.0, s, BASELINE).pos(Pos::new(HPos::Center, VPos::Top));
            let (w, h) = root.estimate_text_size(note, &style).map_err(err)?;
            let (w, h) = (w as i32, h as i32);
            let pad = (6.0 * s) as i32;
            let (left, y) = chart.backend_coord(&(t0, ymax));
            let (right, _) = chart.backend_coord(&(t1, ymax));
            let mid = chart.backend_coord(&(((a + b) / 2).clamp(t0, t1), ymax)).0;
            let x = mid.clamp(left + w / 2 + 2 * pad, right - w / 2 - 2 * pad);
            let y = y + (10.0 * s) as i32;
            let corners = [
                (x - w / 2 - pad, y - pad / 2),
                (x + w / 2 + pad, y + h + pad),
            ];
            root.draw(&Rectangle::new(corners, WHITE.filled()))
                .map_err(err)?;
            root.draw(&Rectangle::new(corners, BASELINE.stroke_width(1)))
                .map_err(err)?;
            root.draw(&Text::new(note.clone(), (x, y), style))
                .map_err(err)?;
        }
        draw_unit(root, &desc, chart.backend_coord(&(t0, ymax)), s)?;
        draw_legend(&legend, &self.keys(), s)
    }
}

/// `12k`, `1.5M`: axis labels that fit.
fn compact(v: f64) -> String {
    let a = v.abs();
    if a >= 1e6 {
        format!("{:.1}M", v / 1e6)
    } else if a >= 1e4 {
        format!("{:.0}k", v / 1e3)
    } else if a >= 1e3 {
        format!("{:.1}k", v / 1e3)
    } else {
        format!("{v:.0}")
    }
}

/// Split points into runs of consecutive bins.
fn runs(points: impl Iterator<Item = (i64, f64)>, bin: i64) -> Vec<Vec<(i64, f64)>> {
    let mut out: Vec<Vec<(i64, f64)>> = Vec::new();
    for (t, v) in points {
        match out.last_mut() {
            Some(run) if run.last().is_some_and(|(lt, _)| t - lt <= bin) => run.push((t, v)),
            _ => out.push(vec![(t, v)]),
        }
    }
    out
}

// ---------------------------------------------------------------- entry points

pub fn visibility_chart(v: &Visibility, title: String, caption: String) -> Result<Chart, String> {
    let (svg, png, size) = render(v)?;
    Ok(Chart {
        stem: format!("visibility-AS{}", v.asn),
        title,
        caption,
        svg,
        png,
        size,
    })
}

pub fn prefix_chart(
    asn: u32,
    p: &Prefixes,
    title: String,
    caption: String,
) -> Result<Chart, String> {
    let (svg, png, size) = render(p)?;
    Ok(Chart {
        stem: format!("prefixes-AS{asn}"),
        title,
        caption,
        svg,
        png,
        size,
    })
}

pub fn spam_chart(sp: &Spam, title: String, caption: String) -> Result<Chart, String> {
    let (svg, png, size) = render(sp)?;
    Ok(Chart {
        stem: "spam".into(),
        title,
        caption,
        svg,
        png,
        size,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fonts_register() {
        assert!(plotters::style::register_font("test-dejavu", FontStyle::Normal, DEJAVU).is_ok());
    }

    #[test]
    fn ticks_are_whole_utc_units() {
        let t0 = 1_226_275_200; // 2008-11-10T00:00:00Z
        let ticks = time_ticks(t0 + 100, t0 + 6 * 86_400);
        assert_eq!(ticks.first(), Some(&(t0 + 86_400)));
        assert!(ticks.iter().all(|t| t % 86_400 == 0), "{ticks:?}");
        assert_eq!(tick_label(t0), "Nov 10");
        assert_eq!(tick_label(t0 + 6 * 3600), "06:00");
        let hours = time_ticks(t0, t0 + 8 * 3600);
        assert_eq!(hours.len(), 9);
    }

    #[test]
    fn runs_break_at_missing_bins() {
        let r = runs([(0, 1.0), (3600, 2.0), (10_800, 3.0)].into_iter(), 3600);
        assert_eq!(r.len(), 2);
        assert_eq!(step_ends([1, 5].into_iter(), 9), vec![(1, 5), (5, 9)]);
    }
}
