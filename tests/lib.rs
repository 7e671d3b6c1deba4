//! Nothing lives here: the tests are one binary, `main.rs` and its modules, so the AWS SDKs
//! are linked once.
