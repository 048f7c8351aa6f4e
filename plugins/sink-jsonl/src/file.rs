//! The file underneath: opening for append, counting existing lines, I/O errors.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::Path;

use ixn_plugin_api::sink::SinkError;

/// Classifies an I/O error: a path that cannot work (missing, not a file, no
/// permission, read-only) is permanent; anything else (disk full, interrupted,
/// device trouble) is retriable.
pub fn io_error(doing: &str, path: &Path, error: io::Error) -> SinkError {
    use io::ErrorKind as K;
    let message = format!("jsonl sink: {doing} `{}`: {error}", path.display());
    match error.kind() {
        K::NotFound
        | K::PermissionDenied
        | K::IsADirectory
        | K::NotADirectory
        | K::ReadOnlyFilesystem
        | K::InvalidFilename
        | K::InvalidInput
        | K::Unsupported => SinkError::permanent(message),
        _ => SinkError::retriable(message),
    }
}

/// An open file and the number of complete lines in it.
pub struct Opened {
    /// Opened for appending (and reading).
    pub file: File,
    /// Lines already in the file.
    pub lines: u64,
}

/// Opens `path` for appending, creating it if missing, and counts its lines.
///
/// A last line without its newline (left by a crash mid-write) is finished
/// with one, so the next record starts on a line of its own; it counts as a line.
pub fn open_append(path: &Path) -> Result<Opened, SinkError> {
    if let Some(parent) = path.parent()
        && !parent.as_os_str().is_empty()
        && !parent.is_dir()
    {
        return Err(SinkError::permanent(format!(
            "jsonl sink: the directory `{}` of `{}` does not exist",
            parent.display(),
            path.display()
        )));
    }
    let mut file = OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .open(path)
        .map_err(|e| io_error("opening", path, e))?;
    let (mut lines, last) = count_lines(&mut file).map_err(|e| io_error("reading", path, e))?;
    if last.is_some_and(|b| b != b'\n') {
        file.write_all(b"\n")
            .map_err(|e| io_error("finishing the last line of", path, e))?;
        lines += 1;
    }
    Ok(Opened { file, lines })
}

/// Counts newline bytes from the start of the file; also gives its last byte.
fn count_lines(file: &mut File) -> io::Result<(u64, Option<u8>)> {
    file.seek(SeekFrom::Start(0))?;
    let mut buf = vec![0u8; 64 * 1024];
    let mut lines = 0u64;
    let mut last = None;
    loop {
        let n = match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        let chunk = &buf[..n];
        lines += chunk.iter().filter(|&&b| b == b'\n').count() as u64;
        last = chunk.last().copied();
    }
    Ok((lines, last))
}
