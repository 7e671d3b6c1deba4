//! The whole table, read page by page: for tools (the checker, the tests, the bench's naive
//! baselines), never a request path, so it lives here and not in the store the functions link.

use store::Store;
use store::items::Item;

use crate::DevkitError;

/// Hands every item of the table (a consistent scan) to `visit`, a page in memory at a time;
/// answers how many items the scan read.
pub async fn scan_each<E: From<DevkitError>>(
    store: &Store,
    mut visit: impl FnMut(Item) -> Result<(), E>,
) -> Result<i64, E> {
    let (mut scanned, mut start) = (0, None);
    loop {
        let out = store
            .raw_client()
            .scan()
            .table_name(store.table())
            .consistent_read(true)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|e| DevkitError::Aws(aws_sdk_dynamodb::error::DisplayErrorContext(&e).to_string()))?;
        scanned += i64::from(out.scanned_count);
        for item in out.items.unwrap_or_default() {
            visit(item)?;
        }
        start = out.last_evaluated_key;
        if start.is_none() {
            return Ok(scanned);
        }
    }
}
