//! Every connector crate of the workspace, in one list.
//!
//! A connector registers itself with `inventory`, and a crate the final
//! binary never references is not linked, so its registration would be
//! missing. The runner and xtask call [`linked`], which references each
//! connector crate; adding a connector means one line here and one in this
//! crate's `Cargo.toml`, both of which `cargo xtask new-connector` writes.

/// The kinds of the connector crates linked through this crate, in the
/// order listed. Calling it keeps their registrations in the binary.
pub fn linked() -> Vec<&'static str> {
    vec![
        // BEGIN connectors: `cargo xtask new-connector` adds a line here, sorted.
        std::hint::black_box(inlet_microsoft_tvm::KIND),
        // END connectors
    ]
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use inlet_core::registry;

    use super::*;

    #[test]
    fn every_linked_connector_is_registered_once() {
        let kinds = linked();
        let unique: HashSet<_> = kinds.iter().collect();
        assert_eq!(unique.len(), kinds.len(), "duplicate kinds in {kinds:?}");
        let registered: Vec<_> = registry::registrations().iter().map(|r| r.kind).collect();
        for kind in &kinds {
            assert!(
                registered.contains(kind),
                "`{kind}` is linked but not registered; registered: {registered:?}"
            );
        }
    }
}
