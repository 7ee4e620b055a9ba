//! The ledger as objects in the S3 lake bucket.
//!
//! The layout and rules are [`store_model::ledger`]'s; this gives them S3's object operations.
//! Create-if-absent is a conditional `PutObject` with `If-None-Match: *`: S3 refuses it with 412
//! when the key exists, so two consumers racing on one alert record one dispatch between them.
//! Listings are paginated and start at the first wanted partition; reads run concurrently.

use crate::errors::{Permanent, sdk_error, status};
use async_trait::async_trait;
use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{Delete, ObjectIdentifier};
use futures::{StreamExt, TryStreamExt};
use store_model::ledger::{LedgerStore, ObjectLedger};
use store_model::ports::{ErrorKind, PortError};

/// The AWS [`store_model::ports::Ledger`].
pub type S3Ledger = ObjectLedger<S3Objects>;

/// Objects read at once.
const READ_CONCURRENCY: usize = 16;
/// Attempts of a conditional write that S3 reports as conflicting with a concurrent one.
const CONFLICT_ATTEMPTS: u32 = 5;

/// A bucket, for the ledger.
#[derive(Debug, Clone)]
pub struct S3Objects {
    client: Client,
    bucket: String,
}

impl S3Objects {
    /// Objects in `bucket`.
    pub fn new(client: Client, bucket: impl Into<String>) -> Self {
        Self {
            client,
            bucket: bucket.into(),
        }
    }

    /// The bucket.
    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// Reads an object, or `None` when there is none.
    pub async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, PortError> {
        let out = match self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(out) => out,
            Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => return Ok(None),
            Err(e) => return Err(sdk_error("read object", e, &PERMANENT)),
        };
        let bytes = out.body.collect().await.map_err(|e| {
            PortError::transient(
                "read object",
                format!("reading s3://{}/{key}", self.bucket),
                e,
            )
        })?;
        Ok(Some(bytes.to_vec()))
    }
    /// Every object under `prefix`, with its size, in key order (every page).
    pub async fn list(&self, prefix: &str) -> Result<Vec<(String, u64)>, PortError> {
        let objects = self.objects(prefix, None).await?;
        Ok(objects
            .iter()
            .filter_map(|o| Some((o.key()?.to_owned(), o.size().unwrap_or(0).max(0) as u64)))
            .collect())
    }

    /// Objects under `prefix` (after `start_after` when given), with their sizes and when S3
    /// last wrote each (epoch seconds, S3's clock).
    pub async fn list_stored(
        &self,
        prefix: &str,
        start_after: Option<&str>,
    ) -> Result<Vec<store_model::snapshot::StoredObject>, PortError> {
        let objects = self.objects(prefix, start_after).await?;
        Ok(objects
            .iter()
            .filter_map(|o| {
                Some(store_model::snapshot::StoredObject {
                    key: o.key()?.to_owned(),
                    size: o.size().unwrap_or(0).max(0) as u64,
                    modified: o.last_modified().map_or(0, |t| t.secs()),
                })
            })
            .collect())
    }

    /// Every page of a listing under `prefix`, from after `start_after` when given.
    async fn objects(
        &self,
        prefix: &str,
        start_after: Option<&str>,
    ) -> Result<Vec<aws_sdk_s3::types::Object>, PortError> {
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(prefix)
            .set_start_after(start_after.map(str::to_owned))
            .into_paginator()
            .send();
        let mut out = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| sdk_error("list objects", e, &PERMANENT))?;
            out.extend(page.contents().iter().cloned());
        }
        Ok(out)
    }

    /// Deletes `keys`, up to 1,000 per call (S3's limit). Keys S3 reports it could not delete
    /// are an error naming the first of them.
    pub async fn delete(&self, keys: &[String]) -> Result<(), PortError> {
        for chunk in keys.chunks(DELETE_BATCH) {
            let objects = chunk
                .iter()
                .map(|k| ObjectIdentifier::builder().key(k).build())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| PortError::permanent("delete objects", "bad object key", e))?;
            let delete = Delete::builder()
                .set_objects(Some(objects))
                .quiet(true)
                .build()
                .map_err(|e| PortError::permanent("delete objects", "bad delete request", e))?;
            let out = self
                .client
                .delete_objects()
                .bucket(&self.bucket)
                .delete(delete)
                .send()
                .await
                .map_err(|e| sdk_error("delete objects", e, &PERMANENT))?;
            if let Some(e) = out.errors().first() {
                return Err(PortError::new(
                    store_model::ports::ErrorKind::Transient,
                    "delete objects",
                    format!(
                        "s3://{}/{}: {} {}",
                        self.bucket,
                        e.key().unwrap_or("?"),
                        e.code().unwrap_or("error"),
                        e.message().unwrap_or("")
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// Keys per `DeleteObjects` call.
const DELETE_BATCH: usize = 1000;

/// S3's errors that retrying cannot help (a `HEAD` or a refused request answers with a bare
/// status).
const PERMANENT: Permanent = Permanent {
    codes: &["NoSuchBucket", "AccessDenied", "InvalidBucketName"],
    statuses: &[400, 403, 404],
};

#[async_trait]
impl LedgerStore for S3Objects {
    async fn put(&self, key: &str, bytes: Vec<u8>) -> Result<(), PortError> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type("application/x-ndjson")
            .body(ByteStream::from(bytes))
            .send()
            .await
            .map_err(|e| sdk_error("write ledger", e, &PERMANENT))?;
        Ok(())
    }

    async fn create(&self, key: &str, bytes: Vec<u8>) -> Result<Option<Vec<u8>>, PortError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let result = self
                .client
                .put_object()
                .bucket(&self.bucket)
                .key(key)
                .if_none_match("*")
                .content_type("application/x-ndjson")
                .body(ByteStream::from(bytes.clone()))
                .send()
                .await;
            match result {
                Ok(_) => return Ok(None),
                Err(e) if status(&e) == Some(412) => {
                    // It exists; it cannot vanish, as ledger objects are never deleted.
                    return match self.get(key).await? {
                        Some(existing) => Ok(Some(existing)),
                        None => Err(PortError::new(
                            ErrorKind::Permanent,
                            "write ledger",
                            format!("s3://{}/{key} exists but cannot be read", self.bucket),
                        )),
                    };
                }
                Err(e) if status(&e) == Some(409) && attempt < CONFLICT_ATTEMPTS => {
                    tokio::time::sleep(crate::firehose::backoff(
                        std::time::Duration::from_millis(50),
                        std::time::Duration::from_secs(1),
                        attempt,
                    ))
                    .await;
                }
                Err(e) => return Err(sdk_error("write ledger", e, &PERMANENT)),
            }
        }
    }

    async fn keys_since(&self, prefix: &str, min_dt: &str) -> Result<Vec<String>, PortError> {
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(prefix)
            .start_after(format!("{prefix}dt={min_dt}"))
            .into_paginator()
            .send();
        let mut keys = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| sdk_error("list ledger", e, &PERMANENT))?;
            keys.extend(
                page.contents()
                    .iter()
                    .filter_map(|o| o.key().map(str::to_owned)),
            );
        }
        Ok(keys)
    }

    async fn keys_after(&self, prefix: &str, start_after: &str) -> Result<Vec<String>, PortError> {
        let after = (!start_after.is_empty()).then_some(start_after);
        let objects = self.objects(prefix, after).await?;
        Ok(objects
            .iter()
            .filter_map(|o| o.key().map(str::to_owned))
            .collect())
    }

    async fn get_all(&self, keys: Vec<String>) -> Result<Vec<(String, Vec<u8>)>, PortError> {
        let found: Vec<Option<(String, Vec<u8>)>> = futures::stream::iter(keys)
            .map(|key| async move { Ok(self.get(&key).await?.map(|b| (key, b))) })
            .buffer_unordered(READ_CONCURRENCY)
            .try_collect()
            .await?;
        Ok(found.into_iter().flatten().collect())
    }
}
