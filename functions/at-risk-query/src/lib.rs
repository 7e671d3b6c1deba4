//! `at-risk-query`: the at-risk list, the alert count and visits, the agency view, and the agency
//! settings, behind API Gateway.

pub mod api;
pub mod app;
pub mod cursor;
