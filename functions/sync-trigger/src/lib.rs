//! `sync-trigger`: asks the marketplace who holds the AOR of an application and applies the
//! answer to every book entry of it — on demand (`api`, behind API Gateway) and in scheduled scans
//! of applications whose last sync is stale (`scan`).

pub mod api;
pub mod app;
pub mod budget;
pub mod marketplace;
pub mod scan;
pub mod sync;
