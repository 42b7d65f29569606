//! PLACEHOLDER (owned by the client work): sign-in and HTTP.

use crate::config::TvmConfig;
use crate::error::TvmError;

#[derive(Debug)]
pub struct TvmClient {}

impl TvmClient {
    pub fn new(_config: &TvmConfig) -> Result<Self, TvmError> {
        Ok(Self {})
    }
}
