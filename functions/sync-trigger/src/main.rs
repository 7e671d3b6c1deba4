//! `sync-trigger` Lambda function: on-demand and scheduled marketplace syncs (issue #3).
//!
//! Only the crate exists yet, so that the workspace shows the architecture; it refuses to run
//! rather than pretend to work.

fn main() {
    eprintln!("sync-trigger is not implemented yet");
    std::process::exit(1);
}
