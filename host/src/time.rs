//! The host's clock: milliseconds since the Unix epoch, as every contract uses.

/// Now, in milliseconds since the Unix epoch (UTC).
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
