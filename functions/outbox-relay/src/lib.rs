//! `outbox-relay`: empties the outbox of at-risk changes — publishes each as an EventBridge event
//! and counts each take into the agencies' swap patterns.

pub mod app;
pub mod event;
pub mod relay;
