//! PLACEHOLDER (owned by the mapping work): upstream timestamp parsing.
