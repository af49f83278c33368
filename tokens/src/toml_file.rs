//! The TOML files an operator writes (the tokens file, `fiscusd`'s config, a witness's config),
//! parsed with errors that say where the fault is (line and column) and what the parser expected,
//! never what the file holds there: toml's own message quotes the offending line, and a private
//! key given by mistake as a TOML file (`--config DATA/log.key`) was printed whole, to a terminal
//! and to the daemon's log.

use std::fmt;

use serde::de::DeserializeOwned;

/// Why a TOML file did not parse: where, and the parser's words without the file's text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TomlError {
    /// The line of the fault, from 1 (`None` when the parser gave no place).
    pub line: Option<usize>,
    /// The column of the fault in characters, from 1.
    pub column: Option<usize>,
    /// What the parser said, on one line.
    pub message: String,
}

impl fmt::Display for TomlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.line, self.column) {
            (Some(line), Some(column)) => write!(f, "line {line}, column {column}: {}", self.message),
            _ => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for TomlError {}

/// Parses `text` as a `T`; an error gives the line, column and message of the fault only.
pub fn parse<T: DeserializeOwned>(text: &str) -> Result<T, TomlError> {
    toml::from_str(text).map_err(|e| {
        let (line, column) = match e.span() {
            Some(span) => {
                let (line, column) = position(text, span.start);
                (Some(line), Some(column))
            }
            None => (None, None),
        };
        let message = e.message().split_whitespace().collect::<Vec<_>>().join(" ");
        TomlError { line, column, message }
    })
}

/// The line and column (in characters, both from 1) of the byte `offset` of `text`.
fn position(text: &str, offset: usize) -> (usize, usize) {
    let before = text.as_bytes().get(..offset).unwrap_or(text.as_bytes());
    let line_start = before.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
    let line = before.iter().filter(|b| **b == b'\n').count() + 1;
    let column = String::from_utf8_lossy(before.get(line_start..).unwrap_or_default()).chars().count() + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[expect(dead_code, reason = "only parsed")]
    struct Settings {
        name: Option<String>,
    }

    /// A signing key given as a TOML file is refused with the place of the fault, and no part of
    /// the key is in the message.
    #[test]
    fn a_private_key_is_refused_without_its_text() {
        let secret = "Zm9vYmFyYmF6cXV4c2VjcmV0c2VjcmV0c2VjcmV0c2U=";
        let text = format!("PRIVATE+KEY+books.example/fiscus+1b2c3d4e+{secret}\n");
        let e = parse::<Settings>(&text).expect_err("not TOML");
        let message = e.to_string();
        assert!(message.starts_with("line 1, column "), "{message}");
        for part in [secret, &secret[..12], "PRIVATE+KEY", "books.example"] {
            assert!(!message.contains(part), "{part:?} in {message}");
        }
        let quoted = toml::from_str::<Settings>(&text).expect_err("toml").to_string();
        assert!(quoted.contains(secret), "toml's own message quotes the line: {quoted}");
    }

    #[test]
    fn the_place_of_a_fault_is_its_line_and_column() {
        let e = parse::<Settings>("name = \"a\"\n\nnope = 1\n").expect_err("unknown field");
        assert_eq!((e.line, e.column), (Some(3), Some(1)), "{e}");
        assert!(e.message.contains("unknown field"), "{e}");
        let e = parse::<Settings>("name = \"é\" x\n").expect_err("trailing");
        assert_eq!(e.line, Some(1), "{e}");
        assert_eq!(e.column, Some(12), "{e}");
        assert_eq!(position("ab\ncd", 4), (2, 2));
        assert_eq!(position("ab", 99), (1, 3));
    }
}
