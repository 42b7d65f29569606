//! End-to-end tests: the real `inlet` binary against the real sandbox over
//! loopback, each in its own temp folder.

mod cli;
mod crash;
mod delta;
mod harness;
mod lifecycle;
