//! Integration tests: the real store and the real AWS SDK against the local emulator (started
//! by `make test`, reached through `AWS_ENDPOINT_URL`). Each test creates its own resources
//! under fresh names, so tests run in parallel without seeing each other.

mod api;
mod convergence;
mod detection;
mod disputes;
mod edge;
mod exports;
mod fixtures;
mod helpers;
mod hosting;
mod infra;
mod logs;
mod metrics;
mod openapi;
mod outbound;
mod sign_in;
mod store;
