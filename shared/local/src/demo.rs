//! `muara up --demo`: sample data that shows the wiring working end to end.

use crate::dirstore::DirStore;
use bytes::Bytes;
use muara_core::Result;
use muara_core::ports::{ObjectStore, PutOptions};

/// Drops a sample CSV into the lake's incoming folder; the watcher announces it and the
/// dispatcher receives it, as S3 and SQS would.
pub async fn seed(store: &DirStore) -> Result<()> {
    let key = "raw/demo/crm/incoming/cust_info.csv";
    if store.head(key).await?.is_none() {
        let csv = "cst_id,cst_key,cst_firstname,cst_lastname,cst_create_date\n\
                   11000,AW00011000,Jon,Yang,2025-10-06\n\
                   11001,AW00011001,Eugene,Huang,2025-10-06\n";
        store
            .put(
                key,
                Bytes::from_static(csv.as_bytes()),
                &PutOptions {
                    content_type: Some("text/csv".into()),
                    ..Default::default()
                },
            )
            .await?;
        tracing::info!(%key, "demo file placed in the lake");
    }
    Ok(())
}
