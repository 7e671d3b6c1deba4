//! The emulator's knobs for making it behave as AWS does under load (`tools/moto/serve.py`):
//! how long a committed transaction holds its items, and how long every request takes.

use crate::Failure;

/// How long the emulator holds a committed transaction's items, as DynamoDB does while it
/// commits one (`0`: not at all).
pub(crate) async fn set_transaction_hold(ms: u32) -> Result<(), Failure> {
    set("/_local/dynamodb/transaction-hold", ms).await
}

/// How long every AWS request waits before it is served, overlapping for parallel callers.
pub(crate) async fn set_latency(ms: u32) -> Result<(), Failure> {
    set("/_local/latency", ms).await
}

async fn set(path: &str, ms: u32) -> Result<(), Failure> {
    let endpoint = std::env::var("AWS_ENDPOINT_URL")?;
    let status = reqwest::Client::new().post(format!("{endpoint}{path}?ms={ms}")).send().await?.status();
    if !status.is_success() {
        return Err(format!("the emulator did not take {path} ({status})").into());
    }
    Ok(())
}
