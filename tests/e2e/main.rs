//! End-to-end tests: the real `inlet` binary against the real sandbox over
//! loopback, each in its own temp folder.

// Test helpers fail loudly by design; the lint guards production code.
#![allow(clippy::unwrap_used)]

mod cli;
mod crash;
mod daemon;
mod delta;
mod demo;
mod faults;
mod golden;
mod harness;
mod kill;
mod lifecycle;
mod memory;
mod processes;
mod secrets;
