//! `cutoff report` and `scan --report` on the McColo samples: the headline matches what
//! `correlate` measures, provenance hashes match the files, charts are real images, every
//! input string is escaped, bad input is refused, and a real browser draws the page.

mod common;

use common::{cutoff, root, sample};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

const HOSTILE: &str = "<script>alert(1)</script> \"dq\" 'sq' & </svg>";

/// One scan, timeline and correlation of the McColo samples, shared by the tests.
struct Fixture {
    dir: PathBuf,
    events: PathBuf,
    timeline: PathBuf,
    correlation: Value,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("report-fixture");
        std::fs::create_dir_all(&dir).expect("fixture dir");
        let run = |sub: &str, out: &Path| {
            let o = cutoff()
                .current_dir(root())
                .args([
                    sub,
                    "--asn",
                    "26780",
                    "samples/mccolo-2008-11",
                    "--format",
                    "jsonl",
                ])
                .output()
                .expect("runs");
            assert!(
                o.status.success(),
                "{sub}: {}",
                String::from_utf8_lossy(&o.stderr)
            );
            std::fs::write(out, &o.stdout).expect("write");
        };
        let events = dir.join("events.jsonl");
        let timeline = dir.join("timeline.jsonl");
        run("scan", &events);
        run("timeline", &timeline);
        let o = cutoff()
            .current_dir(root())
            .arg("correlate")
            .arg("--events")
            .arg(&events)
            .args(telemetry_args())
            .args(["--format", "jsonl"])
            .output()
            .expect("runs");
        let text = String::from_utf8(o.stdout).expect("utf-8");
        let correlation = text
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).expect("JSON"))
            .find(|v| v["type"] == "correlation" && v["event"] == "disconnected")
            .expect("a correlation of the disconnection");
        Fixture {
            dir,
            events,
            timeline,
            correlation,
        }
    })
}

fn telemetry_args() -> Vec<String> {
    vec![
        "--telemetry".into(),
        sample("spam-2008/spam-hourly.csv"),
        "--control".into(),
        sample("spam-2008/ham-hourly.csv"),
    ]
}

fn out_dir(name: &str) -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn sha256(p: &Path) -> String {
    hex::encode(Sha256::digest(std::fs::read(p).expect("readable")))
}

/// Width and height of a PNG, and its pixels as RGB.
fn decode_png(bytes: &[u8]) -> (u32, u32, Vec<[u8; 3]>) {
    let mut dec = png::Decoder::new(std::io::Cursor::new(bytes));
    dec.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    let mut reader = dec.read_info().expect("a PNG");
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).expect("a frame");
    let step = info.color_type.samples();
    let px = buf[..info.buffer_size()]
        .chunks(step)
        .map(|c| match step {
            1 | 2 => [c[0], c[0], c[0]],
            _ => [c[0], c[1], c[2]],
        })
        .collect();
    (info.width, info.height, px)
}

fn run_report(out: &Path, extra: &[String]) -> std::process::Output {
    let f = fixture();
    cutoff()
        .current_dir(root())
        .arg("report")
        .arg("--events")
        .arg(&f.events)
        .arg("--out")
        .arg(out)
        .args(extra)
        .output()
        .expect("runs")
}

#[test]
fn mccolo_report_says_who_when_and_how_much_spam_fell() {
    let f = fixture();
    let out = out_dir("report-mccolo");
    let mut extra = vec![
        "--timeline".to_string(),
        f.timeline.display().to_string(),
        "--as-names".into(),
        sample("as-names.txt"),
    ];
    extra.extend(telemetry_args());
    let o = run_report(&out, &extra);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let html = read(&out.join("report.html"));
    let md = read(&out.join("report.md"));

    // The headline: who, the last upstream, when, and the drop `correlate` measured.
    let drop = f.correlation["drop_pct"].as_f64().expect("a drop");
    let (lo, hi) = (
        f.correlation["ci_low_pct"].as_f64().expect("CI"),
        f.correlation["ci_high_pct"].as_f64().expect("CI"),
    );
    let headline = html
        .split("<p class=\"headline\">")
        .nth(1)
        .and_then(|s| s.split("</p>").next())
        .expect("a headline");
    for want in [
        "AS26780 (McColo)".to_string(),
        "AS6939 (Hurricane Electric)".into(),
        "2008-11-11 21:33 UTC".into(),
        format!("{drop:.1}%"),
        format!("95% CI {lo:.1}% to {hi:.1}%"),
    ] {
        assert!(
            headline.contains(&want),
            "{want:?} not in the headline: {headline}"
        );
    }
    assert!(md.contains("**Answer:**") && md.contains(&format!("{drop:.1}%")));
    // Evidence: the last route via each upstream, as the events file has it.
    assert!(html.contains("6453 3549 26780") && html.contains("5413 6939 26780"));
    // The samples are a reconstruction and the report says so up front.
    let warning = html.find("class=\"warning\"").expect("a warning");
    assert!(warning < html.find("<h2>").expect("sections"));
    assert!(html[warning..].contains("RECONSTRUCTION"));

    // Provenance: every input file of the summary, with the sha256 of its bytes.
    let events_text = read(&f.events);
    let summary: Value =
        serde_json::from_str(events_text.lines().last().expect("summary")).expect("JSON");
    let files = summary["files"].as_array().expect("files");
    assert!(files.len() > 500);
    let sums = read(&out.join("inputs.sha256"));
    for file in files {
        let path = file["path"].as_str().expect("path");
        let hash = sha256(&root().join(path));
        assert!(html.contains(&hash), "{path}: {hash} not in report.html");
        assert!(md.contains(&hash), "{path}: {hash} not in report.md");
        assert!(
            sums.contains(&format!("{hash}  {}\n", root().join(path).display())),
            "{path} not in inputs.sha256"
        );
    }
    // The list checks with the real tool from inside the report folder, where a reader
    // would run it (the report ran elsewhere, on relative paths).
    let check = std::process::Command::new("sha256sum")
        .args(["-c", "inputs.sha256"])
        .current_dir(&out)
        .output()
        .expect("sha256sum runs");
    let said = String::from_utf8_lossy(&check.stdout);
    assert!(
        check.status.success(),
        "sha256sum -c failed in {}: {said}{}",
        out.display(),
        String::from_utf8_lossy(&check.stderr)
    );
    assert_eq!(said.matches(": OK\n").count(), sums.lines().count());
    assert_eq!(
        sums.lines().count(),
        files.len() + 5,
        "MRT, events, timeline, names, series"
    );
    for extra_file in [&f.events, &f.timeline] {
        assert!(html.contains(&sha256(extra_file)));
    }
    assert!(html.contains(&sha256(&root().join("samples/spam-2008/spam-hourly.csv"))));
    // Markdown holds no HTML entities (quotes are quotes), and the spam caveats are one line.
    for entity in ["&quot;", "&#39;", "&amp;", "&lt;", "&gt;"] {
        assert!(!md.contains(entity), "report.md contains {entity}");
    }
    assert!(md.contains("the series \"spam-hourly\" fell"));
    let limits = md
        .split("## Limits and caveats")
        .nth(1)
        .and_then(|s| s.split("\n## ").next())
        .expect("limits");
    let spam_lines: Vec<&str> = limits
        .lines()
        .filter(|l| l.starts_with("- Spam:"))
        .collect();
    assert_eq!(spam_lines.len(), 1, "{limits}");
    assert_eq!(
        spam_lines[0].matches("vantage point").count(),
        1,
        "{limits}"
    );
    assert_eq!(spam_lines[0].matches("coincidence").count(), 1, "{limits}");
    // Rows count from the outage for `restored`, and the per-upstream evidence agrees with
    // the total beside it.
    assert!(
        md.contains("| **restored** | AS26780 (McColo) | AS1299 (TeliaSonera) | 0 → 27 of 36 |")
    );
    let gained: Value = events_text
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).expect("JSON"))
        .find(|v| v["event"] == "upstream_gained")
        .expect("upstream_gained");
    assert_eq!(
        gained["evidence"]["upstreams_after"]["1299"],
        gained["evidence"]["peers_after"]
    );
    // The scan command is rebuilt from the summary.
    assert!(html.contains("cutoff scan --asn 26780 samples/mccolo-2008-11/bgpdata/2008.11"));

    // Charts: SVG inline and on disk, PNG twice the SVG's size.
    for stem in ["visibility-AS26780", "prefixes-AS26780", "spam"] {
        let svg = read(&out.join(format!("{stem}.svg")));
        let height: u32 = svg
            .split("height=\"")
            .nth(1)
            .and_then(|s| s.split('"').next())
            .and_then(|s| s.parse().ok())
            .expect("svg height");
        let (w, h, px) = decode_png(&std::fs::read(out.join(format!("{stem}.png"))).expect("png"));
        assert_eq!((w, h), (1800, 2 * height), "{stem}");
        let inked = px.iter().filter(|p| p.iter().any(|c| *c < 200)).count();
        assert!(inked * 50 > px.len(), "{stem}.png is nearly blank");
        assert!(
            html.contains(&format!("<figure id=\"{stem}\">")),
            "{stem} not inline"
        );
        assert!(md.contains(&format!("]({stem}.png)")));
    }
    // Upstream colours: the same square in the tables as the band in the chart.
    let vis = read(&out.join("visibility-AS26780.svg")).to_lowercase();
    assert!(vis.contains("#56b4e9") && html.contains("background:#56b4e9"));

    // Self-contained: no script, nothing fetched.
    for bad in ["<script", "<link", "src=", "href=", "@import", "url("] {
        assert!(!html.contains(bad), "report.html contains {bad}");
    }
    // events.jsonl holds the events and summary again.
    let again = read(&out.join("events.jsonl"));
    assert_eq!(again.lines().count(), events_text.lines().count());
}

#[test]
fn scan_report_writes_the_same_files_with_the_real_command() {
    let out = out_dir("report-scan");
    let o = cutoff()
        .current_dir(root())
        .args([
            "scan",
            "--asn",
            "26780",
            "samples/mccolo-2008-11",
            "--format",
            "jsonl",
        ])
        .args(telemetry_args())
        .args(["--as-names", "samples/as-names.txt", "--report"])
        .arg(&out)
        .output()
        .expect("runs");
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let stdout = String::from_utf8(o.stdout).expect("utf-8");
    assert!(stdout.lines().any(|l| l.contains("\"type\":\"summary\"")));
    let html = read(&out.join("report.html"));
    assert!(
        html.contains("cutoff scan --asn 26780 samples/mccolo-2008-11 --format jsonl --telemetry")
    );
    assert!(html.contains("<figure id=\"visibility-AS26780\">"));
    assert!(html.contains("<figure id=\"spam\">"));
    for f in [
        "report.md",
        "events.jsonl",
        "inputs.sha256",
        "spam.png",
        "prefixes-AS26780.svg",
    ] {
        assert!(out.join(f).is_file(), "{f}");
    }
}

#[test]
fn without_a_timeline_the_charts_are_omitted_and_say_why() {
    let out = out_dir("report-no-timeline");
    let o = run_report(&out, &[]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let html = read(&out.join("report.html"));
    assert!(html.contains("Visibility and prefix charts omitted:</strong> no timeline was given"));
    assert!(html.contains("Spam chart and measurement omitted:</strong> no telemetry was given"));
    assert!(!out.join("visibility-AS26780.svg").exists());
    assert!(!html.contains("<svg"));
    // Still the answer first, without a spam figure.
    assert!(html.contains("lost its last upstream, <span class=\"sw\""));
}

/// Turn the McColo events into hostile ones: names, file paths, reasons, series names.
#[test]
fn every_input_string_is_escaped() {
    let f = fixture();
    let dir = f.dir.join("hostile");
    std::fs::create_dir_all(&dir).expect("dir");
    // Events: a hostile reason on an extra event, hostile file paths and collector fields.
    let mut lines: Vec<Value> = read(&f.events)
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON"))
        .collect();
    let mut odd = lines[0].clone();
    odd["event"] = "inconclusive".into();
    odd["reason"] = HOSTILE.into();
    lines.insert(1, odd);
    lines[0]["last_seen_via"]["6939"]["path"] = HOSTILE.into();
    lines[0]["last_seen_via"]["6939"]["file"] = format!("x/{HOSTILE}.bz2").into();
    let summary = lines.last_mut().expect("summary");
    summary["files"][0]["path"] = format!("samples/{HOSTILE}/rib.bz2").into();
    summary["gaps"] =
        serde_json::json!([{"collector": HOSTILE, "file": HOSTILE, "problem": HOSTILE}]);
    summary["incomplete_input"] = true.into();
    summary["pending_at_end"] = serde_json::json!([HOSTILE]);
    let events = dir.join("events.jsonl");
    std::fs::write(
        &events,
        lines.iter().map(|v| format!("{v}\n")).collect::<String>(),
    )
    .expect("write");
    // Names and a telemetry series named hostilely.
    let names = dir.join("names.txt");
    std::fs::write(
        &names,
        format!("26780 {HOSTILE}\n6939 {HOSTILE}\n3549 {HOSTILE}\n"),
    )
    .expect("write");
    let csv = read(&root().join("samples/spam-2008/spam-hourly.csv"));
    let series = dir.join("spam.csv");
    let quoted = format!("\"{}\"", HOSTILE.replace('"', "\"\""));
    let mut body = String::from("ts,count,series\n");
    for l in csv.lines().filter(|l| !l.starts_with('#')).skip(1) {
        body.push_str(&format!("{l},{quoted}\n"));
    }
    std::fs::write(&series, body).expect("write");

    let out = out_dir("report-hostile");
    let o = cutoff()
        .current_dir(root())
        .arg("report")
        .arg("--events")
        .arg(&events)
        .arg("--timeline")
        .arg(&f.timeline)
        .arg("--as-names")
        .arg(&names)
        .arg("--telemetry")
        .arg(&series)
        .arg("--out")
        .arg(&out)
        .output()
        .expect("runs");
    // The gap makes the input incomplete: exit 3, report written.
    assert_eq!(
        o.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let html = read(&out.join("report.html"));
    let md = read(&out.join("report.md"));
    let raw = ["<script", "\"dq\"", "'sq'", "& </svg>", "</script>"];
    for bad in raw {
        assert!(!html.contains(bad), "report.html has {bad:?} unescaped");
    }
    // In Markdown every `<`, `>` and `&` has its backslash (quotes need none).
    for line in outside_fences(&md).lines() {
        for (i, c) in line.char_indices() {
            // (A `>` opening the line is the renderer's own quote mark.)
            if matches!(c, '<' | '>' | '&') && !(i == 0 && c == '>') {
                assert!(
                    line[..i].ends_with('\\'),
                    "report.md has {c:?} unescaped: {line}"
                );
            }
        }
    }
    // One closing tag per inline chart, none from the input.
    let charts = html.matches("<figure id=").count();
    assert_eq!(charts, 3);
    assert_eq!(html.matches("</svg>").count(), charts);
    for stem in ["visibility-AS26780", "spam", "prefixes-AS26780"] {
        let svg = read(&out.join(format!("{stem}.svg")));
        for bad in raw {
            assert!(!svg.contains(bad), "{stem}.svg has {bad:?} unescaped");
        }
        assert_eq!(svg.matches("</svg>").count(), 1, "{stem}.svg");
    }
    // The strings did get through, escaped, in every place.
    let escaped =
        "&lt;script&gt;alert(1)&lt;/script&gt; &quot;dq&quot; &#39;sq&#39; &amp; &lt;/svg&gt;";
    assert!(
        html.matches(escaped).count() >= 6,
        "hostile strings missing from report.html"
    );
    assert!(read(&out.join("visibility-AS26780.svg")).contains("&lt;script&gt;"));
    assert!(read(&out.join("spam.svg")).contains("&lt;script&gt;"));
    assert!(md.contains("\\<script\\>alert(1)\\</script\\> \"dq\" 'sq' \\& \\</svg\\>"));
}

/// Markdown outside fenced code blocks (a fence shows its text literally, as a command must
/// be shown; the renderer picks a fence the text cannot close).
fn outside_fences(md: &str) -> String {
    let mut out = String::new();
    let mut fence: Option<String> = None;
    for line in md.lines() {
        let ticks: String = line.chars().take_while(|c| *c == '`').collect();
        match &fence {
            Some(f) if line.trim_end() == f => fence = None,
            Some(_) => {}
            None if ticks.len() >= 3 => fence = Some(ticks),
            None => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    out
}

#[test]
fn bad_names_and_missing_files_exit_2_naming_them() {
    let f = fixture();
    let names = f.dir.join("bad-names.txt");
    std::fs::write(&names, "3549 Global Crossing\nGBLX 3549\n").expect("write");
    let out = out_dir("report-bad");
    let o = run_report(&out, &["--as-names".into(), names.display().to_string()]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("bad-names.txt line 2") && err.contains("GBLX"),
        "{err}"
    );
    assert!(!out.join("report.html").exists());

    let o = cutoff()
        .args(["report", "--events", "/nonexistent/events.jsonl", "--out"])
        .arg(&out)
        .output()
        .expect("runs");
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("/nonexistent/events.jsonl: cannot read"),
        "{err}"
    );

    // A line that is not JSON names the file and line.
    let broken = f.dir.join("broken.jsonl");
    let text = read(&f.events);
    let first = text.lines().next().unwrap_or("");
    std::fs::write(&broken, format!("{first}\n{{not json\n")).expect("write");
    let o = cutoff()
        .arg("report")
        .arg("--events")
        .arg(&broken)
        .arg("--out")
        .arg(&out)
        .output()
        .expect("runs");
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("broken.jsonl line 2: not JSON"), "{err}");

    // Events without the summary line cannot give provenance.
    std::fs::write(&broken, text.lines().next().unwrap_or("")).expect("write");
    let o = run_report_with(&broken, &out);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no summary line"));

    // --as-names without a report is a mistake, said before the scan runs.
    let o = cutoff()
        .current_dir(root())
        .args([
            "scan",
            "--asn",
            "26780",
            "samples/mccolo-2008-11",
            "--as-names",
            "samples/as-names.txt",
        ])
        .output()
        .expect("runs");
    assert_eq!(o.status.code(), Some(2));
}

fn run_report_with(events: &Path, out: &Path) -> std::process::Output {
    cutoff()
        .arg("report")
        .arg("--events")
        .arg(events)
        .arg("--out")
        .arg(out)
        .output()
        .expect("runs")
}

/// Headless Chromium draws the report: the screenshot is not blank and shows the charts'
/// colours. Skipped without Chromium, unless CUTOFF_REQUIRE_ORACLE is set (CI).
#[test]
fn chromium_renders_the_report() {
    let Some(chromium) = common::installed(
        &["/usr/bin/chromium", "/usr/bin/chromium-browser"],
        "chromium",
    ) else {
        return;
    };
    let f = fixture();
    let out = out_dir("report-browser");
    let mut extra = vec![
        "--timeline".to_string(),
        f.timeline.display().to_string(),
        "--as-names".into(),
        sample("as-names.txt"),
    ];
    extra.extend(telemetry_args());
    let o = run_report(&out, &extra);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let shot = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("report-screenshot.png");
    let _ = std::fs::remove_file(&shot);
    let profile = tempfile::tempdir().expect("profile dir");
    let o = std::process::Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("--screenshot={}", shot.display()))
        .arg("--window-size=1200,3000")
        .arg(format!("file://{}", out.join("report.html").display()))
        .output()
        .expect("chromium runs");
    assert!(
        shot.is_file(),
        "no screenshot: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let (w, h, px) = decode_png(&std::fs::read(&shot).expect("png"));
    assert_eq!((w, h), (1200, 3000));
    let non_white = px.iter().filter(|p| p.iter().any(|c| *c < 235)).count();
    assert!(
        non_white * 10 > px.len(),
        "mostly blank: {non_white} of {}",
        px.len()
    );
    let distinct: std::collections::HashSet<[u8; 3]> = px.iter().step_by(7).copied().collect();
    assert!(distinct.len() > 200, "only {} colours", distinct.len());
    // The first two upstream bands (AS3549, AS6939) and the prefix strip are drawn.
    let near = |c: [u8; 3]| {
        px.iter()
            .filter(|p| (0..3).map(|i| p[i].abs_diff(c[i]) as u32).sum::<u32>() <= 24)
            .count()
    };
    for (name, c) in [
        ("AS3549 band", [0x56, 0xb4, 0xe9]),
        ("AS6939 band", [0xe6, 0x9f, 0x00]),
        ("prefix strip", [0x1f, 0x6f, 0xb2]),
    ] {
        assert!(near(c) > 2000, "{name} colour barely present: {}", near(c));
    }
    eprintln!("screenshot: {}", shot.display());
}
