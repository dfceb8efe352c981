//! The probe engine and the per-region checker run.
//!
//! `spec` says what to check (shared with the API for validation), `guard` keeps probes off our own
//! network, `probe` measures one check on a fresh connection, `plan` and `run` turn a work plan into
//! recorded results; the `checker-lambda` binary wraps `run` in the AWS Lambda runtime.

pub mod api_client;
pub mod assertions;
pub mod deliver;
pub mod dns;
pub mod failure;
pub mod guard;
pub mod health;
pub mod local;
pub mod plan;
pub mod probe;
pub mod run;
pub mod spec;
