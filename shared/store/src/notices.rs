//! Notices: events to publish that no history item holds (`ports::Notice`), each written in the
//! transaction that makes what it tells of, in a sparse index the relay empties.

use aws_sdk_dynamodb::types::{Put, TransactWriteItem};
use serde::{Deserialize, Serialize};

use super::dynamo::{Index, SortKeys, failed, text, unbuilt};
use super::items::{from_item, to_item};
use super::{Store, StoreError, keys};
use ports::Notice;

#[derive(Debug, Clone, Serialize, Deserialize)]
struct NoticeItem {
    pk: String,
    sk: String,
    gsi1pk: String,
    gsi1sk: String,
    #[serde(flatten)]
    notice: Notice,
}

impl Store {
    /// The write of a notice, for the transaction that makes what it tells of. Written again
    /// (the same id) it is the same notice.
    pub(crate) fn notice_put(&self, notice: &Notice) -> Result<TransactWriteItem, StoreError> {
        let item = NoticeItem {
            pk: keys::notice_pk(&notice.notice_id),
            sk: keys::NOTICE_SK.to_owned(),
            gsi1pk: keys::NOTICES_GSI1PK.to_owned(),
            gsi1sk: format!("{}#{}", keys::time(notice.at), notice.notice_id),
            notice: notice.clone(),
        };
        let put = Put::builder().table_name(self.table()).set_item(Some(to_item(&item)?)).build().map_err(unbuilt)?;
        Ok(TransactWriteItem::builder().put(put).build())
    }
}

impl ports::Notices for Store {
    async fn unpublished_notices(&self) -> Result<Vec<Notice>, StoreError> {
        let items = self.query_all(self.query(Index::Gsi1, keys::NOTICES_GSI1PK, SortKeys::All)).await?;
        items.into_iter().map(|item| from_item::<NoticeItem>(item).map(|n| n.notice)).collect()
    }

    async fn notice_published(&self, notice: &Notice) -> Result<(), StoreError> {
        self.client()
            .delete_item()
            .table_name(self.table())
            .key(keys::PK, text(keys::notice_pk(&notice.notice_id)))
            .key(keys::SK, text(keys::NOTICE_SK))
            .send()
            .await
            .map_err(failed)?;
        Ok(())
    }
}
