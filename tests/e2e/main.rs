//! End-to-end tests: the real `inlet` binary against the real sandbox over
//! loopback, each in its own temp folder.

mod cli;
mod crash;
mod daemon;
mod delta;
mod demo;
mod golden;
mod harness;
mod lifecycle;
