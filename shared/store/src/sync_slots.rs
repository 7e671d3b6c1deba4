//! How many on-demand syncs one person has in flight, across every instance: a few numbered slot
//! items per person, each taken with a condition and given back when the sync ends. A slot whose
//! holder died frees itself when its time runs out, so nobody is locked out for good.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::dynamo::failed;
use super::dynamo::{condition_failed, text};
use super::items::to_item;
use super::{Store, StoreError, keys};
use ports::{self, SyncSlot};

#[derive(Serialize, Deserialize)]
struct SlotItem {
    pk: String,
    sk: String,
    token: String,
    /// When the slot frees itself if its holder never gives it back.
    until: String,
    /// Epoch seconds: the table's TTL removes it later still.
    expires_at: i64,
}

impl Store {}

impl ports::SyncSlots for Store {
    /// Takes one of `slots` sync slots of `who` until `until`; `None` when all are held.
    async fn take_sync_slot(
        &self,
        who: &str,
        slots: u32,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Option<SyncSlot>, StoreError> {
        let token = format!("{}-{}", now.timestamp_micros(), rand::random::<u64>());
        for number in 0..slots {
            let item = SlotItem {
                pk: keys::sync_slots_pk(who),
                sk: keys::sync_slot_sk(number),
                token: token.clone(),
                until: keys::time(until),
                expires_at: (until + chrono::Duration::days(1)).timestamp(),
            };
            let put = self
                .client()
                .put_item()
                .table_name(self.table())
                .set_item(Some(to_item(&item)?))
                .condition_expression("attribute_not_exists(pk) OR #until < :now")
                .expression_attribute_names("#until", "until")
                .expression_attribute_values(":now", text(keys::time(now)))
                .send()
                .await;
            match put {
                Ok(_) => return Ok(Some(SyncSlot { who: who.to_owned(), number, token })),
                Err(err) if condition_failed(&err) => continue,
                Err(err) => return Err(failed(err)),
            }
        }
        Ok(None)
    }

    /// Gives a slot back (unless its time ran out and someone else holds it now).
    async fn release_sync_slot(&self, slot: &SyncSlot) -> Result<(), StoreError> {
        let deleted = self
            .client()
            .delete_item()
            .table_name(self.table())
            .key(keys::PK, text(keys::sync_slots_pk(&slot.who)))
            .key(keys::SK, text(keys::sync_slot_sk(slot.number)))
            .condition_expression("#token = :token")
            .expression_attribute_names("#token", "token")
            .expression_attribute_values(":token", text(&slot.token))
            .send()
            .await;
        match deleted {
            Err(err) if condition_failed(&err) => Ok(()),
            other => other.map(drop).map_err(failed),
        }
    }
}
