//! PLACEHOLDER (owned by the sandbox work): the local fake upstream.

use inlet_core::registry::SandboxFuture;
use inlet_core::SandboxError;

pub fn start_from_args(_args: Vec<String>) -> SandboxFuture {
    Box::pin(async { Err(SandboxError::Usage("the sandbox is not built yet".into())) })
}
