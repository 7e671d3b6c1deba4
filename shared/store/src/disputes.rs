//! Dispute cases (`DISPUTE#{id}`): filed under their owner (GSI1) and under the top of the owner's
//! agency tree as the directory had it at the case's last write (GSI2); an open case also holds
//! its entry's one open place (`DISPUTES-OPEN#{year}`), taken and let go in the case's own
//! transactions, and its events go out as notices written with it.

use aws_sdk_dynamodb::types::{AttributeValue, Delete, Put, TransactWriteItem};
use serde::{Deserialize, Serialize};

use super::dynamo::{Condition, Index, SortKeys, number, text, unbuilt};
use super::items::{Item, from_item, to_item};
use super::{Store, StoreError, keys};
use domain::{AgencyId, AgentId, ApplicationKey, Dispute, PlanYear};
use ports::Notice;

#[derive(Debug, Clone, Serialize, Deserialize)]
struct DisputeItem {
    pk: String,
    sk: String,
    gsi1pk: String,
    gsi1sk: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    gsi2pk: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    gsi2sk: Option<String>,
    /// The owner's agency path when it was last written, top first.
    agency_path: Vec<AgencyId>,
    #[serde(flatten)]
    case: Dispute,
}

/// An entry's open place: which case holds it.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct OpenPlace {
    pk: String,
    sk: String,
    dispute_id: String,
}

impl Store {
    fn dispute_item(case: &Dispute, agency_path: &[AgencyId]) -> Result<Item, StoreError> {
        let item = DisputeItem {
            pk: keys::dispute_pk(&case.dispute_id),
            sk: keys::DISPUTE_SK.to_owned(),
            gsi1pk: keys::agent_disputes_gsi1pk(&case.agent_id),
            gsi1sk: keys::disputes_gsi_sk(case.opened_at, &case.dispute_id),
            gsi2pk: agency_path.first().map(keys::tree_disputes_gsi2pk),
            gsi2sk: agency_path.first().map(|_| keys::disputes_gsi_sk(case.opened_at, &case.dispute_id)),
            agency_path: agency_path.to_vec(),
            case: case.clone(),
        };
        to_item(&item)
    }

    fn open_place_key(case: &Dispute) -> (String, String) {
        (keys::open_dispute_pk(case.plan_year), keys::open_dispute_sk(&case.federal_exchange_id, &case.agent_id))
    }

    async fn disputes_in(&self, index: Index, pk: String) -> Result<Vec<Dispute>, StoreError> {
        let items = self.query_all(self.query(index, pk, SortKeys::All).scan_index_forward(false)).await?;
        items.into_iter().map(|item| from_item::<DisputeItem>(item).map(|i| i.case)).collect()
    }
}

fn case_of(item: Option<Item>) -> Result<Option<Dispute>, StoreError> {
    item.map(|item| from_item::<DisputeItem>(item).map(|i| i.case)).transpose()
}

impl ports::DisputeCases for Store {
    async fn open_dispute(
        &self,
        case: &Dispute,
        version: u64,
        agency_path: &[AgencyId],
        notice: &Notice,
    ) -> Result<Option<Dispute>, StoreError> {
        let (place_pk, place_sk) = Self::open_place_key(case);
        let place = OpenPlace { pk: place_pk.clone(), sk: place_sk.clone(), dispute_id: case.dispute_id.clone() };
        let place = Put::builder()
            .table_name(self.table())
            .set_item(Some(to_item(&place)?))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(unbuilt)?;
        let new = Put::builder()
            .table_name(self.table())
            .set_item(Some(Self::dispute_item(case, agency_path)?))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(unbuilt)?;
        let writes = vec![
            TransactWriteItem::builder().put(new).build(),
            TransactWriteItem::builder().put(place).build(),
            self.notice_put(notice)?,
            // The entry is still as found: at risk.
            self.check(
                keys::application_pk(case.plan_year, &case.federal_exchange_id),
                keys::META_SK,
                Condition::version_is(Some(version)),
            )?,
        ];
        match self.transact(writes).await {
            Ok(()) => Ok(None),
            Err(StoreError::Conflict) => {
                let app = ApplicationKey { id: case.federal_exchange_id.clone(), year: case.plan_year };
                // Open already; or closed meanwhile, when trying again may open it.
                match ports::DisputeCases::open_dispute_of(self, &app, &case.agent_id).await? {
                    Some(open) => Ok(Some(open)),
                    None => Err(StoreError::Conflict),
                }
            }
            Err(err) => Err(err),
        }
    }

    async fn dispute(&self, dispute_id: &str) -> Result<Option<Dispute>, StoreError> {
        case_of(self.get_item(keys::dispute_pk(dispute_id), keys::DISPUTE_SK).await?)
    }

    async fn open_dispute_of(&self, app: &ApplicationKey, agent: &AgentId) -> Result<Option<Dispute>, StoreError> {
        let place = self.get_item(keys::open_dispute_pk(app.year), &keys::open_dispute_sk(&app.id, agent)).await?;
        let Some(place) = place else { return Ok(None) };
        let place: OpenPlace = from_item(place)?;
        Ok(ports::DisputeCases::dispute(self, &place.dispute_id).await?.filter(Dispute::is_open))
    }

    async fn save_dispute(
        &self,
        case: &Dispute,
        agency_path: &[AgencyId],
        notice: Option<&Notice>,
    ) -> Result<(), StoreError> {
        let put = Put::builder()
            .table_name(self.table())
            .set_item(Some(Self::dispute_item(case, agency_path)?))
            .condition_expression("version = :read")
            .expression_attribute_values(":read", number(case.version.saturating_sub(1)))
            .build()
            .map_err(unbuilt)?;
        let mut writes = vec![TransactWriteItem::builder().put(put).build()];
        if !case.is_open() {
            let (pk, sk) = Self::open_place_key(case);
            let free = Delete::builder()
                .table_name(self.table())
                .key(keys::PK, text(pk))
                .key(keys::SK, text(sk))
                .condition_expression("dispute_id = :id")
                .expression_attribute_values(":id", AttributeValue::S(case.dispute_id.clone()))
                .build()
                .map_err(unbuilt)?;
            writes.push(TransactWriteItem::builder().delete(free).build());
        }
        if let Some(notice) = notice {
            writes.push(self.notice_put(notice)?);
        }
        self.transact(writes).await
    }

    async fn agent_disputes(&self, agent: &AgentId) -> Result<Vec<Dispute>, StoreError> {
        self.disputes_in(Index::Gsi1, keys::agent_disputes_gsi1pk(agent)).await
    }

    async fn tree_disputes(&self, top: &AgencyId) -> Result<Vec<Dispute>, StoreError> {
        self.disputes_in(Index::Gsi2, keys::tree_disputes_gsi2pk(top)).await
    }

    async fn open_disputes_of_year(&self, year: PlanYear) -> Result<Vec<Dispute>, StoreError> {
        let mut open = Vec::new();
        let places = self.query(Index::Table, keys::open_dispute_pk(year), SortKeys::All).consistent_read(true);
        for place in self.query_all(places).await? {
            let place: OpenPlace = from_item(place)?;
            if let Some(case) = ports::DisputeCases::dispute(self, &place.dispute_id).await? {
                open.push(case);
            }
        }
        Ok(open)
    }
}
