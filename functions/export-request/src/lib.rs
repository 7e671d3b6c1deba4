//! `export-request`: validates and authorises an export, records it and queues it; shows export
//! status; and hands the requester a short-lived link to the file.

pub mod api;
pub mod app;
