//! Integration tests of `fiscusd`: each starts the real daemon as a child process on a loopback
//! port picked at run time, with a fresh store, and talks to it over gRPC.

mod answers;
mod auth;
mod auth_matrix;
mod bad_input;
mod cli;
mod concurrency;
mod crash;
mod disk;
mod field_paths;
mod idempotency;
mod overflow;
mod race;
mod restart;
mod rpc;
mod subscribe;
mod support;
mod tamper;
mod tls;
mod writer_failure;
