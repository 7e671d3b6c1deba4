//! `event-ingest` Lambda function: applies enrollment-platform events from the ingest queue (issue #3).
//!
//! Only the crate exists yet, so that the workspace shows the architecture; it refuses to run
//! rather than pretend to work.

fn main() {
    eprintln!("event-ingest is not implemented yet");
    std::process::exit(1);
}
