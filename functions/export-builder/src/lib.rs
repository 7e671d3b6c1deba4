//! `export-builder`: builds export CSVs from the at-risk index into S3 and emails the link.

pub mod app;
pub mod build;
pub mod csv_rows;
pub mod email;
pub mod handler;
pub mod settings;
pub mod sweep;
