//! Wall-clock time as the status and Events write it.

use k8s_openapi::jiff::Timestamp;

/// The current time (jiff here is built without its std clock).
pub fn timestamp() -> Timestamp {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    Timestamp::new(since.as_secs() as i64, since.subsec_nanos() as i32)
        .unwrap_or(Timestamp::UNIX_EPOCH)
}

/// Now, as RFC 3339 in UTC, to the second.
pub fn now() -> String {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    rfc3339(since.as_secs() as i64)
}

/// Milliseconds since the Unix epoch (0 for a clock before it).
pub fn unix_millis() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0)
}

/// Seconds since 1970 as RFC 3339 in UTC; empty when out of range.
pub fn rfc3339(seconds: i64) -> String {
    Timestamp::from_second(seconds)
        .map(|t| t.to_string())
        .unwrap_or_default()
}
