//! The integration test binary (one link for every integration test).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod fake_api;
mod live;
