//! Configuration errors with the file position a user can jump to.

use std::fmt;
use std::path::{Path, PathBuf};

/// One problem in a configuration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    /// The file.
    pub file: PathBuf,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// What is wrong, and where it matters (which view, which queue).
    pub message: String,
}

impl fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file.display(),
            self.line,
            self.column,
            self.message
        )
    }
}

/// Why a configuration was refused: every problem found, in file order.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file was read and is invalid.
    #[error("invalid configuration:\n{}", problems.iter().map(|p| format!("  {p}")).collect::<Vec<_>>().join("\n"))]
    Invalid {
        /// Each problem with its position.
        problems: Vec<ConfigProblem>,
    },
}

impl ConfigError {
    /// The problems, empty for a read error.
    pub fn problems(&self) -> &[ConfigProblem] {
        match self {
            ConfigError::Read { .. } => &[],
            ConfigError::Invalid { problems } => problems,
        }
    }
}

/// Collects problems while validating, turning byte offsets into line and column.
pub struct Problems<'a> {
    file: &'a Path,
    text: &'a str,
    list: Vec<ConfigProblem>,
}

impl<'a> Problems<'a> {
    /// An empty collection for one file.
    pub fn new(file: &'a Path, text: &'a str) -> Self {
        Problems {
            file,
            text,
            list: Vec::new(),
        }
    }

    /// Records a problem at a byte offset of the file.
    pub fn at(&mut self, offset: usize, message: impl Into<String>) {
        let (line, column) = line_col(self.text, offset);
        self.list.push(ConfigProblem {
            file: self.file.to_path_buf(),
            line,
            column,
            message: message.into(),
        });
    }

    /// `file:line:column` of a byte offset of the file.
    pub fn place(&self, offset: usize) -> String {
        let (line, column) = line_col(self.text, offset);
        format!("{}:{line}:{column}", self.file.display())
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// The error for what was recorded, sorted by position.
    pub fn into_error(mut self) -> ConfigError {
        self.list.sort_by_key(|p| (p.line, p.column));
        ConfigError::Invalid {
            problems: self.list,
        }
    }
}

/// 1-based line and column (in characters) of a byte offset.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before
        .rsplit('\n')
        .next()
        .map(|l| l.chars().count())
        .unwrap_or(0)
        + 1;
    (line, column)
}
