//! Emptying a versioned bucket before it is deleted (`scripts/destroy.sh`).
//!
//! `ListObjectVersions` returns up to 1,000 versions *and* up to 1,000 delete markers per page,
//! while `DeleteObjects` takes at most 1,000 keys: batching by page (as a loop over
//! `list-object-versions --max-items 1000` does) can send 1,600 keys and get `MalformedXML`.
//! Here every version and marker goes into batches of at most [`MAX_KEYS_PER_DELETE`] keys,
//! whatever the mix, and a key a batch could not delete is tried again.

use anyhow::{Context, Result, bail};
use aws_sdk_s3::types::{Delete, ObjectIdentifier};

/// The most keys one `DeleteObjects` call takes (S3's limit).
pub const MAX_KEYS_PER_DELETE: usize = 1000;

/// A version or delete marker to delete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionedKey {
    /// The object key.
    pub key: String,
    /// Its version id.
    pub version_id: String,
}

/// Splits `keys` into batches of at most [`MAX_KEYS_PER_DELETE`].
pub fn batches(keys: &[VersionedKey]) -> impl Iterator<Item = &[VersionedKey]> {
    keys.chunks(MAX_KEYS_PER_DELETE)
}

/// What emptying did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Emptied {
    /// Versions and delete markers deleted.
    pub deleted: usize,
    /// `DeleteObjects` calls made.
    pub calls: usize,
}

/// Deletes every object version and delete marker of `bucket`: lists a page, deletes what it
/// holds in batches, and lists again until the bucket is empty. A key S3 reports as not deleted
/// is retried (up to five rounds) before the error is returned.
pub async fn empty_bucket(s3: &aws_sdk_s3::Client, bucket: &str) -> Result<Emptied> {
    let mut done = Emptied::default();
    let mut failed_rounds = 0;
    loop {
        let page = s3
            .list_object_versions()
            .bucket(bucket)
            .send()
            .await
            .with_context(|| format!("listing the versions of {bucket}"))?;
        let keys: Vec<VersionedKey> = page
            .versions()
            .iter()
            .map(|v| (v.key(), v.version_id()))
            .chain(
                page.delete_markers()
                    .iter()
                    .map(|m| (m.key(), m.version_id())),
            )
            .filter_map(|(k, v)| {
                Some(VersionedKey {
                    key: k?.to_owned(),
                    version_id: v.unwrap_or("null").to_owned(),
                })
            })
            .collect();
        if keys.is_empty() {
            return Ok(done);
        }
        let mut errors = Vec::new();
        for batch in batches(&keys) {
            let objects = batch
                .iter()
                .map(|k| {
                    ObjectIdentifier::builder()
                        .key(&k.key)
                        .version_id(&k.version_id)
                        .build()
                })
                .collect::<Result<Vec<_>, _>>()?;
            let out = s3
                .delete_objects()
                .bucket(bucket)
                .delete(
                    Delete::builder()
                        .set_objects(Some(objects))
                        .quiet(true)
                        .build()?,
                )
                .send()
                .await
                .with_context(|| format!("deleting {} versions of {bucket}", batch.len()))?;
            done.calls += 1;
            done.deleted += batch.len() - out.errors().len();
            errors.extend(out.errors().iter().map(|e| {
                format!(
                    "{}: {}",
                    e.key().unwrap_or("?"),
                    e.message().unwrap_or("not deleted")
                )
            }));
        }
        if !errors.is_empty() {
            failed_rounds += 1;
            if failed_rounds >= 5 {
                bail!(
                    "{} version(s) of {bucket} could not be deleted, e.g. {}",
                    errors.len(),
                    errors[0]
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_of_versions_and_markers_is_cut_into_calls_of_at_most_1000_keys() {
        let keys: Vec<VersionedKey> = (0..1600)
            .map(|i| VersionedKey {
                key: format!("k{i}"),
                version_id: format!("v{i}"),
            })
            .collect();
        let sizes: Vec<usize> = batches(&keys).map(<[_]>::len).collect();
        assert_eq!(sizes, [1000, 600]);
        assert_eq!(batches(&keys[..1000]).count(), 1);
        assert_eq!(batches(&[]).count(), 0);
    }
}
