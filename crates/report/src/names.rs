//! AS names for reports (`--as-names FILE`), so a reader sees "AS3549 (Global Crossing)".
//!
//! Accepted lines, one AS each (`#` starts a comment):
//! - `3549 Global Crossing` (a number, then the name);
//! - `AS3549   GBLX-US, US` (potaroo/RIPE `asn.txt`: `AS` prefix, name, trailing country code);
//! - `3549 GBLX-US Global Crossing Ltd., US`.
//!
//! A trailing `, CC` country code (two capital letters) is dropped: it is not part of the name.

use std::collections::BTreeMap;
use std::path::Path;

#[derive(Debug, Clone, Default)]
pub struct AsNames {
    names: BTreeMap<u32, String>,
}

impl AsNames {
    pub fn from_file(path: &Path) -> Result<AsNames, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
        Self::parse(&text).map_err(|(line, msg)| format!("{} line {line}: {msg}", path.display()))
    }

    /// Parse the text of a names file; an error carries the line number.
    pub fn parse(text: &str) -> Result<AsNames, (usize, String)> {
        let mut names = BTreeMap::new();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let (asn, name) = parse_line(line).map_err(|m| (i + 1, m))?;
            names.insert(asn, name);
        }
        Ok(AsNames { names })
    }

    pub fn insert(&mut self, asn: u32, name: &str) {
        self.names.insert(asn, name.to_string());
    }

    pub fn name(&self, asn: u32) -> Option<&str> {
        self.names.get(&asn).map(String::as_str)
    }

    /// `AS3549 (Global Crossing)`, or `AS3549` when the name is unknown.
    pub fn label(&self, asn: u32) -> String {
        match self.name(asn) {
            Some(n) => format!("AS{asn} ({n})"),
            None => format!("AS{asn}"),
        }
    }

    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }
}

fn parse_line(line: &str) -> Result<(u32, String), String> {
    let (first, rest) = line
        .split_once(char::is_whitespace)
        .ok_or_else(|| format!("{line:?}: expected an AS number and a name"))?;
    let digits = first
        .strip_prefix("AS")
        .or_else(|| first.strip_prefix("as"))
        .unwrap_or(first);
    let asn: u32 = digits
        .parse()
        .map_err(|_| format!("{first:?} is not an AS number (expected 3549 or AS3549)"))?;
    let name = strip_country(rest.trim());
    if name.is_empty() {
        return Err(format!("AS{asn} has no name"));
    }
    Ok((asn, name.to_string()))
}

/// `GBLX-US, US` → `GBLX-US`: asn.txt ends each name with the registry's country code.
fn strip_country(name: &str) -> &str {
    match name.rsplit_once(',') {
        Some((head, cc))
            if cc.trim().len() == 2 && cc.trim().chars().all(|c| c.is_ascii_uppercase()) =>
        {
            head.trim()
        }
        _ => name,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_and_asn_txt_styles() {
        let n = AsNames::parse(
            "# names\n3549 Global Crossing\nAS6939   HURRICANE - Hurricane Electric, Inc., US\n\n\
             1299 TELIANET TeliaSonera, SE # comment\n",
        )
        .expect("parses");
        assert_eq!(n.label(3549), "AS3549 (Global Crossing)");
        assert_eq!(n.name(6939), Some("HURRICANE - Hurricane Electric, Inc."));
        assert_eq!(n.name(1299), Some("TELIANET TeliaSonera"));
        assert_eq!(n.label(1), "AS1");
        assert_eq!(n.len(), 3);
    }

    #[test]
    fn bad_lines_name_the_line() {
        let (line, msg) = AsNames::parse("3549 Global Crossing\nGBLX 3549\n").expect_err("bad");
        assert_eq!(line, 2);
        assert!(msg.contains("\"GBLX\" is not an AS number"), "{msg}");
        let (line, msg) = AsNames::parse("\n\n3549\n").expect_err("no name");
        assert_eq!(line, 3);
        assert!(msg.contains("expected an AS number and a name"), "{msg}");
        let (_, msg) = AsNames::parse("99999999999 Big\n").expect_err("too big");
        assert!(msg.contains("not an AS number"), "{msg}");
    }
}
