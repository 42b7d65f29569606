//! PLACEHOLDER (owned by the client work): the connector's error enum.

/// Why a request to Defender or its sign-in host failed.
#[derive(Debug, thiserror::Error)]
pub enum TvmError {
    #[error("`{url}` uses plain http:// on a host that is not loopback; use https://")]
    InsecureUrl { url: String, pointer: &'static str },
}

impl TvmError {
    /// The config field a construction error is about, relative to `config`.
    pub fn config_pointer(&self) -> &'static str {
        match self {
            Self::InsecureUrl { pointer, .. } => pointer,
        }
    }
}
