//! PLACEHOLDER (owned by the store work): the sled-backed store.
