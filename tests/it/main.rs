//! Integration tests of `fiscusd`: each starts the real daemon as a child process on a loopback
//! port picked at run time, with a fresh store, and talks to it over gRPC.

mod access_log;
mod answers;
mod audit;
mod auth;
mod auth_matrix;
mod bad_input;
mod big_answers;
mod bundle;
mod cli;
mod concurrency;
mod crash;
mod disk;
mod docs_pages;
mod field_paths;
mod idempotency;
mod limits;
mod month_end;
mod operator_files;
mod overflow;
mod private_files;
mod race;
mod receipts;
mod restart;
mod rpc;
mod store_open;
mod subscribe;
mod support;
mod tamper;
mod tlog;
mod tls;
mod tls_recipe;
mod tokens_file;
mod witness;
mod writer_failure;
