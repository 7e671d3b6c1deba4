//! `event-ingest`: applies the enrollment platform's events, delivered by SQS in batches.

pub mod app;
pub mod handler;
pub mod platform;
