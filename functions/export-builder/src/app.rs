//! The composition of `export-builder`: the handler's dependencies built from its settings.
//! Lambda's `main`, the local system, the tests and the bench all compose it here.

use shared::queue::Queue;
use store::Store;

use crate::build::Deps;
pub use crate::settings::Settings;

pub fn deps(sdk: &shared::aws::SdkConfig, settings: Settings) -> Deps<Store> {
    let sqs = aws_sdk_sqs::Client::new(sdk);
    Deps {
        store: Store::new(aws_sdk_dynamodb::Client::new(sdk), settings.table.clone()),
        s3: shared::aws::s3_client(sdk),
        ses: aws_sdk_sesv2::Client::new(sdk),
        dead_letters: Queue { sqs: sqs.clone(), url: settings.dead_letter_queue_url.clone() },
        exports_queue: Queue { sqs, url: settings.exports_queue_url.clone() },
        settings,
    }
}
