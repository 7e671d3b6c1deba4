//! `export-request` Lambda function: export requests, export status and downloads (issue #5).
//!
//! Only the crate exists yet, so that the workspace shows the architecture; it refuses to run
//! rather than pretend to work.

fn main() {
    eprintln!("export-request is not implemented yet");
    std::process::exit(1);
}
