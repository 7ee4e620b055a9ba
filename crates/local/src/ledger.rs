//! The ledger as files in the lake folder, in the same layout the S3 ledger uses.
//!
//! The layout and rules live in [`store_model::ledger`]; this module gives them the folder's
//! object operations. Create-if-absent is the folder's hard-link write, the equivalent of S3's
//! `If-None-Match: *`.

use async_trait::async_trait;
use store_model::ledger::{LedgerStore, ObjectLedger};
use store_model::ports::PortError;

use crate::folder::{LakeFolder, blocking};

/// The embedded [`store_model::ports::Ledger`].
pub type FolderLedger = ObjectLedger<LakeFolder>;

#[async_trait]
impl LedgerStore for LakeFolder {
    async fn put(&self, key: &str, bytes: Vec<u8>) -> Result<(), PortError> {
        let key = key.to_owned();
        blocking(self, "write ledger", move |lake| lake.put(&key, &bytes)).await
    }

    async fn create(&self, key: &str, bytes: Vec<u8>) -> Result<Option<Vec<u8>>, PortError> {
        let key = key.to_owned();
        blocking(self, "write ledger", move |lake| {
            if lake.put_if_absent(&key, &bytes)? {
                Ok(None)
            } else {
                lake.get(&key)
            }
        })
        .await
    }

    async fn keys_since(&self, prefix: &str, min_dt: &str) -> Result<Vec<String>, PortError> {
        let (prefix, min_dt) = (prefix.to_owned(), min_dt.to_owned());
        blocking(self, "list ledger", move |lake| {
            lake.keys_since(&prefix, &min_dt)
        })
        .await
    }

    async fn keys_after(&self, prefix: &str, start_after: &str) -> Result<Vec<String>, PortError> {
        let (prefix, start_after) = (prefix.to_owned(), start_after.to_owned());
        blocking(self, "list ledger", move |lake| {
            let mut keys = lake.keys(&prefix)?;
            keys.retain(|k| *k > start_after);
            Ok(keys)
        })
        .await
    }

    async fn get_all(&self, keys: Vec<String>) -> Result<Vec<(String, Vec<u8>)>, PortError> {
        blocking(self, "read ledger", move |lake| {
            let mut out = Vec::with_capacity(keys.len());
            for key in keys {
                if let Some(bytes) = lake.get(&key)? {
                    out.push((key, bytes));
                }
            }
            Ok(out)
        })
        .await
    }
}
