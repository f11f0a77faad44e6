//! The report as a list of blocks of plain text, rendered by `html` and `markdown`. Nothing
//! here is escaped: the renderers escape every string, so no input can reach the output raw.

/// A piece of running text.
#[derive(Debug, Clone)]
pub enum Span {
    Text(String),
    Strong(String),
    Code(String),
    /// A colour square (an upstream's colour in the charts), `#rrggbb` made by the tool.
    Swatch(String),
}

pub fn t(s: impl Into<String>) -> Span {
    Span::Text(s.into())
}

pub fn b(s: impl Into<String>) -> Span {
    Span::Strong(s.into())
}

pub fn code(s: impl Into<String>) -> Span {
    Span::Code(s.into())
}

pub type Line = Vec<Span>;

#[derive(Debug, Clone)]
pub enum Block {
    Title(String),
    /// Small print under the title.
    Byline(Line),
    /// The answer, first and large.
    Headline(Line),
    /// Something the reader must not miss (reconstructed data, partial baseline, gaps).
    Warning(Line),
    Heading(String),
    Subheading(String),
    Para(Line),
    /// A sentence to quote, as written by `correlate`.
    Quote(String),
    List(Vec<Line>),
    Table {
        /// `wide` tables get small monospace cells (provenance).
        wide: bool,
        head: Vec<String>,
        rows: Vec<Vec<Line>>,
    },
    /// A chart by index into the report's charts.
    Chart(usize),
    /// A chart that could not be drawn from what was given, and why.
    Omitted {
        title: String,
        why: String,
    },
    Code(String),
    /// Key/value pairs.
    Facts(Vec<(String, Line)>),
}

/// Plain text of a line (for alt texts and tests).
pub fn plain(line: &[Span]) -> String {
    line.iter()
        .map(|s| match s {
            Span::Text(x) | Span::Strong(x) | Span::Code(x) => x.as_str(),
            Span::Swatch(_) => "",
        })
        .collect()
}
