//! The admin API (`/v1/admin/…` on the gateway) as types: what each request carries and each
//! answer holds, the paths, and a typed client. The gateway's handlers take and return these
//! very types, so a client cannot drift from the server.
//!
//! - `paths`: every route, once;
//! - `types`: requests (`…Input`) and answers (`…View`, [`ErrorBody`]);
//! - `client`: [`AdminClient`], used by `ucx-admin`, the simulator and the tests;
//! - `erasure_report`: what is left of a customer in every store (`ucx-admin erasure-report`),
//!   read from the broker and ClickHouse directly.

pub mod client;
pub mod erasure_report;
pub mod paths;
pub mod types;

pub use client::{AdminClient, AdminError};
pub use types::*;
