//! `report.html`: one self-contained file (inline CSS and SVG, no script, nothing loaded from
//! anywhere) that opens from an email attachment and prints cleanly. Every string from the
//! input is escaped here; the SVG comes from plotters, which escapes its text itself.

use crate::content::Content;
use crate::doc::{Block, Span};
use std::fmt::Write;

/// Escape for HTML text and double- or single-quoted attributes.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const CSS: &str = r#"
:root { --ink:#1f2933; --muted:#5f6b7a; --rule:#d9dde3; --accent:#b03a2e; --paper:#fff; --soft:#f5f6f8; }
* { box-sizing: border-box; }
body { margin:0; background:#eceef1; color:var(--ink);
  font: 15px/1.55 "DejaVu Sans", "Segoe UI", Helvetica, Arial, sans-serif; }
main { max-width: 980px; margin: 24px auto; background: var(--paper); padding: 36px 40px 48px;
  box-shadow: 0 1px 3px rgba(0,0,0,.08); }
h1 { font-size: 26px; line-height:1.25; margin: 0 0 6px; }
h2 { font-size: 19px; margin: 34px 0 10px; padding-bottom: 4px; border-bottom: 2px solid var(--ink); }
h3 { font-size: 16px; margin: 24px 0 8px; }
p { margin: 8px 0; }
.byline { color: var(--muted); font-size: 13px; margin-bottom: 18px; }
.headline { font-size: 21px; line-height: 1.4; font-weight: 500; margin: 18px 0; padding: 14px 18px;
  border-left: 5px solid var(--accent); background: #fbf3f2; }
.headline strong { font-weight: 700; white-space: nowrap; }
.warning { border: 1px solid #e0b84c; background: #fff8e1; padding: 10px 14px; margin: 10px 0;
  font-size: 14px; border-radius: 3px; }
blockquote { margin: 12px 0; padding: 8px 16px; border-left: 3px solid var(--rule); color: #333;
  font-style: italic; background: var(--soft); }
table { border-collapse: collapse; width: 100%; margin: 10px 0 16px; font-size: 13px; }
th, td { border-bottom: 1px solid var(--rule); padding: 5px 7px; text-align: left; vertical-align: top; }
th { background: var(--soft); font-weight: 600; white-space: nowrap; }
tbody tr:nth-child(even) td { background: #fafbfc; }
table.wide { font-size: 11px; }
table.wide code { font-size: 10.5px; word-break: break-all; }
code, pre { font-family: "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: 12.5px; }
pre { background: var(--soft); border: 1px solid var(--rule); padding: 10px 12px;
  white-space: pre-wrap; word-break: break-all; }
.sw { display: inline-block; width: 11px; height: 11px; margin-right: 5px; vertical-align: -1px;
  border-radius: 2px; }
figure { margin: 18px 0 26px; break-inside: avoid; }
figure h3 { margin: 0 0 4px; }
figure svg { display: block; max-width: 100%; height: auto; border: 1px solid var(--rule); }
svg text { font-family: "DejaVu Sans", Verdana, sans-serif; }
figcaption { font-size: 13px; color: var(--muted); margin-top: 6px; }
.omitted { border: 1px dashed var(--rule); padding: 12px 14px; color: var(--muted); font-size: 14px; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: 3px 16px; font-size: 14px; margin: 8px 0; }
dt { color: var(--muted); }
dd { margin: 0; }
ul { padding-left: 22px; }
li { margin: 4px 0; }
@media print { body { background: #fff; } main { box-shadow: none; margin: 0; max-width: none; padding: 0; }
  h2 { break-after: avoid; } }
"#;

pub fn render(c: &Content) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"generator\" content=\"cutoff {}\">\n<title>{}</title>\n<style>{CSS}</style>\n</head>\n<body>\n<main>\n",
        env!("CARGO_PKG_VERSION"),
        esc(&c.title)
    );
    for block in &c.blocks {
        block_html(&mut out, block, c);
    }
    out.push_str("</main>\n</body>\n</html>\n");
    out
}

fn spans(line: &[Span]) -> String {
    let mut out = String::new();
    for s in line {
        match s {
            Span::Text(x) => out.push_str(&esc(x)),
            Span::Strong(x) => {
                let _ = write!(out, "<strong>{}</strong>", esc(x));
            }
            Span::Code(x) => {
                let _ = write!(out, "<code>{}</code>", esc(x));
            }
            Span::Swatch(color) => {
                let _ = write!(
                    out,
                    "<span class=\"sw\" style=\"background:{}\"></span>",
                    esc(color)
                );
            }
        }
    }
    out
}

fn block_html(out: &mut String, block: &Block, c: &Content) {
    let _ = match block {
        Block::Title(x) => writeln!(out, "<h1>{}</h1>", esc(x)),
        Block::Byline(l) => writeln!(out, "<p class=\"byline\">{}</p>", spans(l)),
        Block::Headline(l) => writeln!(out, "<p class=\"headline\">{}</p>", spans(l)),
        Block::Warning(l) => writeln!(out, "<div class=\"warning\">{}</div>", spans(l)),
        Block::Heading(x) => writeln!(out, "<h2>{}</h2>", esc(x)),
        Block::Subheading(x) => writeln!(out, "<h3>{}</h3>", esc(x)),
        Block::Para(l) => writeln!(out, "<p>{}</p>", spans(l)),
        Block::Quote(x) => writeln!(out, "<blockquote>{}</blockquote>", esc(x)),
        Block::List(items) => {
            out.push_str("<ul>\n");
            for i in items {
                let _ = writeln!(out, "<li>{}</li>", spans(i));
            }
            writeln!(out, "</ul>")
        }
        Block::Table { wide, head, rows } => {
            let _ = write!(
                out,
                "<table{}>\n<thead><tr>",
                if *wide { " class=\"wide\"" } else { "" }
            );
            for h in head {
                let _ = write!(out, "<th>{}</th>", esc(h));
            }
            out.push_str("</tr></thead>\n<tbody>\n");
            for r in rows {
                out.push_str("<tr>");
                for cell in r {
                    let _ = write!(out, "<td>{}</td>", spans(cell));
                }
                out.push_str("</tr>\n");
            }
            writeln!(out, "</tbody>\n</table>")
        }
        Block::Chart(i) => {
            if let Some(ch) = c.charts.get(*i) {
                // The SVG is plotters' output (its text escaped by plotters); give it a
                // label for screen readers.
                let svg = ch.svg.replacen(
                    "<svg ",
                    &format!("<svg role=\"img\" aria-label=\"{}\" ", esc(&ch.title)),
                    1,
                );
                let _ = writeln!(
                    out,
                    "<figure id=\"{stem}\">\n<h3>{}</h3>\n{svg}\n<figcaption>{} Also saved as {stem}.png and {stem}.svg.</figcaption>\n</figure>",
                    esc(&ch.title),
                    esc(&ch.caption),
                    stem = esc(&ch.stem)
                );
            }
            Ok(())
        }
        Block::Omitted { title, why } => writeln!(
            out,
            "<div class=\"omitted\"><strong>{} omitted:</strong> {}.</div>",
            esc(title),
            esc(why)
        ),
        Block::Code(x) => writeln!(out, "<pre><code>{}</code></pre>", esc(x)),
        Block::Facts(kv) => {
            out.push_str("<dl>\n");
            for (k, v) in kv {
                let _ = writeln!(out, "<dt>{}</dt><dd>{}</dd>", esc(k), spans(v));
            }
            writeln!(out, "</dl>")
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(
            esc("<script>alert('x') & \"y\"</script>"),
            "&lt;script&gt;alert(&#39;x&#39;) &amp; &quot;y&quot;&lt;/script&gt;"
        );
    }
}
