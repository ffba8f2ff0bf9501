//! Terminal output for `check` and `audit`: aligned columns, coloured only on a terminal (and never
//! with `NO_COLOR` set or `TERM=dumb`).

use std::fmt::Write as _;

use super::evaluation::{Evaluation, ReachResult};
use crate::policy::Outcome;

/// Whether to colour, decided once per stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Style {
    pub colour: bool,
}

impl Style {
    /// Colour when `is_terminal` and the environment does not ask otherwise.
    pub fn for_terminal(is_terminal: bool) -> Self {
        let no_colour = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty())
            || std::env::var("TERM").is_ok_and(|t| t == "dumb");
        Self {
            colour: is_terminal && !no_colour,
        }
    }

    #[cfg(test)]
    pub fn plain() -> Self {
        Self { colour: false }
    }
}

/// An SGR colour code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Colour {
    Red,
    Green,
    Yellow,
    Dim,
    Bold,
}

impl Colour {
    fn code(self) -> &'static str {
        match self {
            Colour::Red => "31",
            Colour::Green => "32",
            Colour::Yellow => "33",
            Colour::Dim => "2",
            Colour::Bold => "1",
        }
    }
}

/// One cell: its text, and how to colour it.
#[derive(Debug, Clone)]
pub struct Cell {
    pub text: String,
    pub colour: Option<Colour>,
}

impl Cell {
    pub fn new(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            colour: None,
        }
    }

    pub fn coloured(text: impl Into<String>, colour: Colour) -> Self {
        Self {
            text: text.into(),
            colour: Some(colour),
        }
    }
}

pub fn paint(style: Style, text: &str, colour: Option<Colour>) -> String {
    match colour {
        Some(c) if style.colour => format!("\x1b[{}m{text}\x1b[0m", c.code()),
        _ => text.to_owned(),
    }
}

/// Columns padded to their widest cell (counted in characters); the last column is not padded.
pub fn render(headers: &[&str], rows: &[Vec<Cell>], style: Style) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(cell.text.chars().count());
            }
        }
    }
    let mut out = String::new();
    let line = |out: &mut String, cells: &mut dyn Iterator<Item = (String, usize)>| {
        let cells: Vec<(String, usize)> = cells.collect();
        let last = cells.len().saturating_sub(1);
        for (i, (text, pad)) in cells.into_iter().enumerate() {
            out.push_str(&text);
            if i < last {
                out.push_str(&" ".repeat(pad + 2));
            }
        }
        // No trailing spaces.
        while out.ends_with(' ') {
            out.pop();
        }
        out.push('\n');
    };
    line(
        &mut out,
        &mut headers
            .iter()
            .enumerate()
            .map(|(i, h)| (paint(style, h, Some(Colour::Bold)), widths[i] - h.chars().count())),
    );
    for row in rows {
        line(
            &mut out,
            &mut row.iter().enumerate().map(|(i, c)| {
                (
                    paint(style, &c.text, c.colour),
                    widths.get(i).copied().unwrap_or(0) - c.text.chars().count(),
                )
            }),
        );
    }
    out
}

pub fn verdict_colour(verdict: Outcome) -> Colour {
    match verdict {
        Outcome::Ok => Colour::Green,
        Outcome::Insufficient | Outcome::Invalid => Colour::Red,
        Outcome::Unverified => Colour::Yellow,
        Outcome::NotAToken | Outcome::Skipped | Outcome::Ignored => Colour::Dim,
    }
}

fn or_dash(v: Option<&str>) -> String {
    match v {
        Some(s) if !s.is_empty() => s.to_owned(),
        _ => "-".to_owned(),
    }
}

/// The table of evaluations both `check` and `audit` print, then what credentials cannot reach.
pub fn evaluations(evals: &[Evaluation], style: Style) -> String {
    let rows: Vec<Vec<Cell>> = evals
        .iter()
        .map(|e| {
            vec![
                Cell::new(e.display_name()),
                Cell::coloured(e.verdict.as_str(), verdict_colour(e.verdict)),
                if e.allowed {
                    Cell::new("yes")
                } else {
                    Cell::coloured("no", Colour::Red)
                },
                Cell::new(or_dash(e.provider.map(|p| p.as_str()))),
                Cell::new(or_dash(e.token_kind.map(|k| k.as_str()))),
                Cell::new(or_dash(e.role.map(|r| r.as_str()))),
                match e.expires_at {
                    Some(t) => {
                        let at = super::annotations::timestamp(t);
                        let day = at.get(..10).unwrap_or(&at).to_owned();
                        if e.expiring {
                            Cell::coloured(day, Colour::Yellow)
                        } else {
                            Cell::new(day)
                        }
                    }
                    None => Cell::new("-"),
                },
                Cell::new(if e.missing.is_empty() {
                    "-".to_owned()
                } else {
                    e.missing.join(",")
                }),
                Cell::new(e.message.clone()),
            ]
        })
        .collect();
    let mut out = render(
        &[
            "SECRET", "VERDICT", "ALLOWED", "PROVIDER", "KIND", "ROLE", "EXPIRES", "MISSING", "MESSAGE",
        ],
        &rows,
        style,
    );
    let coverage: Vec<&Evaluation> = evals
        .iter()
        .filter(|e| e.repositories.iter().any(|r| r.result != ReachResult::Reachable))
        .collect();
    if !coverage.is_empty() {
        out.push('\n');
        let rows: Vec<Vec<Cell>> = coverage
            .iter()
            .flat_map(|e| {
                e.repositories
                    .iter()
                    .filter(|r| r.result != ReachResult::Reachable)
                    .map(|r| {
                        vec![
                            Cell::new(e.display_name()),
                            Cell::coloured(
                                r.result.as_str(),
                                if r.result == ReachResult::Unreachable {
                                    Colour::Red
                                } else {
                                    Colour::Yellow
                                },
                            ),
                            Cell::new(r.access.as_str()),
                            Cell::new(r.url.clone()),
                            Cell::new(r.used_by.join(", ")),
                            Cell::new(r.reason.clone().unwrap_or_default()),
                        ]
                    })
                    .collect::<Vec<_>>()
            })
            .collect();
        let _ = writeln!(
            out,
            "{}",
            paint(
                style,
                "Repositories the credentials must reach but do not (or that could not be checked):",
                Some(Colour::Bold)
            )
        );
        out.push_str(&render(
            &["CREDENTIAL", "RESULT", "ACCESS", "REPOSITORY", "USED BY", "WHY"],
            &rows,
            style,
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_align_on_characters_and_colour_only_when_asked() {
        let rows = vec![
            vec![Cell::new("a"), Cell::coloured("ok", Colour::Green), Cell::new("x")],
            vec![Cell::new("ärger"), Cell::new("insufficient"), Cell::new("")],
        ];
        let plain = render(&["NAME", "VERDICT", "MSG"], &rows, Style::plain());
        assert_eq!(
            plain,
            "NAME   VERDICT       MSG\na      ok            x\närger  insufficient\n"
        );
        let coloured = render(&["NAME", "VERDICT", "MSG"], &rows, Style { colour: true });
        assert!(coloured.contains("\x1b[32mok\x1b[0m            x"), "{coloured:?}");
        assert!(coloured.starts_with("\x1b[1mNAME\x1b[0m   "), "{coloured:?}");
    }
}
