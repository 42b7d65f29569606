//! The store's error type. Messages name the tree and key involved so an
//! operator can tell a full disk from a damaged record.

use std::path::PathBuf;

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Another process (usually another `inlet`) holds the database lock.
    #[error("the data folder `{}` is in use by another inlet process", path.display())]
    Locked { path: PathBuf },

    /// The database folder could not be opened or created.
    #[error("cannot open the data folder `{}`", path.display())]
    Open {
        path: PathBuf,
        #[source]
        source: sled::Error,
    },

    /// The folder holds a store written in a layout this build does not read.
    #[error(
        "the data folder `{}` holds store format `{found}`, this inlet reads format `{expected}`",
        path.display()
    )]
    Format {
        path: PathBuf,
        found: String,
        expected: &'static str,
    },

    /// sled failed to read or write.
    #[error("database error")]
    Database(#[from] sled::Error),

    /// A stored value could not be decoded.
    #[error("corrupt record in tree `{tree}` at key `{key}`")]
    Corrupt {
        tree: &'static str,
        key: String,
        #[source]
        source: DecodeError,
    },

    /// A record could not be encoded for storage.
    #[error("cannot encode a record for tree `{tree}` at key `{key}`")]
    Encode {
        tree: &'static str,
        key: String,
        #[source]
        source: serde_json::Error,
    },

    /// A name that must go into a key holds the key separator.
    #[error("the {what} `{value}` contains a NUL byte, which a store key cannot hold")]
    InvalidKey { what: &'static str, value: String },
}

/// What was wrong with a stored value.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("invalid JSON")]
    Json(#[from] serde_json::Error),
    #[error("a marker of {len} bytes, expected {expected}")]
    MarkerLength { len: usize, expected: &'static str },
    #[error("a marker holds an out-of-range time")]
    Time(#[from] jiff::Error),
    #[error("a marker holds an unknown status byte {0}")]
    EventKind(u8),
    #[error("a finding group is damaged: {0}")]
    Group(&'static str),
    #[error("a finding group holds {values} values but {markers} markers")]
    GroupCount { values: usize, markers: usize },
    #[error("a value that is not UTF-8")]
    Utf8(#[from] std::str::Utf8Error),
}
