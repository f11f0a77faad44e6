//! What the report says, in order: the answer, warnings, how we know, events and evidence,
//! charts, the spam measurement, methodology, limits, provenance. Shared by the HTML and
//! Markdown renderers.

use crate::doc::{Block, Line, Span, b, code, plain, t};
use crate::input::ReportInput;
use crate::plot::{self, Chart, Mark};
use crate::provenance::{self, FileProvenance};
use cutoff_core::detect::{Event, EventKind};
use cutoff_core::state::LastRoute;
use cutoff_core::timeline::VisibilityPoint;
use cutoff_core::units::{human, rfc3339_secs};
use cutoff_correlate::Correlation;
use plotters::style::RGBColor;
use std::collections::BTreeMap;

/// The report, ready to render.
pub struct Content {
    pub blocks: Vec<Block>,
    pub charts: Vec<Chart>,
    pub files: Vec<FileProvenance>,
    pub title: String,
}

/// Upstream → (colour, label), the same in every chart and table.
type Palette = BTreeMap<u32, (RGBColor, String)>;

pub fn build(input: &ReportInput, generated: &str) -> Result<Content, String> {
    let files = provenance::collect(input);
    let palette = palette(input);
    let mut b = Builder {
        input,
        palette,
        blocks: Vec::new(),
        charts: Vec::new(),
    };
    let title = b.title();
    b.blocks.push(Block::Title(title.clone()));
    b.byline(generated);
    b.headline();
    b.warnings(&files);
    b.how_we_know();
    b.visibility_charts()?;
    b.events();
    b.evidence();
    b.spam()?;
    b.method();
    b.limits();
    b.provenance(&files, generated);
    Ok(Content {
        blocks: b.blocks,
        charts: b.charts,
        files,
        title,
    })
}

struct Builder<'a> {
    input: &'a ReportInput,
    palette: Palette,
    blocks: Vec<Block>,
    charts: Vec<Chart>,
}

/// Colours by first appearance in the timeline, then in the events.
fn palette(input: &ReportInput) -> Palette {
    let mut order: Vec<u32> = Vec::new();
    let mut push = |u: u32| {
        if !order.contains(&u) {
            order.push(u);
        }
    };
    if let Ok(points) = &input.timeline {
        for p in points {
            let mut ups: Vec<(&u32, &usize)> = p.upstreams.iter().collect();
            ups.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
            ups.into_iter().for_each(|(u, _)| push(*u));
        }
    }
    for e in &input.events {
        e.evidence.upstreams_before.keys().for_each(|u| push(*u));
        e.last_seen_via.keys().for_each(|u| push(*u));
        e.upstream.into_iter().for_each(&mut push);
        e.upstreams.iter().flatten().for_each(|u| push(*u));
    }
    order
        .into_iter()
        .zip(plot::UPSTREAM_COLORS)
        .map(|(u, c)| (u, (c, input.names.label(u))))
        .collect()
}

fn when(ts: cutoff_core::model::Timestamp) -> String {
    human(ts.secs)
}

fn pct(x: f64) -> String {
    format!("{x:.1}%")
}

impl Builder<'_> {
    fn label(&self, asn: u32) -> String {
        self.input.names.label(asn)
    }

    /// The watched ASes, labelled, separated by commas.
    fn watched(&self) -> String {
        let labels: Vec<String> = self
            .input
            .summary
            .asns
            .iter()
            .map(|a| self.label(*a))
            .collect();
        labels.join(", ")
    }

    /// An upstream with its colour square.
    fn upstream(&self, u: u32) -> Line {
        match self.palette.get(&u) {
            Some((c, l)) => vec![Span::Swatch(plot::hex(*c)), t(l.clone())],
            None => vec![t(self.label(u))],
        }
    }

    fn upstream_list(&self, ups: &[u32]) -> Line {
        let mut line = Vec::new();
        for (i, u) in ups.iter().enumerate() {
            if i > 0 {
                line.push(t(", "));
            }
            line.extend(self.upstream(*u));
        }
        if line.is_empty() {
            line.push(t("none"));
        }
        line
    }

    fn title(&self) -> String {
        format!("{}: when it was cut off", self.watched())
    }

    fn byline(&mut self, generated: &str) {
        let s = &self.input.summary;
        let span = match (s.first_time, s.last_time) {
            (Some(a), Some(z)) => format!("{} to {}", when(a), when(z)),
            _ => "no routing data read".into(),
        };
        self.blocks.push(Block::Byline(vec![t(format!(
            "Routing data from {} ({} files), {span}. Report written {generated} by cutoff {}.",
            s.collectors.join(", "),
            s.files_read,
            env!("CARGO_PKG_VERSION")
        ))]));
    }

    /// The event the headline is about: the first disconnection, else the first lost
    /// upstream, else the first event.
    fn lead_event(&self) -> Option<&Event> {
        let ev = &self.input.events;
        ev.iter()
            .find(|e| e.event == EventKind::Disconnected)
            .or_else(|| ev.iter().find(|e| e.event == EventKind::UpstreamLost))
            .or_else(|| ev.first())
    }

    fn correlation_of(&self, e: &Event) -> Option<&Correlation> {
        let spam = self.input.spam.as_ref()?;
        spam.correlation.results.iter().find(|c| {
            c.asn == e.asn
                && c.event == e.event.name()
                && rfc3339_secs(&c.event_time) == Some(e.time.secs)
        })
    }

    fn headline(&mut self) {
        let Some(e) = self.lead_event() else {
            let watched = self.watched();
            self.blocks.push(Block::Headline(vec![t(format!(
                "No events: {watched} kept its upstreams throughout the data read."
            ))]));
            return;
        };
        let mut line = self.event_phrase(e);
        if let Some(c) = self.correlation_of(e) {
            line.extend(spam_phrase(c));
        }
        line.push(t("."));
        self.blocks.push(Block::Headline(line));
    }

    /// "AS26780 (McColo) lost its last upstream, AS6939 (…), at 2008-11-11 21:33 UTC".
    fn event_phrase(&self, e: &Event) -> Line {
        let who = self.label(e.asn);
        let at = match e.time_bounds {
            Some([earliest, latest]) => format!(
                "{} at the latest (not before {}: the moment itself is not in the data)",
                when(latest),
                when(earliest)
            ),
            None => when(e.time),
        };
        let mut line = Vec::new();
        match e.event {
            EventKind::Disconnected => {
                let ups = e.last_upstreams.clone().unwrap_or_default();
                match ups.len() {
                    0 => line.push(t(format!("{who} lost all its upstreams"))),
                    1 => {
                        line.push(t(format!("{who} lost its last upstream, ")));
                        line.extend(self.upstream(ups[0]));
                        line.push(t(","));
                    }
                    _ => {
                        line.push(t(format!("{who} lost its last upstreams, ")));
                        line.extend(self.upstream_list(&ups));
                        line.push(t(","));
                    }
                }
                line.push(t(" at "));
                line.push(b(at));
            }
            EventKind::UpstreamLost => {
                if let Some(u) = e.upstream {
                    line.extend(self.upstream(u));
                }
                line.push(t(format!(" stopped carrying {who} at ")));
                line.push(b(at));
                line.push(t(", while it stayed visible via "));
                line.extend(self.upstream_list(e.upstreams.as_deref().unwrap_or(&[])));
            }
            _ => {
                line.push(t(format!("{who}: {} at ", e.event.name())));
                line.push(b(at));
            }
        }
        line
    }

    fn warnings(&mut self, files: &[FileProvenance]) {
        for l in provenance::data_labels(files) {
            self.blocks.push(Block::Warning(vec![
                b("Not measured data. "),
                t(format!(
                    "Inputs of this report are labelled by {}: ",
                    l.readme
                )),
                t(format!("\u{201c}{}\u{201d}", l.line)),
                t(". Do not cite the numbers below as evidence of what happened."),
            ]));
        }
        let s = &self.input.summary;
        if s.partial_baseline {
            self.blocks.push(Block::Warning(vec![
                b("Partial baseline. "),
                t(format!(
                    "No RIB was read for {}: which peers count and how widely the AS was seen before come from the announcements in the window only.",
                    s.collectors_without_rib.join(", ")
                )),
            ]));
        }
        if s.incomplete_input {
            self.blocks.push(Block::Warning(vec![
                b("Incomplete input. "),
                t(format!(
                    "{} file(s) could not be read completely (listed under Limits); their collectors count as unknown, not as withdrawing, from the point they stop.",
                    s.gaps.len()
                )),
            ]));
        }
    }

    fn how_we_know(&mut self) {
        let s = &self.input.summary;
        self.blocks
            .push(Block::Heading("What this shows, and how we know".into()));
        self.blocks.push(Block::Para(vec![t(format!(
            "Route collectors ({}) record the routes that dozens of networks (peers) use to reach every part of the Internet. cutoff replayed {} files of these records ({} routing records), followed each peer's route to the address blocks of {}, and noted through which neighbouring network (upstream) each route entered. A network is cut off when no peer that sees the whole Internet still has a route to it. Peers whose own session reset, or that dropped their whole table at once, are set aside: their silence is about them, not about the network watched.",
            s.collectors.join(", "),
            s.files_read,
            s.records,
            self.watched()
        ))]));
        if let Some(e) = self
            .lead_event()
            .filter(|e| e.event == EventKind::Disconnected)
        {
            let mut line = vec![t("The routes ended in this order: ")];
            let mut via: Vec<(&u32, &LastRoute)> = e.last_seen_via.iter().collect();
            via.sort_by_key(|(_, l)| l.until.unwrap_or(l.announced));
            for (i, (u, l)) in via.iter().enumerate() {
                if i > 0 {
                    line.push(t("; "));
                }
                line.push(t("the last route via "));
                line.extend(self.upstream(**u));
                line.push(t(format!(
                    " ended at {} ({} peer {} path ",
                    l.until
                        .map(when)
                        .unwrap_or_else(|| "the end of the data".into()),
                    l.collector,
                    l.peer_ip
                )));
                line.push(code(l.path.clone()));
                line.push(t(")"));
            }
            line.push(t(format!(
                ". Afterwards {} of {} eligible peer ASNs still had a route (tolerated: at most {} may keep a stale one), and that held for at least {}.",
                e.evidence.peers_after,
                e.evidence.eligible_peers,
                s.thresholds.max_residual,
                s.thresholds.min_duration
            )));
            self.blocks.push(Block::Para(line));
        }
        if let Some(spam) = &self.input.spam {
            let tel = &spam.correlation.summary.telemetry;
            self.blocks.push(Block::Para(vec![t(format!(
                "Spam: the series \u{201c}{}\u{201d} ({}, bins of {}) was compared, for the {} days after each event, with the same hours of the {} weeks before; the interval comes from resampling whole days, and the same measurement at every earlier day gives the placebo p-value.",
                tel.series,
                tel.file,
                tel.bin,
                spam.correlation.summary.options.window_days,
                spam.correlation.summary.options.baseline_weeks
            ))]));
            if let Some(c) = self.lead_event().and_then(|e| self.correlation_of(e)) {
                self.blocks.push(Block::Quote(c.sentence.clone()));
            }
        }
    }

    fn events(&mut self) {
        self.blocks.push(Block::Heading("Events".into()));
        if self.input.events.is_empty() {
            self.blocks.push(Block::Para(vec![t(
                "No events were found in the data read.",
            )]));
            return;
        }
        let mut rows = Vec::new();
        for (i, e) in self.input.events.iter().enumerate() {
            let ev = &e.evidence;
            let ups: Vec<u32> = match e.event {
                EventKind::Disconnected => e.last_upstreams.clone().unwrap_or_default(),
                EventKind::UpstreamLost | EventKind::UpstreamGained => {
                    e.upstream.into_iter().collect()
                }
                _ => e.upstreams.clone().unwrap_or_default(),
            };
            rows.push(vec![
                vec![b((i + 1).to_string())],
                vec![t(e
                    .time
                    .to_datetime()
                    .format("%Y-%m-%d %H:%M:%S")
                    .to_string())],
                vec![
                    Span::Swatch(plot::hex(plot::event_color(e.event.name()))),
                    b(e.event.name()),
                ],
                vec![t(self.label(e.asn))],
                self.upstream_list(&ups),
                vec![t(format!(
                    "{} → {} of {}",
                    ev.peers_before, ev.peers_after, ev.eligible_peers
                ))],
                vec![t(cutoff_core::describe::describe(e))],
            ]);
        }
        self.blocks.push(Block::Para(vec![t(
            "Times are UTC and mark when the condition began (the withdrawal that made it so); each was confirmed once it had held for the minimum duration. Numbers match the marks in the charts.",
        )]));
        self.blocks.push(Block::Table {
            wide: false,
            head: [
                "#",
                "time (UTC)",
                "event",
                "AS",
                "upstream(s)",
                "peer ASNs seeing it",
                "what happened",
            ]
            .map(String::from)
            .to_vec(),
            rows,
        });
    }

    fn evidence(&mut self) {
        let mut rows = Vec::new();
        for (i, e) in self.input.events.iter().enumerate() {
            let mut routes: Vec<(Option<u32>, &LastRoute)> =
                e.last_seen_via.iter().map(|(u, l)| (Some(*u), l)).collect();
            if let Some(l) = &e.last_route {
                routes.push((e.upstream, l));
            }
            for (u, l) in routes {
                rows.push(vec![
                    vec![b((i + 1).to_string())],
                    u.map(|u| self.upstream(u)).unwrap_or_else(|| vec![t("-")]),
                    vec![t(match l.until {
                        Some(x) => format!("ended {}", when(x)),
                        None => format!("announced {}, still carried", when(l.announced)),
                    })],
                    vec![t(format!("{} {} AS{}", l.collector, l.peer_ip, l.peer_asn))],
                    vec![code(l.path.clone())],
                    vec![t(l.file.clone().unwrap_or_else(|| "-".into()))],
                ]);
            }
        }
        self.blocks.push(Block::Subheading(
            "Evidence: the last route seen via each upstream".into(),
        ));
        if rows.is_empty() {
            self.blocks
                .push(Block::Para(vec![t("No event carries a last route.")]));
        } else {
            self.blocks.push(Block::Para(vec![t(
                "Each line is one routing message that anyone can find in the collector's archive file named (cutoff dump --peer IP FILE prints it, in the format of the reference reader bgpdump).",
            )]));
            self.blocks.push(Block::Table {
                wide: false,
                head: [
                    "#",
                    "upstream",
                    "when",
                    "seen at (collector, peer)",
                    "AS path",
                    "file",
                ]
                .map(String::from)
                .to_vec(),
                rows,
            });
        }
        let mut facts = Vec::new();
        for (i, e) in self.input.events.iter().enumerate() {
            let ev = &e.evidence;
            let mut line = vec![t(format!(
                "confirmed {}; collectors {}; ",
                when(ev.confirmed_at),
                if ev.collectors_before.is_empty() {
                    "-".to_string()
                } else {
                    ev.collectors_before.join(", ")
                }
            ))];
            line.push(t(format!(
                "{} session(s) still seeing it{}",
                ev.residual_sessions.len(),
                if ev.residual_sessions.is_empty() {
                    String::new()
                } else {
                    format!(
                        " ({}{})",
                        ev.residual_sessions
                            .iter()
                            .take(4)
                            .cloned()
                            .collect::<Vec<_>>()
                            .join(", "),
                        if ev.residual_sessions.len() > 4 {
                            ", …"
                        } else {
                            ""
                        }
                    )
                }
            )));
            if !ev.not_counted.is_empty() {
                let nc: Vec<String> = ev
                    .not_counted
                    .iter()
                    .map(|(k, n)| {
                        format!(
                            "{n} {}",
                            serde_json::to_string(k)
                                .unwrap_or_default()
                                .trim_matches('"')
                        )
                    })
                    .collect();
                line.push(t(format!("; peers not counted: {}", nc.join(", "))));
            }
            if let Some(r) = &e.reason {
                line.push(t(format!("; reason: {r}")));
            }
            facts.push((format!("event {}", i + 1), line));
        }
        if !facts.is_empty() {
            self.blocks.push(Block::Facts(facts));
        }
    }

    fn span(&self, points: &[&VisibilityPoint]) -> Option<(i64, i64)> {
        let s = &self.input.summary;
        let a = s
            .first_time
            .map(|t| t.secs)
            .or_else(|| points.first().map(|p| p.time.secs))?;
        let z = s
            .last_time
            .map(|t| t.secs)
            .or_else(|| points.last().map(|p| p.time.secs))?;
        (z > a).then_some((a, z))
    }

    fn marks(&self, asn: Option<u32>, only_correlated: bool) -> Vec<Mark> {
        self.input
            .events
            .iter()
            .enumerate()
            .filter(|(_, e)| asn.is_none_or(|a| e.asn == a))
            .filter(|(_, e)| {
                !only_correlated || cutoff_correlate::CORRELATED_KINDS.contains(&e.event.name())
            })
            .map(|(i, e)| Mark {
                time: e.time.secs,
                number: i + 1,
                color: plot::event_color(e.event.name()),
            })
            .collect()
    }

    fn kinds(&self, marks: &[Mark]) -> Vec<(RGBColor, String)> {
        let mut out: Vec<(RGBColor, String)> = Vec::new();
        for m in marks {
            let name = self.input.events[m.number - 1].event.name();
            if !out.iter().any(|(_, n)| n == name) {
                out.push((m.color, name.to_string()));
            }
        }
        out
    }

    fn visibility_charts(&mut self) -> Result<(), String> {
        self.blocks
            .push(Block::Heading("Visibility over time".into()));
        let points = match &self.input.timeline {
            Ok(p) => p,
            Err(why) => {
                self.blocks.push(Block::Omitted {
                    title: "Visibility and prefix charts".into(),
                    why: why.clone(),
                });
                return Ok(());
            }
        };
        for &asn in &self.input.summary.asns {
            let pts: Vec<&VisibilityPoint> = points.iter().filter(|p| p.asn == asn).collect();
            let who = self.label(asn);
            let Some(span) = self.span(&pts).filter(|_| !pts.is_empty()) else {
                self.blocks.push(Block::Omitted {
                    title: format!("Visibility of {who}"),
                    why: "the timeline holds no visibility points for it".into(),
                });
                continue;
            };
            let marks = self.marks(Some(asn), false);
            let v = plot::Visibility {
                asn,
                points: pts.clone(),
                span,
                kinds: self.kinds(&marks),
                marks: marks.clone(),
                upstreams: &self.palette,
            };
            self.charts.push(plot::visibility_chart(
                &v,
                format!("Who could reach {who}, and through whom"),
                format!(
                    "Eligible peer ASNs with a route to {who}, stacked by the upstream their route came through (a peer whose routes to different prefixes use different upstreams counts once per upstream). Black: peers seeing it at all; dashed: peers that count. Numbered lines: the events in the table. Steps: each value holds until the next change."
                ),
            )?);
            self.blocks.push(Block::Chart(self.charts.len() - 1));
            let rows = prefix_rows(&pts, 40);
            if rows.is_empty() {
                continue;
            }
            let total = pts
                .iter()
                .flat_map(|p| p.prefixes.keys())
                .collect::<std::collections::BTreeSet<_>>()
                .len();
            let p = plot::Prefixes {
                points: pts,
                span,
                marks,
                rows: rows.clone(),
            };
            self.charts.push(plot::prefix_chart(
                asn,
                &p,
                format!("Which prefixes of {who} were visible when"),
                format!(
                    "One row per prefix{}: dark where at least half as many peers saw it as at its best, light where fewer did, grey where none did.",
                    if total > rows.len() {
                        format!(" ({} of {total}, the most widely seen)", rows.len())
                    } else {
                        String::new()
                    }
                ),
            )?);
            self.blocks.push(Block::Chart(self.charts.len() - 1));
        }
        Ok(())
    }

    fn spam(&mut self) -> Result<(), String> {
        self.blocks.push(Block::Heading("Spam".into()));
        let Some(spam) = &self.input.spam else {
            self.blocks.push(Block::Omitted {
                title: "Spam chart and measurement".into(),
                why: "no telemetry was given (--telemetry FILE)".into(),
            });
            return Ok(());
        };
        let opts = &spam.correlation.summary.options;
        let grid = cutoff_correlate::analysis::Grid::new(&spam.series)?;
        let measured: Vec<&Correlation> = spam
            .correlation
            .results
            .iter()
            .filter(|c| c.drop_pct.is_some())
            .collect();
        // The chart shows the window behind the headline (else the first one measured):
        // the other events are marked, their windows would only overlap it.
        let lead = self.lead_event().and_then(|e| self.correlation_of(e));
        let shown = lead
            .filter(|c| c.drop_pct.is_some())
            .or_else(|| measured.first().copied());
        let week = cutoff_correlate::analysis::WEEK;
        let day = 86_400;
        let (first, last) = (grid.start, grid.end());
        let window = shown
            .and_then(|c| Some((rfc3339_secs(&c.window_start)?, rfc3339_secs(&c.window_end)?)));
        let span = match window {
            Some((a, z)) => (
                ((a - i64::from(opts.baseline_weeks) * week).div_euclid(day) * day).max(first),
                ((z + day).div_euclid(day) * day).min(last),
            ),
            None => (first, last),
        };
        let windows = window
            .map(|(a, z)| {
                vec![plot::Window {
                    start: a,
                    end: z,
                    baseline: cutoff_correlate::analysis::baseline_between(
                        &grid,
                        opts.baseline_weeks,
                        a,
                        z,
                    ),
                }]
            })
            .unwrap_or_default();
        let note = shown.and_then(|c| {
            Some(format!(
                "{}{:.1}% vs baseline (95% CI {:.1}% to {:.1}%)",
                if c.drop_pct? >= 0.0 { "−" } else { "+" },
                c.drop_pct?.abs(),
                c.ci_low_pct?,
                c.ci_high_pct?
            ))
        });
        let marks: Vec<Mark> = self
            .marks(None, true)
            .into_iter()
            .filter(|m| (span.0..=span.1).contains(&m.time))
            .collect();
        let sp = plot::Spam {
            series: &spam.series,
            span,
            windows,
            kinds: self.kinds(&marks),
            marks,
            note,
            baseline_label: format!(
                "matched baseline (median of the same hour, {} weeks before)",
                opts.baseline_weeks
            ),
        };
        self.charts.push(plot::spam_chart(
            &sp,
            format!("Spam: \u{201c}{}\u{201d} around the events", spam.series.name),
            format!(
                "The series per bin (gaps are missing bins, not zeros). Shaded: the {} days after the event in the headline that the measurement compares; dashed: the matched baseline, what the same hours of the {} previous weeks predicted. Numbered lines: the events measured, as in the tables.",
                opts.window_days, opts.baseline_weeks
            ),
        )?);
        self.blocks.push(Block::Chart(self.charts.len() - 1));
        self.correlation_table(spam);
        Ok(())
    }

    fn correlation_table(&mut self, spam: &crate::input::SpamInput) {
        let mut rows = Vec::new();
        for c in &spam.correlation.results {
            let n = self
                .input
                .events
                .iter()
                .position(|e| {
                    e.asn == c.asn
                        && e.event.name() == c.event
                        && rfc3339_secs(&c.event_time) == Some(e.time.secs)
                })
                .map(|i| (i + 1).to_string())
                .unwrap_or_else(|| "-".into());
            let opt = |x: Option<f64>| x.map(pct).unwrap_or_else(|| "-".into());
            rows.push(vec![
                vec![b(n)],
                vec![t(format!("{} {}", c.event, self.label(c.asn)))],
                vec![t(format!(
                    "{} → {}",
                    rfc3339_secs(&c.window_start).map(human).unwrap_or_default(),
                    rfc3339_secs(&c.window_end).map(human).unwrap_or_default()
                ))],
                vec![b(opt(c.drop_pct))],
                vec![t(format!(
                    "{} to {}",
                    opt(c.ci_low_pct),
                    opt(c.ci_high_pct)
                ))],
                vec![t(c
                    .lag_hours
                    .map(|h| format!("{h:+.1} h"))
                    .unwrap_or_else(|| "-".into()))],
                vec![t(c
                    .p_value
                    .map(|p| format!("{p:.3} ({} placebos)", c.placebos))
                    .unwrap_or_else(|| "-".into()))],
                vec![t(c
                    .control
                    .as_ref()
                    .map(|k| format!("{}: {}", k.series, opt(k.drop_pct)))
                    .unwrap_or_else(|| "-".into()))],
                vec![t(format!("{} of {}", c.bins_used, c.bins_expected))],
            ]);
        }
        if rows.is_empty() {
            self.blocks.push(Block::Para(vec![t(
                "No disconnected, restored or upstream_lost event to measure.",
            )]));
            return;
        }
        self.blocks.push(Block::Table {
            wide: false,
            head: [
                "#",
                "event",
                "window (UTC)",
                "drop",
                "95% CI",
                "lag",
                "p (placebo)",
                "control",
                "bins",
            ]
            .map(String::from)
            .to_vec(),
            rows,
        });
        // The headline's sentence is quoted above; the others here.
        let lead = self.lead_event().and_then(|e| self.correlation_of(e));
        let others: Vec<Block> = spam
            .correlation
            .results
            .iter()
            .filter(|c| !lead.is_some_and(|l| std::ptr::eq(l, *c)))
            .map(|c| Block::Quote(c.sentence.clone()))
            .collect();
        self.blocks.extend(others);
    }

    fn method(&mut self) {
        let s = &self.input.summary;
        let th = &s.thresholds;
        self.blocks
            .push(Block::Heading("Method and thresholds".into()));
        let mut items: Vec<Line> = vec![
            vec![
                b("Who counts. "),
                t(format!(
                    "A peer counts if it sends a full table (at least {:.0}% of the median of the 10 largest tables in the collector's RIB), its session is up, it was not silent for over {}, it is not withdrawing {:.0}% or more of its whole table within {}, and it is not the watched AS itself{}. Peers are counted by AS number, so one network with many sessions counts once.",
                    th.full_feed_fraction * 100.0,
                    th.silence,
                    th.mass_withdrawal_fraction * 100.0,
                    th.mass_window,
                    if th.excluded_peers.is_empty() {
                        String::new()
                    } else {
                        format!(" or excluded by hand ({})", th.excluded_peers.join(", "))
                    }
                )),
            ],
            vec![
                b("Upstream. "),
                t("The AS just before the origin on a route's AS path, after removing prepending."),
            ],
            vec![
                b("Cut off (disconnected). "),
                t(format!(
                    "At most {} of the eligible peers still see the AS (stale routes at one or two peers are common), for at least {}. The time given is when it began.",
                    th.max_residual, th.min_duration
                )),
            ],
            vec![
                b("Restored. "),
                t(format!(
                    "Seen again by at least {:.0}% of the peers that saw it before the outage, for at least {}.",
                    th.restore_fraction * 100.0,
                    th.min_duration
                )),
            ],
            vec![
                b("Inconclusive. "),
                t(format!(
                    "Fewer than {} eligible peers, or a fall explained by sessions resetting, mass withdrawals or missing files: nothing is concluded.",
                    th.min_peers
                )),
            ],
        ];
        if let Some(spam) = &self.input.spam {
            items.push(vec![b("Spam drop. "), t(spam.correlation.summary.method)]);
        }
        self.blocks.push(Block::List(items));
        let facts = vec![
            (
                "min-duration".to_string(),
                vec![code(th.min_duration.clone())],
            ),
            ("max-residual".into(), vec![code(th.max_residual.clone())]),
            (
                "restore-fraction".into(),
                vec![code(format!("{:.0}%", th.restore_fraction * 100.0))],
            ),
            (
                "full-feed".into(),
                vec![code(format!("{:.0}%", th.full_feed_fraction * 100.0))],
            ),
            ("min-peers".into(), vec![code(th.min_peers.to_string())]),
            ("silence".into(), vec![code(th.silence.clone())]),
            (
                "mass-withdrawal".into(),
                vec![code(format!(
                    "{:.0}% in {}",
                    th.mass_withdrawal_fraction * 100.0,
                    th.mass_window
                ))],
            ),
            (
                "table size assumed without a RIB".into(),
                vec![code(th.assumed_table_size_without_rib.to_string())],
            ),
        ];
        self.blocks.push(Block::Facts(facts));
    }

    fn limits(&mut self) {
        let s = &self.input.summary;
        self.blocks
            .push(Block::Heading("Limits and caveats".into()));
        let mut items: Vec<Line> = vec![vec![t(format!(
            "Routes are not traffic: a network with no route can still send mail through someone else's, and a route can be kept while traffic is filtered. These findings are about routes seen from {} collector(s) ({}) and their {} eligible peer sessions.",
            s.collectors.len(),
            s.collectors.join(", "),
            s.full_feed_sessions
        ))]];
        if s.partial_baseline {
            items.push(vec![t(format!(
                "Partial baseline: no RIB for {}.",
                s.collectors_without_rib.join(", ")
            ))]);
        }
        for g in &s.gaps {
            items.push(vec![t(format!(
                "Gap in {} ({}): {}",
                g.file, g.collector, g.problem
            ))]);
        }
        if s.truncated_records > 0 {
            items.push(vec![t(format!(
                "{} record(s) were cut short by the collector; {} withdrawal(s) and {} announcement(s) were recovered from them.",
                s.truncated_records, s.salvaged_withdrawals, s.salvaged_announcements
            ))]);
        }
        for p in &s.pending_at_end {
            items.push(vec![t(format!(
                "Unconfirmed when the data ended (shorter than the minimum duration): {p}"
            ))]);
        }
        if let Some(spam) = &self.input.spam {
            items.push(vec![t(format!(
                "Spam: {}.",
                spam_caveats(&spam.correlation).join("; ")
            ))]);
            // Confounders of the headline's measurement (the others' are in their sentences).
            if let Some(c) = self.lead_event().and_then(|e| self.correlation_of(e)) {
                for x in &c.confounders {
                    items.push(vec![t(format!(
                        "In the {} of the headline's measurement: {}.",
                        x.place, x.description
                    ))]);
                }
            }
        }
        if self.input.timeline.is_err() {
            items.push(vec![t(
                "The visibility charts are omitted: no timeline was given, and none is made up.",
            )]);
        }
        self.blocks.push(Block::List(items));
    }

    fn provenance(&mut self, files: &[FileProvenance], generated: &str) {
        let s = &self.input.summary;
        self.blocks.push(Block::Heading("Provenance".into()));
        let span = |a: Option<cutoff_core::model::Timestamp>| {
            a.map(|t| t.rfc3339()).unwrap_or_else(|| "-".into())
        };
        self.blocks.push(Block::Facts(vec![
            (
                "scan by".into(),
                vec![t(format!("{} (schema {})", s.tool, s.schema_version))],
            ),
            (
                "report by".into(),
                vec![t(format!(
                    "cutoff {}, written {generated}",
                    env!("CARGO_PKG_VERSION")
                ))],
            ),
            ("collectors".into(), vec![t(s.collectors.join(", "))]),
            (
                "routing data".into(),
                vec![t(format!(
                    "{} files, {} records, {} elements, {} to {}",
                    s.files_read,
                    s.records,
                    s.elements,
                    span(s.first_time),
                    span(s.last_time)
                ))],
            ),
            (
                "records cut by the collector".into(),
                vec![t(format!(
                    "{} (recovered {} withdrawals, {} announcements); {} record(s) not parsed",
                    s.truncated_records,
                    s.salvaged_withdrawals,
                    s.salvaged_announcements,
                    s.unparsed_records
                ))],
            ),
            (
                "peer sessions".into(),
                vec![t(format!(
                    "{} seen, {} full feed",
                    s.sessions, s.full_feed_sessions
                ))],
            ),
            (
                "gaps".into(),
                vec![t(if s.gaps.is_empty() {
                    "none".to_string()
                } else {
                    format!("{} file(s), see Limits", s.gaps.len())
                })],
            ),
            (
                "AS names".into(),
                vec![t(names_provenance(&self.input.names))],
            ),
        ]));
        self.blocks.push(Block::Subheading("To reproduce".into()));
        for (what, cmd) in &self.input.commands {
            self.blocks.push(Block::Para(vec![t(what.clone())]));
            self.blocks.push(Block::Code(cmd.clone()));
        }
        self.blocks.push(Block::Subheading("Input files".into()));
        let missing = files.iter().filter(|f| f.sha256.is_err()).count();
        self.blocks.push(Block::Para(vec![t(format!(
            "{} file(s); sha256 computed when this report was written{}. inputs.sha256 in this folder checks them with sha256sum -c.",
            files.len(),
            if missing > 0 {
                format!(" ({missing} could not be read then)")
            } else {
                String::new()
            }
        ))]));
        let rows = files
            .iter()
            .map(|f| {
                let opt = |x: &Option<String>| x.clone().unwrap_or_else(|| "-".into());
                let num = |x: Option<u64>| x.map(|n| n.to_string()).unwrap_or_else(|| "-".into());
                vec![
                    vec![t(f.role.clone())],
                    vec![code(f.path.clone())],
                    vec![match &f.sha256 {
                        Ok(h) => code(h.clone()),
                        Err(e) => b(e.clone()),
                    }],
                    vec![t(format!(
                        "{}{}",
                        opt(&f.collector),
                        f.kind.as_ref().map(|k| format!(" {k}")).unwrap_or_default()
                    ))],
                    vec![t(format!("{} to {}", opt(&f.first), opt(&f.last)))],
                    vec![t(num(f.records))],
                    vec![t(num(f.truncated))],
                    vec![t(opt(&f.problem))],
                ]
            })
            .collect();
        self.blocks.push(Block::Table {
            wide: true,
            head: [
                "role",
                "path",
                "sha256",
                "collector / kind",
                "time span",
                "records",
                "cut",
                "problems",
            ]
            .map(String::from)
            .to_vec(),
            rows,
        });
    }
}

/// Which list the AS names came from and when; a registry's list names ASes as they are
/// registered now, which is not always who held them at the time of the events.
fn names_provenance(names: &crate::names::AsNames) -> String {
    match names.source() {
        None => "none given: ASes are shown by number".into(),
        Some(src) if names.from_registry() => format!(
            "{} names from {src}; names as registered then, not necessarily at the time of the events",
            names.len()
        ),
        Some(src) => format!("{} names from {src}", names.len()),
    }
}

/// "; spam fell 72.7% (95% CI 71.4% to 73.8%) in the 7 days after … within 0.5 h".
/// The spam caveats once each, for one line: each measurement's own (their first two say
/// what the run's summary says in other words, so the summary's are used only when nothing
/// was measured).
fn spam_caveats(r: &cutoff_correlate::Report) -> Vec<String> {
    let mut seen: Vec<String> = Vec::new();
    for c in r.results.iter().flat_map(|c| &c.caveats) {
        if !seen.contains(c) {
            seen.push(c.clone());
        }
    }
    if seen.is_empty() {
        seen = r.summary.caveats.iter().map(|c| c.to_string()).collect();
    }
    seen
}

fn spam_phrase(c: &Correlation) -> Line {
    let (Some(d), Some(lo), Some(hi)) = (c.drop_pct, c.ci_low_pct, c.ci_high_pct) else {
        return vec![t(format!(
            "; the series \u{201c}{}\u{201d} could not be measured around it",
            c.series
        ))];
    };
    let verb = if d >= 0.0 { "fell" } else { "rose" };
    let mut line = vec![
        t(format!("; \u{201c}{}\u{201d} {verb} ", c.series)),
        b(pct(d.abs())),
        t(format!(
            " (95% CI {} to {}) over the next {} days against the same hours of the {} weeks before",
            pct(if d >= 0.0 { lo } else { -hi }),
            pct(if d >= 0.0 { hi } else { -lo }),
            c.window_days,
            c.baseline_weeks
        )),
    ];
    if let Some(cp) = &c.change_point {
        let right_way = cp.level_change_pct.is_some_and(|l| (l < 0.0) == (d >= 0.0));
        if cp.p_value <= 0.05 && right_way {
            let h = cp.lag_hours;
            line.push(t(", the change beginning "));
            line.push(b(if h.abs() < 0.05 {
                "in the same hour".to_string()
            } else {
                format!(
                    "{:.1} h {}",
                    h.abs(),
                    if h < 0.0 { "before" } else { "after" }
                )
            }));
            line.push(t(format!(
                " (change point {})",
                rfc3339_secs(&cp.time).map(human).unwrap_or_default()
            )));
        }
    }
    line
}

/// The prefixes to draw: the most widely seen first, at most `max`.
fn prefix_rows(points: &[&VisibilityPoint], max: usize) -> Vec<cutoff_core::model::Prefix> {
    let mut peak: BTreeMap<cutoff_core::model::Prefix, usize> = BTreeMap::new();
    for p in points {
        for (k, n) in &p.prefixes {
            let e = peak.entry(*k).or_default();
            *e = (*e).max(*n);
        }
    }
    let mut rows: Vec<(cutoff_core::model::Prefix, usize)> = peak.into_iter().collect();
    rows.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    rows.truncate(max);
    let mut out: Vec<cutoff_core::model::Prefix> = rows.into_iter().map(|r| r.0).collect();
    out.sort();
    out
}

/// Plain text of the headline, for tests and the command line.
pub fn headline_text(blocks: &[Block]) -> Option<String> {
    blocks.iter().find_map(|b| match b {
        Block::Headline(l) => Some(plain(l)),
        _ => None,
    })
}
