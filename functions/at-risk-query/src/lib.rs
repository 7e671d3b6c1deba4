//! `at-risk-query`: the at-risk list, the alert count and visits, the agency view and an admin's
//! home, the agency settings, swap patterns and conduct, a client's story and its dispute cases, behind API Gateway.

pub mod api;
pub mod app;
pub mod conduct;
pub mod cursor;
pub mod disputes;
pub mod my_settings;
pub mod patterns;
pub mod state;
pub mod story;
