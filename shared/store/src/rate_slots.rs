//! Turns at the marketplace's rate, shared by every instance: a block of consecutive turns is an
//! item keyed by when the block starts, and a turn is taken by setting its attribute (`t{offset}`)
//! with a conditional update that exactly one claimer can win. One update takes several turns of
//! a block at once: the scan's turns cost a write a block, not a write a turn.

use std::collections::BTreeSet;

use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::ReturnValuesOnConditionCheckFailure;

use super::dynamo::failed;
use super::dynamo::{number, text};
use super::{Store, StoreError, keys};
use ports::{self, SlotClaim};

/// The attribute that holds a turn of a block.
fn turn_attribute(offset: u32) -> String {
    format!("t{offset}")
}

/// The offset a turn's attribute names (`t0`…`t7`), and nothing for any other attribute.
fn turn_offset(name: &str) -> Option<u32> {
    let digit = name.strip_prefix('t')?;
    (digit.len() == 1).then(|| digit.parse().ok()).flatten()
}

impl ports::RateSlots for Store {
    async fn claim_rate_slots(&self, block_start_micros: i64, offsets: &[u32]) -> Result<SlotClaim, StoreError> {
        let mut update = self
            .client()
            .update_item()
            .table_name(self.table())
            .key(keys::PK, text(keys::rate_slot_pk(block_start_micros)))
            .key(keys::SK, text(keys::RATE_SLOT_SK))
            // Epoch seconds: the table's TTL removes the block a day after it was used.
            .expression_attribute_values(":expires", number(block_start_micros / 1_000_000 + 86_400))
            .expression_attribute_values(":taken", aws_sdk_dynamodb::types::AttributeValue::Bool(true))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        let mut sets = vec!["expires_at = :expires".to_owned()];
        let mut free = Vec::new();
        for offset in offsets {
            let name = format!("#t{offset}");
            update = update.expression_attribute_names(&name, turn_attribute(*offset));
            sets.push(format!("{name} = :taken"));
            free.push(format!("attribute_not_exists({name})"));
        }
        let claimed = update
            .update_expression(format!("SET {}", sets.join(", ")))
            .condition_expression(free.join(" AND "))
            .send()
            .await;
        match claimed {
            Ok(_) => Ok(SlotClaim::Won),
            Err(err) => match err.as_service_error() {
                Some(UpdateItemError::ConditionalCheckFailedException(refused)) => {
                    let taken: BTreeSet<u32> = refused
                        .item()
                        .into_iter()
                        .flat_map(|item| item.keys())
                        .filter_map(|name| turn_offset(name))
                        .collect();
                    Ok(SlotClaim::Taken(taken))
                }
                _ => Err(failed(err)),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_turns_attribute_names_an_offset() {
        assert_eq!(
            (0..8).map(|n| turn_offset(&turn_attribute(n))).collect::<Vec<_>>(),
            (0..8).map(Some).collect::<Vec<_>>()
        );
        for other in ["pk", "sk", "expires_at", "t", "t03", "t+3", "t10", "tx"] {
            assert_eq!(turn_offset(other), None, "{other}");
        }
    }
}
