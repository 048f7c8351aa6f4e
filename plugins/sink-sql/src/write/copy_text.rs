//! Rows in PostgreSQL's `COPY … FROM STDIN` text format: one line per row,
//! columns separated by tabs, `\N` for NULL, and backslash, tab, newline and
//! carriage return escaped with a backslash.
//! <https://www.postgresql.org/docs/current/sql-copy.html#id-1.9.3.55.9.2>

use std::fmt::Write as _;

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::insert::Cell;

/// Appends one row to `out`.
pub fn push_row(out: &mut String, row: &[Cell]) {
    for (n, cell) in row.iter().enumerate() {
        if n > 0 {
            out.push('\t');
        }
        match cell {
            Cell::Int(Some(value)) => {
                let _ = write!(out, "{value}");
            }
            Cell::Timestamp(Some(ms)) => match timestamp(*ms) {
                Some(text) => out.push_str(&text),
                None => out.push_str("\\N"),
            },
            Cell::Text(Some(text)) | Cell::Json(text) => push_escaped(out, text),
            Cell::Int(None) | Cell::Timestamp(None) | Cell::Text(None) => out.push_str("\\N"),
        }
    }
    out.push('\n');
}

fn push_escaped(out: &mut String, text: &str) {
    if !text
        .bytes()
        .any(|b| matches!(b, b'\\' | b'\t' | b'\n' | b'\r'))
    {
        out.push_str(text);
        return;
    }
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
}

/// Milliseconds since the epoch as an RFC 3339 time PostgreSQL reads into a
/// `timestamptz`; `None` beyond the years the format can write (the value
/// stays in `attributes`).
pub fn timestamp(ms: i64) -> Option<String> {
    let nanos = i128::from(ms).checked_mul(1_000_000)?;
    OffsetDateTime::from_unix_timestamp_nanos(nanos)
        .ok()?
        .format(&Rfc3339)
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_escaped() {
        let mut out = String::new();
        push_row(
            &mut out,
            &[
                Cell::Text(Some("a\tb\\c\nd\re".into())),
                Cell::Int(Some(-7)),
                Cell::Text(None),
                Cell::Json(r#"{"k":"x\\y"}"#.into()),
                Cell::Timestamp(Some(1_700_000_000_123)),
                Cell::Timestamp(None),
            ],
        );
        assert_eq!(
            out,
            "a\\tb\\\\c\\nd\\re\t-7\t\\N\t{\"k\":\"x\\\\\\\\y\"}\t2023-11-14T22:13:20.123Z\t\\N\n"
        );
    }

    #[test]
    fn timestamps_out_of_range_are_null() {
        assert_eq!(timestamp(0).as_deref(), Some("1970-01-01T00:00:00Z"));
        assert_eq!(timestamp(i64::MAX), None);
        // RFC 3339 has no negative years.
        assert_eq!(timestamp(-70_000_000_000_000), None);
    }
}
