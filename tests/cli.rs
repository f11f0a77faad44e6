//! The command line as users meet it: formats, exit codes, errors that name the problem.

mod common;
use common::*;

const MCCOLO: &str = "mccolo-2008-11";

#[test]
fn every_output_format_carries_the_same_events() {
    let base = ["scan", "--asn", "26780"];
    let run = |fmt: &str| {
        let out = cutoff()
            .args(base)
            .arg(sample(MCCOLO))
            .args(["--format", fmt])
            .output()
            .expect("runs");
        assert!(out.status.success(), "{fmt}");
        String::from_utf8(out.stdout).expect("UTF-8")
    };
    let json: serde_json::Value = serde_json::from_str(&run("json")).expect("valid JSON");
    assert_eq!(json["schema_version"], 1);
    assert_eq!(json["events"].as_array().map(Vec::len), Some(4));
    assert_eq!(json["summary"]["files_read"], 577);

    let csv = run("csv");
    let mut rdr = csv::Reader::from_reader(csv.as_bytes());
    let rows: Vec<csv::StringRecord> = rdr.records().map(|r| r.expect("CSV row")).collect();
    assert_eq!(rows.len(), 4);
    assert_eq!(&rows[0][0], "disconnected");
    assert_eq!(&rows[0][2], "2008-11-11T21:33:00Z");

    let md = run("markdown");
    assert!(
        md.contains("| 2008-11-11T21:33:00Z | disconnected | AS26780 |"),
        "{md}"
    );
    assert!(md.contains("Thresholds: min-duration 15m"), "{md}");

    let table = run("table");
    assert!(
        table.contains("2008-11-11 21:33:00 UTC  disconnected"),
        "{table}"
    );
    assert!(table.contains("AS3549 last at 21:25:30"), "{table}");
    assert!(
        table.contains("Read 577 files from route-views2"),
        "{table}"
    );
}

#[test]
fn exit_code_flag_reports_events_as_status_1() {
    cutoff()
        .args(["scan", "--asn", "26780", "--exit-code", "--format", "jsonl"])
        .arg(sample(MCCOLO))
        .assert()
        .code(1);
    // Nothing found: 0 even with --exit-code.
    cutoff()
        .args(["scan", "--asn", "64999", "--exit-code", "--format", "jsonl"])
        .arg(sample(MCCOLO))
        .assert()
        .code(0);
}

/// `timeline` offers only what it does: its own two formats, and none of `scan`'s output,
/// report or telemetry flags (they were accepted and ignored, or refused only when run).
#[test]
fn timeline_accepts_only_the_flags_it_honours() {
    let m = "samples/mccolo-2008-11";
    common::assert_usage_errors([
        (
            &["timeline", "--asn", "1", "--format", "table", m],
            "possible values: jsonl, csv",
        ),
        (&["timeline", "--asn", "1", "--exit-code", m], "--exit-code"),
        (
            &["timeline", "--asn", "1", "--telemetry", "x.csv", m],
            "--telemetry",
        ),
        (
            &["timeline", "--asn", "1", "--control", "x.csv", m],
            "--control",
        ),
        (
            &["timeline", "--asn", "1", "--report", "out", m],
            "--report",
        ),
    ]);
    let help = cutoff()
        .args(["timeline", "--help"])
        .output()
        .expect("runs");
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(
        help.contains("- jsonl:") && help.contains("- csv:"),
        "{help}"
    );
    assert!(
        !help.contains("- table") && !help.contains("markdown"),
        "{help}"
    );
}

/// "No events" only when something was read; a range beside the data is said on stderr.
#[test]
fn no_events_is_said_only_when_something_was_analysed() {
    let out = cutoff()
        .args(["scan", "--asn", "26780", "--format", "table"])
        .args(["--from", "2030-01-01", "samples/mccolo-2008-11"])
        .output()
        .expect("runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(
            "--from 2030-01-01T00:00:00Z is after the input's last record (2008-11-15T23:59:55Z)"
        ),
        "{err}"
    );
    let tmp = tempfile::tempdir().expect("tempdir");
    let not_mrt = tmp.path().join("notes.txt");
    std::fs::write(&not_mrt, "not an MRT file\n").expect("write");
    let out = cutoff()
        .args(["scan", "--asn", "26780", "--format", "table"])
        .arg(&not_mrt)
        .output()
        .expect("runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("Nothing read: no MRT records"), "{text}");
    assert_eq!(out.status.code(), Some(3), "the file is a gap");
}

/// The method the README and `--help` cite is in the repository: every "§n" they cite is a
/// section of docs/METHOD.md, and nothing cites a document the repository does not hold.
#[test]
fn cited_method_sections_exist_in_the_repository() {
    let method = std::fs::read_to_string(root().join("docs/METHOD.md")).expect("docs/METHOD.md");
    let mut texts = vec![std::fs::read_to_string(root().join("README.md")).expect("README")];
    let help = cutoff()
        .args(["correlate", "--help"])
        .output()
        .expect("runs");
    texts.push(String::from_utf8_lossy(&help.stdout).into_owned());
    for text in &texts {
        assert!(
            !text.contains("DESIGN §"),
            "cites a document not in the repository"
        );
        for (i, _) in text.match_indices("METHOD.md") {
            let rest = &text[i..];
            let Some(at) = rest.find('§').filter(|at| *at < 20) else {
                continue;
            };
            let n: String = rest[at + '§'.len_utf8()..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            assert!(
                method.contains(&format!("## §{n} ")),
                "§{n} is not in docs/METHOD.md"
            );
        }
    }
}

#[test]
fn usage_errors_exit_2_with_a_reason() {
    let cases: [(&[&str], &str); 5] = [
        (&["scan", "samples/mccolo-2008-11"], "--asn"),
        (
            &["scan", "--asn", "1", "--max-residual", "lots", "samples"],
            "peer count",
        ),
        (
            &[
                "scan",
                "--asn",
                "1",
                "--min-duration",
                "15 minutes",
                "samples",
            ],
            "duration",
        ),
        (
            &["scan", "--asn", "1", "no/such/file.bz2"],
            "no/such/file.bz2",
        ),
        (
            &[
                "scan",
                "--asn",
                "1",
                "--from",
                "2008-11-12",
                "--to",
                "2008-11-11",
                "samples/mccolo-2008-11",
            ],
            "--from is after --to",
        ),
    ];
    assert_usage_errors(cases);
}

/// A broken file among good ones: the run goes on, names the file and the problem, counts
/// it as a gap in the summary, and exits 3.
#[test]
fn a_corrupt_file_is_a_reported_gap_and_the_run_goes_on() {
    let dir = tempfile::tempdir().expect("tempdir");
    let good = root().join("samples/routeviews-2008-02/updates.20080223.2335.bz2");
    std::fs::copy(&good, dir.path().join("updates.20080223.2335.bz2")).expect("copy");
    let bytes = std::fs::read(&good).expect("read");
    std::fs::write(
        dir.path().join("updates.20080223.2350.bz2"),
        &bytes[..bytes.len() / 2],
    )
    .expect("write half");
    let r = scan(&["--asn", "26780", &dir.path().display().to_string()]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(
        r.stderr.contains("updates.20080223.2350.bz2") && r.stderr.contains("truncated"),
        "{}",
        r.stderr
    );
    let gaps = r.summary["gaps"].as_array().expect("gaps");
    assert_eq!(gaps.len(), 1);
    assert!(
        gaps[0]["file"]
            .as_str()
            .unwrap_or("")
            .ends_with("updates.20080223.2350.bz2")
    );
    assert_eq!(r.summary["files_read"], 2);
    assert!(
        r.summary["records"].as_u64().unwrap_or(0) > 23_482,
        "the good file and part of the bad one were read"
    );
    assert_eq!(r.summary["incomplete_input"], true);
}

#[test]
fn awkward_files_never_panic() {
    for entry in std::fs::read_dir(root().join("samples/awkward"))
        .expect("dir")
        .map_while(Result::ok)
    {
        let path = entry.path().display().to_string();
        for args in [
            vec!["dump", &path],
            vec!["scan", "--asn", "26780", "--format", "jsonl", &path],
        ] {
            let out = cutoff().args(&args).output().expect("runs");
            let code = out.status.code();
            assert!(
                matches!(code, Some(0) | Some(3)),
                "{args:?}: {code:?} {}",
                String::from_utf8_lossy(&out.stderr)
            );
            assert!(
                !String::from_utf8_lossy(&out.stderr).contains("panicked"),
                "{args:?}"
            );
        }
    }
}

#[test]
fn dump_filters_by_prefix_peer_asn_and_time() {
    let file = sample("routeviews-2008-02-24");
    let out = cutoff()
        .args([
            "dump",
            "--prefix",
            "208.65.152.0/22",
            "--asn",
            "17557",
            "--from",
            "2008-02-24T18:47:00Z",
            "--to",
            "2008-02-24T18:48:00Z",
            &file,
        ])
        .output()
        .expect("runs");
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert!(!lines.is_empty());
    assert!(
        lines
            .iter()
            .all(|l| l.contains("|208.65.153.0/24|") && l.contains(" 17557|")),
        "{text}"
    );
    let t = |l: &str| {
        l.split('|')
            .nth(1)
            .and_then(|s| s.parse::<i64>().ok())
            .unwrap_or(0)
    };
    assert!(
        lines
            .iter()
            .all(|l| (1203878820..=1203878880).contains(&t(l))),
        "{text}"
    );

    let out = cutoff()
        .args([
            "dump",
            "--format",
            "jsonl",
            "--peer",
            "81.209.156.1",
            "--prefix",
            "208.65.153.0/24",
            &file,
        ])
        .output()
        .expect("runs");
    let text = String::from_utf8_lossy(&out.stdout);
    let objs: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON"))
        .collect();
    assert!(
        objs.iter()
            .any(|o| o["type"] == "withdraw" && o["time"] == "2008-02-24T21:01:21Z"),
        "{text}"
    );
    assert!(objs.iter().all(|o| o["peer_ip"] == "81.209.156.1"));
}

#[test]
fn samples_match_their_published_checksums() {
    let readme =
        std::fs::read_to_string(root().join("samples/README.md")).expect("samples/README.md");
    let mut checked = 0;
    for line in readme.lines().filter(|l| l.starts_with("| `")) {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let (file, sum) = (cells[1].trim_matches('`'), cells[3].trim_matches('`'));
        if sum.len() != 64 {
            continue;
        }
        let bytes = std::fs::read(root().join("samples").join(file))
            .unwrap_or_else(|e| panic!("{file}: {e}"));
        use sha2::Digest;
        assert_eq!(hex::encode(sha2::Sha256::digest(&bytes)), sum, "{file}");
        checked += 1;
    }
    assert!(checked >= 25, "{checked}");
    let sums = std::fs::read_to_string(root().join("samples/mccolo-2008-11/SHA256SUMS"))
        .expect("SHA256SUMS");
    for line in sums.lines() {
        let (sum, file) = line.split_once("  ").expect("sha256sum format");
        let bytes = std::fs::read(root().join("samples/mccolo-2008-11").join(file)).expect("file");
        use sha2::Digest;
        assert_eq!(hex::encode(sha2::Sha256::digest(&bytes)), sum, "{file}");
    }
}

/// `scan --telemetry` in one go: the events, the scan summary, then one correlation per
/// event that telemetry can speak to, and the correlation summary.
#[test]
fn scan_with_telemetry_correlates_in_one_go() {
    let out = cutoff()
        .args(["scan", "--asn", "26780", "--format", "jsonl", "--telemetry"])
        .arg(sample("spam-2008/spam-hourly.csv"))
        .arg("--control")
        .arg(sample("spam-2008/ham-hourly.csv"))
        .arg(sample(MCCOLO))
        .output()
        .expect("runs");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    let types: Vec<&str> = lines
        .iter()
        .map(|v| v["type"].as_str().unwrap_or("event"))
        .collect();
    assert_eq!(
        types,
        [
            "event",
            "event",
            "event",
            "event",
            "summary",
            "correlation",
            "correlation",
            "correlation",
            "correlation_summary"
        ]
    );
    let cut = &lines[5];
    assert_eq!(cut["event_time"], "2008-11-11T21:33:00Z");
    let drop = cut["drop_pct"].as_f64().expect("drop_pct");
    assert!((66.0..=78.0).contains(&drop), "{drop}");
    assert!(cut["ci_low_pct"].as_f64() < Some(drop) && cut["ci_high_pct"].as_f64() > Some(drop));
    assert!(cut["sentence"].as_str().unwrap_or("").contains("AS26780"));
}

#[test]
fn bad_telemetry_stops_the_scan_before_it_starts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bad = dir.path().join("spam.csv");
    std::fs::write(&bad, "ts,count\n2008-11-11T00:00:00Z,10\nnot a time,3\n").expect("write");
    let out = cutoff()
        .args(["scan", "--asn", "26780", "--telemetry"])
        .arg(&bad)
        .arg(sample(MCCOLO))
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("spam.csv") && err.contains("line 3"), "{err}");
    assert!(out.stdout.is_empty(), "nothing scanned");
}

#[test]
fn a_watchlist_file_names_ases_and_prefixes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let list = dir.path().join("watch.txt");
    std::fs::write(&list, "# flagged\nAS26780  McColo\n208.72.168.0/21\n").expect("write");
    let r = scan(&["--watchlist", &list.display().to_string(), &sample(MCCOLO)]);
    assert_eq!(r.summary["asns"], serde_json::json!([26780]));
    assert_eq!(
        r.summary["extra_prefixes"],
        serde_json::json!(["208.72.168.0/21"])
    );
    assert_eq!(r.events.len(), 4, "{:#?}", r.events);
    std::fs::write(&list, "AS26780\nMcColo\n").expect("write");
    let out = cutoff()
        .args(["scan", "--watchlist"])
        .arg(&list)
        .arg(sample(MCCOLO))
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("line 2"));
}

/// The timeline the README shows for its first command is what that command prints.
#[test]
fn the_readme_shows_the_first_commands_real_output() {
    let readme = std::fs::read_to_string(root().join("README.md")).expect("README");
    let shown: Vec<&str> = readme
        .lines()
        .skip_while(|l| !l.starts_with("2008-11-11 21:33:00 UTC"))
        .take_while(|l| !l.starts_with("```"))
        .filter(|l| l.starts_with("2008-") || l.starts_with("Read "))
        .collect();
    assert!(shown.len() >= 5, "README block not found: {shown:?}");
    let out = cutoff()
        .args(["scan", "--asn", "26780", "--format", "table"])
        .arg(sample(MCCOLO))
        .output()
        .expect("runs");
    let text = String::from_utf8(out.stdout).expect("UTF-8");
    let printed: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("2008-") || l.starts_with("Read "))
        .collect();
    assert_eq!(printed, shown);
}

/// Every README example that shows its output prints that output: each ```sh block
/// followed directly by an output block is run (its `cargo run --release --` or `cutoff`
/// commands, `> FILE` redirected into a temporary directory) and the last command's stdout is
/// compared line by line with the block, where a line `...` or `…` stands for any lines. Run
/// from a pipe, `scan`, `merge` and `timeline` print JSON Lines; the README shows a terminal, so the
/// terminal's format (`--format table`, `csv`) is added where the example gives none.
#[test]
fn every_readme_example_prints_what_the_readme_shows() {
    let readme = std::fs::read_to_string(root().join("README.md")).expect("README");
    let blocks = fenced_blocks(&readme);
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut checked = 0;
    for pair in blocks.windows(2) {
        let (code, shown) = (&pair[0], &pair[1]);
        if code.lang != "sh" || !shown.lang.is_empty() || shown.opened != code.closed + 1 {
            continue;
        }
        let mut printed = String::new();
        for line in shell_lines(&code.body) {
            printed = run_readme_command(&line, tmp.path());
        }
        assert!(
            lines_match(&shown.body, &printed),
            "README block at line {} no longer matches; the program prints:\n{printed}",
            shown.opened + 1
        );
        checked += 1;
    }
    assert!(checked >= 2, "README examples with output found: {checked}");
}

struct Fenced {
    lang: String,
    body: String,
    /// Line indexes of the opening and closing fences.
    opened: usize,
    closed: usize,
}

fn fenced_blocks(text: &str) -> Vec<Fenced> {
    let mut out = Vec::new();
    let mut open: Option<Fenced> = None;
    for (i, line) in text.lines().enumerate() {
        match (line.strip_prefix("```"), open.take()) {
            (Some(lang), None) => {
                open = Some(Fenced {
                    lang: lang.trim().to_string(),
                    body: String::new(),
                    opened: i,
                    closed: i,
                })
            }
            (Some(_), Some(mut block)) => {
                block.closed = i;
                out.push(block);
            }
            (None, Some(mut block)) => {
                block.body.push_str(line);
                block.body.push('\n');
                open = Some(block);
            }
            (None, None) => {}
        }
    }
    out
}

/// The `cutoff` commands of a shell block: continuation lines joined, comments dropped.
fn shell_lines(body: &str) -> Vec<String> {
    let joined = body.replace("\\\n", " ");
    joined
        .lines()
        .map(|l| l.split(" #").next().unwrap_or_default().trim().to_string())
        .filter(|l| l.starts_with("cargo run --release -- ") || l.starts_with("cutoff "))
        .collect()
}

/// Run one README command from the repository root; `> FILE` and later mentions of FILE go
/// to `tmp`. Returns its stdout.
fn run_readme_command(line: &str, tmp: &std::path::Path) -> String {
    let line = line
        .strip_prefix("cargo run --release -- ")
        .or_else(|| line.strip_prefix("cutoff "))
        .unwrap_or(line);
    let (command, redirect) = match line.split_once(" > ") {
        Some((c, f)) => (c, Some(f.trim())),
        None => (line, None),
    };
    // The file after `--partial` is written there, and found there by later commands.
    let words: Vec<&str> = command.split_whitespace().collect();
    let mut args: Vec<String> = words
        .iter()
        .enumerate()
        .map(|(i, a)| {
            let in_tmp = tmp.join(a);
            if in_tmp.exists() || (i > 0 && words[i - 1] == "--partial") {
                in_tmp.display().to_string()
            } else {
                a.to_string()
            }
        })
        .collect();
    let terminal_format = match args.first().map(String::as_str) {
        Some("scan" | "merge") => Some("table"),
        Some("timeline") => Some("csv"),
        _ => None,
    };
    if let Some(f) = terminal_format.filter(|_| !args.iter().any(|a| a == "--format")) {
        args.extend(["--format".to_string(), f.to_string()]);
    }
    let out = cutoff()
        .current_dir(root())
        .args(&args)
        .output()
        .expect("runs");
    if let Some(file) = redirect {
        std::fs::write(tmp.join(file), &out.stdout).expect("redirect");
    }
    String::from_utf8(out.stdout).expect("UTF-8")
}

/// Whether `printed` has the lines `shown` has, `...`/`…` lines standing for any lines.
fn lines_match(shown: &str, printed: &str) -> bool {
    fn go(shown: &[&str], printed: &[&str]) -> bool {
        match shown.split_first() {
            None => printed.is_empty(),
            Some((&("..." | "…"), rest)) => (0..=printed.len()).any(|i| go(rest, &printed[i..])),
            Some((line, rest)) => printed
                .split_first()
                .is_some_and(|(p, more)| p.trim_end() == line.trim_end() && go(rest, more)),
        }
    }
    let shown: Vec<&str> = shown.lines().collect();
    let printed: Vec<&str> = printed.lines().collect();
    go(&shown, &printed)
}

/// A reader that stops early (`cutoff … | head -1`) is not an error: every command that
/// writes to stdout exits 0 and says nothing when its stdout is a pipe nobody reads. The
/// read end is closed before the command starts, so its first write fails every time.
#[test]
fn a_closed_stdout_ends_every_command_quietly_with_status_0() {
    let events = tempfile::NamedTempFile::new().expect("temp file");
    let out = cutoff()
        .args(["scan", "--asn", "26780", "--format", "jsonl"])
        .arg(sample(MCCOLO))
        .output()
        .expect("runs");
    std::fs::write(events.path(), &out.stdout).expect("events written");
    let events = events.path().display().to_string();
    let spam = sample("spam-2008/spam-hourly.csv");
    let mccolo = sample(MCCOLO);
    let commands: [Vec<&str>; 7] = [
        vec!["scan", "--asn", "26780", "--format", "jsonl", &mccolo],
        vec!["scan", "--asn", "26780", "--format", "table", &mccolo],
        vec!["timeline", "--asn", "26780", "--format", "csv", &mccolo],
        vec!["dump", "--asn", "26780", &mccolo],
        vec!["collectors"],
        vec!["config", "--example"],
        vec![
            "correlate",
            "--events",
            &events,
            "--telemetry",
            &spam,
            "--format",
            "table",
        ],
    ];
    for argv in commands {
        let (reader, writer) = std::io::pipe().expect("pipe");
        drop(reader);
        let out = std::process::Command::new(assert_cmd::cargo::cargo_bin("cutoff"))
            .args(&argv)
            .stdout(writer)
            .output()
            .expect("runs");
        assert_eq!(out.status.code(), Some(0), "{argv:?}");
        assert_eq!(String::from_utf8_lossy(&out.stderr), "", "{argv:?}");
    }
}

/// AS numbers are read the way every output writes them, and a duration flag says its unit:
/// `--min-duration 15` used to mean 15 seconds without a word, and a duration too long to
/// hold wrapped around to act as 0 s.
#[test]
fn asns_as_printed_and_durations_with_units() {
    let plain = scan(&["--asn", "26780", &sample(MCCOLO)]);
    for written in ["AS26780", "as26780"] {
        let r = scan(&["--asn", written, &sample(MCCOLO)]);
        assert_eq!(r.code, 0, "{written}: {}", r.stderr);
        assert_eq!(r.events, plain.events, "{written}");
    }
    assert_usage_errors([
        (
            &[
                "scan",
                "--asn",
                "26780",
                "--min-duration",
                "15",
                "samples/mccolo-2008-11",
            ],
            "give a unit, like 15m or 15s",
        ),
        (
            &[
                "scan",
                "--asn",
                "26780",
                "--min-duration",
                "106751991167301d",
                "samples/mccolo-2008-11",
            ],
            "at most 100 years",
        ),
        (
            &["scan", "--asn", "ASAS1", "samples/mccolo-2008-11"],
            "is not an AS number",
        ),
        (
            &["dump", "--asn", "AS", "samples/mccolo-2008-11"],
            "is not an AS number",
        ),
        (
            &[
                "scan",
                "--asn",
                "26780",
                "--exclude-peer",
                "AS3277",
                "--exclude-peer",
                "nobody",
                "samples/mccolo-2008-11",
            ],
            "--exclude-peer \"nobody\": expected an IP address or an AS number",
        ),
    ]);
}

#[test]
fn one_file_is_one_file_in_the_summary() {
    let rib = sample("mccolo-2008-11/bgpdata/2008.11/RIBS/rib.20081110.0000.bz2");
    let out = cutoff()
        .args(["scan", "--asn", "26780", "--format", "table", &rib])
        .output()
        .expect("runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("Read 1 file from route-views2 ("), "{text}");
}

/// Every `[source]` TOML block the README shows is a configuration the monitor takes (with a
/// watch added), so the documented keys cannot drift from the real ones.
#[test]
fn the_readme_s_source_settings_are_accepted() {
    let readme = std::fs::read_to_string(root().join("README.md")).expect("README");
    let blocks: Vec<String> = readme
        .split("```toml\n")
        .skip(1)
        .filter_map(|b| b.split("```").next())
        .filter(|b| b.starts_with("[source]"))
        .map(String::from)
        .collect();
    assert!(blocks.len() >= 2, "the BMP and RIS Live blocks: {blocks:?}");
    let dir = tempfile::tempdir().expect("tempdir");
    for block in blocks {
        let path = dir.path().join("monitor.toml");
        std::fs::write(
            &path,
            format!("state_dir = \"state\"\n[[watch]]\nasn = 1\n{block}"),
        )
        .expect("write");
        let out = cutoff()
            .args(["config", "--config"])
            .arg(&path)
            .output()
            .expect("runs");
        assert!(
            out.status.success(),
            "README block not accepted:\n{block}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
