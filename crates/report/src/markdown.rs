//! `report.md`: the same content as the HTML, charts referenced as the PNG files beside it.
//! Every string from the input is escaped, so it reads as text in any Markdown renderer:
//! Markdown syntax characters and the HTML-significant `<`, `>`, `&` get a backslash
//! (CommonMark shows any escaped ASCII punctuation as itself); quotes need nothing, and no
//! HTML entity is written, so the file also reads right as plain text.

use crate::content::Content;
use crate::doc::{Block, Span};
use std::fmt::Write;

/// Escape text for Markdown (also inside table cells: `|` and newlines).
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' | '`' | '*' | '_' | '[' | ']' | '|' | '~' | '<' | '>' | '&' => {
                out.push('\\');
                out.push(c);
            }
            '\n' | '\r' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// A code span when the text is harmless in one, escaped text otherwise.
fn code_span(s: &str) -> String {
    let safe = !s.is_empty()
        && s.chars()
            .all(|c| !matches!(c, '`' | '<' | '>' | '&' | '|' | '\\' | '\n' | '\r'));
    if safe { format!("`{s}`") } else { esc(s) }
}

fn spans(line: &[Span]) -> String {
    let mut out = String::new();
    for s in line {
        match s {
            Span::Text(x) => out.push_str(&esc(x)),
            Span::Strong(x) => {
                // Emphasis cannot end in a space in CommonMark: keep spaces outside it.
                let inner = x.trim();
                let (lead, trail) = (
                    &x[..x.len() - x.trim_start().len()],
                    &x[inner.len() + (x.len() - x.trim_start().len())..],
                );
                let _ = write!(out, "{lead}**{}**{trail}", esc(inner));
            }
            Span::Code(x) => out.push_str(&code_span(x)),
            Span::Swatch(_) => {}
        }
    }
    out
}

/// A fence longer than any run of backticks in the text, so the text cannot close it.
fn fence(s: &str) -> String {
    let longest = s.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    "`".repeat((longest + 1).max(3))
}

pub fn render(c: &Content) -> String {
    let mut out = String::new();
    for block in &c.blocks {
        let _ = match block {
            Block::Title(x) => writeln!(out, "# {}\n", esc(x)),
            Block::Byline(l) => writeln!(out, "*{}*\n", spans(l)),
            Block::Headline(l) => writeln!(out, "> **Answer:** {}\n", spans(l)),
            Block::Warning(l) => writeln!(out, "> ⚠ {}\n", spans(l)),
            Block::Heading(x) => writeln!(out, "## {}\n", esc(x)),
            Block::Subheading(x) => writeln!(out, "### {}\n", esc(x)),
            Block::Para(l) => writeln!(out, "{}\n", spans(l)),
            Block::Quote(x) => writeln!(out, "> {}\n", esc(x)),
            Block::List(items) => {
                for i in items {
                    let _ = writeln!(out, "- {}", spans(i));
                }
                writeln!(out)
            }
            Block::Table { head, rows, .. } => {
                let _ = writeln!(
                    out,
                    "| {} |",
                    head.iter().map(|h| esc(h)).collect::<Vec<_>>().join(" | ")
                );
                let _ = writeln!(out, "|{}", "---|".repeat(head.len()));
                for r in rows {
                    let _ = writeln!(
                        out,
                        "| {} |",
                        r.iter().map(|c| spans(c)).collect::<Vec<_>>().join(" | ")
                    );
                }
                writeln!(out)
            }
            Block::Chart(i) => match c.charts.get(*i) {
                Some(ch) => writeln!(
                    out,
                    "### {}\n\n![{}]({}.png)\n\n{} (Vector version: {}.svg.)\n",
                    esc(&ch.title),
                    esc(&ch.title),
                    ch.stem,
                    esc(&ch.caption),
                    esc(&ch.stem)
                ),
                None => Ok(()),
            },
            Block::Omitted { title, why } => {
                writeln!(out, "*{} omitted: {}.*\n", esc(title), esc(why))
            }
            Block::Code(x) => {
                let f = fence(x);
                writeln!(out, "{f}sh\n{x}\n{f}\n")
            }
            Block::Facts(kv) => {
                for (k, v) in kv {
                    let _ = writeln!(out, "- **{}:** {}", esc(k), spans(v));
                }
                writeln!(out)
            }
        };
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markdown_and_html() {
        assert_eq!(esc("a|b"), "a\\|b");
        assert_eq!(esc("<script>"), "\\<script\\>");
        // No HTML entities in Markdown: quotes stay quotes, `&` is escaped by backslash.
        assert_eq!(esc("\"q\" 'a' & b"), "\"q\" 'a' \\& b");
        assert_eq!(esc("`x` *y*"), "\\`x\\` \\*y\\*");
        assert_eq!(code_span("AS 1 2"), "`AS 1 2`");
        assert_eq!(code_span("a`b"), "a\\`b");
        assert_eq!(fence("x ```` y"), "`````");
        assert_eq!(spans(&[Span::Strong("Note. ".into())]), "**Note.** ");
    }
}
