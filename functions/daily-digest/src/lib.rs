//! `daily-digest`: once a day, an email to each person who asked for one, naming what became at
//! risk in their list since their last digest.

pub mod app;
pub mod email;
pub mod run;
