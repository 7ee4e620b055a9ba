//! The compacted latest-state snapshot in the lake folder: the folder as a
//! [`SnapshotStore`], and the Parquet encoding of a generation's rows.
//!
//! The protocol (fold, commit generation n create-if-absent, adopt the winner, collect
//! superseded runs) is [`store_model::snapshot::Snapshots`], the same for the bucket. Here a
//! generation's data is one Parquet object, `snapshots/latest/run=<generation>-<uuid>/part-0.parquet`,
//! and create-if-absent is the folder's hard-link write.

use std::io;

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::basic::Compression;
use datafusion::parquet::file::properties::WriterProperties;
use store_model::ports::PortError;
use store_model::snapshot::{SnapshotStore, StoredObject};

use crate::folder::blocking;
use crate::folder::{LakeFolder, ObjectInfo};

fn stored(objects: Vec<ObjectInfo>) -> Vec<StoredObject> {
    objects
        .into_iter()
        .map(|o| StoredObject {
            key: o.key,
            size: o.size,
            modified: o.modified,
        })
        .collect()
}

#[async_trait]
impl SnapshotStore for LakeFolder {
    async fn objects(&self, prefix: &str) -> Result<Vec<StoredObject>, PortError> {
        let prefix = prefix.to_owned();
        blocking(self, "list snapshots", move |lake| {
            lake.list(&prefix).map(stored)
        })
        .await
    }

    async fn objects_since(
        &self,
        prefix: &str,
        min_dt: &str,
    ) -> Result<Vec<StoredObject>, PortError> {
        let (prefix, min_dt) = (prefix.to_owned(), min_dt.to_owned());
        blocking(self, "list lake", move |lake| {
            lake.list_partitions_since(&prefix, &min_dt).map(stored)
        })
        .await
    }

    async fn delete(&self, keys: Vec<String>) -> Result<(), PortError> {
        blocking(self, "delete snapshot data", move |lake| {
            for key in keys {
                lake.remove(&key)?;
            }
            Ok(())
        })
        .await
    }
}

/// A generation's rows as one Snappy-compressed Parquet object.
pub fn encode(schema: SchemaRef, batches: &[RecordBatch]) -> io::Result<Vec<u8>> {
    let props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .build();
    let mut out = Vec::new();
    let mut writer =
        ArrowWriter::try_new(&mut out, schema, Some(props)).map_err(io::Error::other)?;
    for b in batches {
        writer.write(b).map_err(io::Error::other)?;
    }
    writer.close().map_err(io::Error::other)?;
    Ok(out)
}
