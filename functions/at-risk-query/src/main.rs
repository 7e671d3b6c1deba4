//! `at-risk-query` Lambda function: the at-risk list, alert counts, visits, the agency view and agency settings (issue #4).
//!
//! Only the crate exists yet, so that the workspace shows the architecture; it refuses to run
//! rather than pretend to work.

fn main() {
    eprintln!("at-risk-query is not implemented yet");
    std::process::exit(1);
}
