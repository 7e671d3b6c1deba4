//! Turns at the marketplace's rate, shared by every instance: a turn is an item keyed by when it
//! starts, taken by a conditional put that exactly one claimer can win.

use serde::{Deserialize, Serialize};

use super::dynamo::condition_failed;
use super::dynamo::failed;
use super::items::to_item;
use super::{Store, StoreError, keys};
use ports::{self};

#[derive(Serialize, Deserialize)]
struct RateSlotItem {
    pk: String,
    sk: String,
    /// Epoch seconds: the table's TTL removes the turn a day after it was used.
    expires_at: i64,
}

impl Store {}

impl ports::RateSlots for Store {
    /// Takes the turn starting at `start_micros` (since the epoch); `false` when someone has it.
    async fn claim_rate_slot(&self, start_micros: i64) -> Result<bool, StoreError> {
        let item = RateSlotItem {
            pk: keys::rate_slot_pk(start_micros),
            sk: keys::RATE_SLOT_SK.to_owned(),
            expires_at: start_micros / 1_000_000 + 86_400,
        };
        let put = self
            .client()
            .put_item()
            .table_name(self.table())
            .set_item(Some(to_item(&item)?))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        match put {
            Ok(_) => Ok(true),
            Err(err) if condition_failed(&err) => Ok(false),
            Err(err) => Err(failed(err)),
        }
    }
}
