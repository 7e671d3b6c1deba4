//! `export-builder` Lambda function: builds export CSVs into S3 and emails the link (issue #5).
//!
//! Only the crate exists yet, so that the workspace shows the architecture; it refuses to run
//! rather than pretend to work.

fn main() {
    eprintln!("export-builder is not implemented yet");
    std::process::exit(1);
}
