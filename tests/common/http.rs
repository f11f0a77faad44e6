//! A real HTTP/1.1 server on 127.0.0.1 serving folders in the archives' layouts with
//! Apache-style autoindex listings, and misbehaving on demand (archive and monitor tests).

use std::collections::{HashMap, VecDeque};
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the server does with the next request for a path (then it behaves again).
#[derive(Debug, Clone, Copy)]
pub enum Trick {
    Status(u16),
    /// Send the headers, then nothing for this long, then close.
    Stall(Duration),
    /// Send this many body bytes of a full-length response, then close.
    Cut(usize),
    /// Claim this many bytes more (or fewer) than the body has; send the body (or the claimed
    /// length) and close.
    WrongLength(i64),
    /// 503 with this `Retry-After` (seconds).
    RetryAfter(u64),
    /// The full length announced, then one byte every this long.
    Drip(Duration),
    /// 200 without a length and a body that never ends (until the client hangs up).
    Endless,
    /// 200 with this body, whatever was asked (an empty or undecodable listing).
    Body(&'static [u8]),
    /// The file as usual, with this `Last-Modified` header.
    LastModified(&'static str),
}

#[derive(Default)]
pub struct State {
    /// URL prefix → folder served below it.
    pub mounts: Vec<(String, PathBuf)>,
    pub tricks: HashMap<String, VecDeque<Trick>>,
    /// Paths answered 404 on every request.
    pub gone: Vec<String>,
    /// Every request: path and the start of its Range, if any.
    pub log: Vec<(String, Option<u64>)>,
}

#[derive(Clone)]
pub struct Server {
    pub base: String,
    pub state: Arc<Mutex<State>>,
}

impl Server {
    pub fn start(mounts: &[(&str, PathBuf)]) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let state = Arc::new(Mutex::new(State {
            mounts: mounts
                .iter()
                .map(|(p, d)| (p.to_string(), d.clone()))
                .collect(),
            ..State::default()
        }));
        let s = state.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming().map_while(Result::ok) {
                let s = s.clone();
                std::thread::spawn(move || {
                    let _ = serve(conn, &s);
                });
            }
        });
        Server { base, state }
    }

    pub fn url(&self, mount: &str) -> String {
        format!("{}{mount}", self.base)
    }

    pub fn trick(&self, path: &str, tricks: &[Trick]) {
        let mut st = self.state.lock().expect("state");
        st.tricks
            .entry(path.to_string())
            .or_default()
            .extend(tricks.iter().cloned());
    }

    pub fn gone(&self, path: &str) {
        self.state
            .lock()
            .expect("state")
            .gone
            .push(path.to_string());
    }

    pub fn requests(&self, path: &str) -> Vec<Option<u64>> {
        let st = self.state.lock().expect("state");
        st.log
            .iter()
            .filter(|(p, _)| p == path)
            .map(|(_, r)| *r)
            .collect()
    }

    pub fn total_requests(&self) -> usize {
        self.state.lock().expect("state").log.len()
    }
}

pub fn serve(mut conn: TcpStream, state: &Mutex<State>) -> std::io::Result<()> {
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
    let mut range = None;
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h)? == 0 || h.trim().is_empty() {
            break;
        }
        let lower = h.to_ascii_lowercase();
        if let Some(v) = lower.strip_prefix("range: bytes=") {
            range = v.trim().trim_end_matches('-').parse::<u64>().ok();
        }
    }
    let (trick, gone, local) = {
        let mut st = state.lock().expect("state");
        st.log.push((path.clone(), range));
        let trick = st.tricks.get_mut(&path).and_then(VecDeque::pop_front);
        let gone = st.gone.contains(&path);
        let local = st
            .mounts
            .iter()
            .find_map(|(m, dir)| path.strip_prefix(m.as_str()).map(|rest| dir.join(rest)));
        (trick, gone, local)
    };
    let Some(local) = local.filter(|_| !gone) else {
        return respond(&mut conn, "404 Not Found", &[], b"not here");
    };
    match trick {
        Some(Trick::Status(code)) => {
            return respond(&mut conn, &format!("{code} Trouble"), &[], b"try again");
        }
        Some(Trick::RetryAfter(secs)) => {
            let after = secs.to_string();
            return respond(&mut conn, "503 Busy", &[("Retry-After", &after)], b"later");
        }
        Some(Trick::Endless) => return endless(&mut conn),
        Some(Trick::Body(body)) => return respond(&mut conn, "200 OK", &[], body),
        _ => {}
    }
    if path.ends_with('/') {
        return match autoindex(&local, &path) {
            Some(html) => respond(
                &mut conn,
                "200 OK",
                &[("Content-Type", "text/html")],
                html.as_bytes(),
            ),
            None => respond(&mut conn, "404 Not Found", &[], b"no such folder"),
        };
    }
    let Ok(body) = std::fs::read(&local) else {
        return respond(&mut conn, "404 Not Found", &[], b"no such file");
    };
    send_file(&mut conn, &body, range, trick)
}

/// Headers without a length, then bytes until the client hangs up.
fn endless(conn: &mut TcpStream) -> std::io::Result<()> {
    conn.write_all(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nConnection: close\r\n\r\n")?;
    let chunk = b"<tr><td><a href=\"x\">x</a></td></tr>\n".repeat(1024);
    loop {
        conn.write_all(&chunk)?;
    }
}

pub fn respond(
    conn: &mut TcpStream,
    status: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<()> {
    let mut head = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    conn.write_all(head.as_bytes())?;
    conn.write_all(body)
}

pub fn send_file(
    conn: &mut TcpStream,
    body: &[u8],
    range: Option<u64>,
    trick: Option<Trick>,
) -> std::io::Result<()> {
    let total = body.len() as u64;
    let (status, part, extra) = match range {
        Some(start) if start >= total => {
            return respond(
                conn,
                "416 Range Not Satisfiable",
                &[("Content-Range", &format!("bytes */{total}"))],
                b"",
            );
        }
        Some(start) => (
            "206 Partial Content",
            &body[start as usize..],
            format!("Content-Range: bytes {start}-{}/{total}\r\n", total - 1),
        ),
        None => ("200 OK", body, String::new()),
    };
    let claimed = match &trick {
        Some(Trick::WrongLength(d)) => (part.len() as i64 + d).max(0) as usize,
        _ => part.len(),
    };
    let modified = match &trick {
        Some(Trick::LastModified(m)) => format!("Last-Modified: {m}\r\n"),
        _ => String::new(),
    };
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {claimed}\r\nAccept-Ranges: bytes\r\n{extra}{modified}Connection: close\r\n\r\n"
    );
    conn.write_all(head.as_bytes())?;
    match trick {
        Some(Trick::Stall(d)) => {
            conn.flush()?;
            std::thread::sleep(d);
            Ok(())
        }
        Some(Trick::Cut(n)) => conn.write_all(&part[..n.min(part.len())]),
        Some(Trick::Drip(every)) => {
            for b in part {
                conn.write_all(std::slice::from_ref(b))?;
                conn.flush()?;
                std::thread::sleep(every);
            }
            Ok(())
        }
        _ => conn.write_all(&part[..claimed.min(part.len())]),
    }
}

/// An Apache-style autoindex page with the oddities real listings have: sort links, the
/// parent folder, a subfolder, checksum files, a README and a name that is no MRT file.
pub fn autoindex(dir: &Path, path: &str) -> Option<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .ok()?
        .map_while(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.'))
        .collect();
    names.sort();
    let mut rows = String::new();
    let mut row = |href: &str, size: &str| {
        rows.push_str(&format!(
            "<tr><td valign=\"top\"><img src=\"/icons/unknown.gif\" alt=\"[   ]\"></td><td><a href=\"{href}\">{href}</a></td><td align=\"right\">2008-11-12 00:02  </td><td align=\"right\">{size}</td><td>&nbsp;</td></tr>\n"
        ));
    };
    for n in &names {
        let size = std::fs::metadata(dir.join(n)).map_or(0, |m| m.len());
        row(n, &format!("{}K", size / 1024));
        row(&format!("{n}.md5"), "1K");
    }
    row("old/", "-");
    row("README", "2K");
    row("updates.2008xx11.bz2", "1K");
    row("bview.20081111.bz2", "1K");
    Some(format!(
        "<!DOCTYPE HTML PUBLIC \"-//W3C//DTD HTML 3.2 Final//EN\">\n<html>\n <head>\n  <title>Index of {path}</title>\n </head>\n <body>\n<h1>Index of {path}</h1>\n  <table>\n   <tr><th valign=\"top\"><img src=\"/icons/blank.gif\" alt=\"[ICO]\"></th><th><a href=\"?C=N;O=D\">Name</a></th><th><a href=\"?C=M;O=A\">Last modified</a></th><th><a href=\"?C=S;O=A\">Size</a></th><th><a href=\"?C=D;O=A\">Description</a></th></tr>\n   <tr><th colspan=\"5\"><hr></th></tr>\n<tr><td valign=\"top\"><img src=\"/icons/back.gif\" alt=\"[PARENTDIR]\"></td><td><a href=\"../\">Parent Directory</a></td><td>&nbsp;</td><td align=\"right\">  - </td><td>&nbsp;</td></tr>\n{rows}   <tr><th colspan=\"5\"><hr></th></tr>\n</table>\n</body></html>\n"
    ))
}
