//! PLACEHOLDER (replaced at merge by the l-runtime branch's version).

use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum UnitsError {
    #[error("not a size like \"64MiB\"")]
    Size,
    #[error("not a duration like \"5s\" ({0})")]
    Duration(String),
}

pub fn parse_size(s: &str) -> Result<u64, UnitsError> {
    s.parse::<bytesize::ByteSize>()
        .map(|b| b.as_u64())
        .map_err(|_| UnitsError::Size)
}

pub fn parse_duration(s: &str) -> Result<Duration, UnitsError> {
    humantime::parse_duration(s).map_err(|e| UnitsError::Duration(e.to_string()))
}
