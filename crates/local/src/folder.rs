//! The lake as a folder: `<data-dir>/s3/<bucket>/<key>`, with the same keys as the S3 bucket.
//!
//! Writes are atomic (a temporary file, fsync, rename), so a reader never sees half an object and a
//! crash leaves either the old state or the new one. Create-if-absent writes rename with
//! `RENAME_NOREPLACE` (or, where the file system has no such rename, hard-link), which fails if
//! the target exists: the folder equivalent of S3's `If-None-Match: *`.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use uuid::Uuid;

/// Suffix of files being written; readers skip them.
const TMP_SUFFIX: &str = ".tmp";

/// An object found by a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    /// Key relative to the bucket root, with `/` separators.
    pub key: String,
    /// Size in bytes.
    pub size: u64,
    /// When it was last written, epoch seconds (0 when the file system does not say).
    pub modified: i64,
}

/// A bucket in a folder.
#[derive(Debug, Clone)]
pub struct LakeFolder {
    root: PathBuf,
    /// Whether each write is flushed to the disk before it counts as done.
    durable: bool,
}

impl LakeFolder {
    /// The bucket folder `<data_dir>/s3/<bucket>`; created when missing. Every write reaches
    /// the disk (file and folder flushed) before it returns.
    pub fn open(data_dir: &Path, bucket: &str) -> io::Result<Self> {
        let root = data_dir.join("s3").join(bucket);
        fs::create_dir_all(&root)?;
        Ok(Self {
            root,
            durable: true,
        })
    }

    /// The same folder for data that need not outlive a crash of the machine (a simulation's
    /// working lake): writes are still atomic and create-if-absent, but not flushed to the disk
    /// one by one. Never for a lake an app keeps.
    pub fn scratch(mut self) -> Self {
        self.durable = false;
        self
    }

    /// The folder of the bucket.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The path of a key.
    pub fn path(&self, key: &str) -> PathBuf {
        self.root.join(key)
    }

    /// The bucket folder must still be there: like S3's `NoSuchBucket`, a lake folder deleted
    /// while an app runs is an error for every read and write, never an empty lake, and nothing
    /// re-creates it behind the operator's back (only opening it, at start, does).
    fn bucket(&self) -> io::Result<()> {
        if self.root.is_dir() {
            Ok(())
        } else {
            Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!(
                    "the lake folder {} is gone (deleted while this app ran?); restore it, or restart the app to begin an empty one",
                    self.root.display()
                ),
            ))
        }
    }

    /// The folder of `prefix`, created when missing (an engine lists it as a table), inside a
    /// bucket folder that must still be there.
    pub fn prefix_folder(&self, prefix: &str) -> io::Result<PathBuf> {
        self.bucket()?;
        let dir = self.path(prefix);
        fs::create_dir_all(&dir)?;
        Ok(dir)
    }

    fn write_temp(&self, key: &str, bytes: &[u8]) -> io::Result<(PathBuf, PathBuf)> {
        self.bucket()?;
        let path = self.path(key);
        let dir = path.parent().expect("keys always have a parent folder");
        fs::create_dir_all(dir)?;
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("object");
        let tmp = dir.join(format!(".{name}.{}{TMP_SUFFIX}", Uuid::new_v4().simple()));
        let durable = self.durable;
        let written = fs::File::create(&tmp).and_then(|mut file| {
            file.write_all(bytes)?;
            if durable { file.sync_all() } else { Ok(()) }
        });
        if let Err(e) = written {
            // A full disk must not stay full because of this write's own leftovers.
            let _ = fs::remove_file(&tmp);
            return Err(e);
        }
        Ok((tmp, path))
    }

    /// Removes temporary files under `prefix` last written more than `older_than` ago: what a
    /// writer that was killed mid-write left behind (a live write takes moments). Returns how
    /// many were removed.
    pub fn sweep_temporaries(
        &self,
        prefix: &str,
        older_than: std::time::Duration,
    ) -> io::Result<usize> {
        let start = self.path(prefix);
        let Some(cutoff) = std::time::SystemTime::now().checked_sub(older_than) else {
            return Ok(0);
        };
        let mut removed = 0;
        let mut dirs = vec![start];
        while let Some(dir) = dirs.pop() {
            let entries = match fs::read_dir(&dir) {
                Ok(e) => e,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            for entry in entries {
                let entry = entry?;
                let file_type = entry.file_type()?;
                let name = entry.file_name();
                let name = name.to_string_lossy();
                if file_type.is_dir() {
                    dirs.push(entry.path());
                } else if file_type.is_file()
                    && name.starts_with('.')
                    && name.ends_with(TMP_SUFFIX)
                    && entry.metadata()?.modified()? < cutoff
                {
                    fs::remove_file(entry.path())?;
                    removed += 1;
                }
            }
        }
        Ok(removed)
    }

    /// Writes an object atomically, replacing any object with the same key.
    pub fn put(&self, key: &str, bytes: &[u8]) -> io::Result<()> {
        let (tmp, path) = self.write_temp(key, bytes)?;
        fs::rename(&tmp, &path).inspect_err(|_| {
            let _ = fs::remove_file(&tmp);
        })?;
        self.sync_parent(&path)
    }

    /// Writes an object only if no object has the key; returns whether it was written.
    pub fn put_if_absent(&self, key: &str, bytes: &[u8]) -> io::Result<bool> {
        let (tmp, path) = self.write_temp(key, bytes)?;
        let placed = match rename_no_replace(&tmp, &path) {
            Some(renamed) => renamed,
            None => {
                let linked = fs::hard_link(&tmp, &path);
                let _ = fs::remove_file(&tmp);
                linked
            }
        };
        match placed {
            Ok(()) => self.sync_parent(&path).map(|()| true),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                let _ = fs::remove_file(&tmp);
                Ok(false)
            }
            Err(e) => {
                let _ = fs::remove_file(&tmp);
                Err(e)
            }
        }
    }

    /// Reads an object, or `None` when there is none.
    pub fn get(&self, key: &str) -> io::Result<Option<Vec<u8>>> {
        match fs::read(self.path(key)) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => self.bucket().map(|()| None),
            Err(e) => Err(e),
        }
    }

    /// Removes an object (one already gone is no error), and its folder when that leaves it
    /// empty (a snapshot run's folder).
    pub fn remove(&self, key: &str) -> io::Result<()> {
        let path = self.path(key);
        match fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        if let Some(dir) = path.parent()
            && dir != self.root
        {
            // Fails, as it should, while the folder still holds something.
            let _ = fs::remove_dir(dir);
        }
        Ok(())
    }

    /// Moves an object to another key; `false` when it was already gone (moved by someone else).
    pub fn rename(&self, from: &str, to: &str) -> io::Result<bool> {
        self.bucket()?;
        let target = self.path(to);
        fs::create_dir_all(target.parent().expect("keys have a parent"))?;
        match fs::rename(self.path(from), &target) {
            Ok(()) => self.sync_parent(&target).map(|()| true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Every object under a prefix (a folder path ending in `/`), sorted by key.
    pub fn list(&self, prefix: &str) -> io::Result<Vec<ObjectInfo>> {
        self.list_with(prefix, Stat::Read)
    }

    /// The keys of [`Self::list`], without reading any file's size or time.
    pub fn keys(&self, prefix: &str) -> io::Result<Vec<String>> {
        let listed = self.list_with(prefix, Stat::Skip)?;
        Ok(listed.into_iter().map(|o| o.key).collect())
    }

    fn list_with(&self, prefix: &str, stat: Stat) -> io::Result<Vec<ObjectInfo>> {
        self.bucket()?;
        let mut out = Vec::new();
        let start = self.path(prefix);
        if start.is_dir() {
            walk(&self.root, &start, stat, &mut out)?;
        }
        out.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(out)
    }

    /// Objects under `prefix` in `dt=` partitions at or after `min_dt`; partitions before it are
    /// not even listed.
    pub fn list_partitions_since(&self, prefix: &str, min_dt: &str) -> io::Result<Vec<ObjectInfo>> {
        self.partitions_since(prefix, min_dt, Stat::Read)
    }

    /// The keys of [`Self::list_partitions_since`], without reading any file's size or time (one
    /// system call a file fewer: what a ledger read needs, many times a minute).
    pub fn keys_since(&self, prefix: &str, min_dt: &str) -> io::Result<Vec<String>> {
        let listed = self.partitions_since(prefix, min_dt, Stat::Skip)?;
        Ok(listed.into_iter().map(|o| o.key).collect())
    }

    fn partitions_since(
        &self,
        prefix: &str,
        min_dt: &str,
        stat: Stat,
    ) -> io::Result<Vec<ObjectInfo>> {
        self.bucket()?;
        let dir = self.path(prefix);
        let mut out = Vec::new();
        let entries = match fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(e),
        };
        for entry in entries {
            let entry = entry?;
            let name = entry.file_name();
            let Some(dt) = name.to_str().and_then(|n| n.strip_prefix("dt=")) else {
                continue;
            };
            if dt >= min_dt && entry.file_type()?.is_dir() {
                walk(&self.root, &entry.path(), stat, &mut out)?;
            }
        }
        out.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(out)
    }
}

/// Moves `from` to `to` unless `to` exists (`AlreadyExists` then), in one step: Linux's
/// `renameat2` with `RENAME_NOREPLACE`. `None` where the system or the file system has no such
/// rename; the caller then links and unlinks, which is atomic too but several times slower on
/// ext4 (about 490 us against 110 us a create, measured here).
#[cfg(target_os = "linux")]
fn rename_no_replace(from: &Path, to: &Path) -> Option<io::Result<()>> {
    use rustix::fs::{CWD, RenameFlags, renameat_with};
    match renameat_with(CWD, from, CWD, to, RenameFlags::NOREPLACE) {
        Ok(()) => Some(Ok(())),
        Err(e)
            if e == rustix::io::Errno::INVAL
                || e == rustix::io::Errno::NOSYS
                || e == rustix::io::Errno::OPNOTSUPP =>
        {
            None
        }
        Err(e) => Some(Err(e.into())),
    }
}

#[cfg(not(target_os = "linux"))]
fn rename_no_replace(_from: &Path, _to: &Path) -> Option<io::Result<()>> {
    None
}

/// Whether a listing reads each file's size and modification time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stat {
    Read,
    /// Size and time are left 0.
    Skip,
}

fn walk(root: &Path, dir: &Path, stat: Stat, out: &mut Vec<ObjectInfo>) -> io::Result<()> {
    let relative = dir.strip_prefix(root).expect("walk stays inside the root");
    let mut folder_key = String::new();
    for part in relative.components() {
        folder_key.push_str(&part.as_os_str().to_string_lossy());
        folder_key.push('/');
    }
    walk_keyed(dir, &mut folder_key, stat, out)
}

/// [`walk`] below `dir`, whose key (with its trailing `/`) is `folder_key`: each file's key is
/// its folder's key and its name, with no path built or split per file (a ledger read lists
/// thousands of files).
fn walk_keyed(
    dir: &Path,
    folder_key: &mut String,
    stat: Stat,
    out: &mut Vec<ObjectInfo>,
) -> io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        // The directory entry's own type: a symbolic link is neither a file nor a folder here.
        let file_type = entry.file_type()?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if file_type.is_dir() {
            let len = folder_key.len();
            folder_key.push_str(&name);
            folder_key.push('/');
            walk_keyed(&entry.path(), folder_key, stat, out)?;
            folder_key.truncate(len);
        } else if file_type.is_file() {
            if name.starts_with('.') || name.ends_with(TMP_SUFFIX) {
                continue;
            }
            let mut key = String::with_capacity(folder_key.len() + name.len());
            key.push_str(folder_key);
            key.push_str(&name);
            let (size, modified) = match stat {
                Stat::Skip => (0, 0),
                Stat::Read => {
                    let metadata = entry.metadata()?;
                    let modified = metadata
                        .modified()
                        .ok()
                        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                        .map_or(0, |d| d.as_secs() as i64);
                    (metadata.len(), modified)
                }
            };
            out.push(ObjectInfo {
                key,
                size,
                modified,
            });
        }
    }
    Ok(())
}

impl LakeFolder {
    /// Flushes the folder holding `path` (a durable lake's renames and links survive a crash).
    fn sync_parent(&self, path: &Path) -> io::Result<()> {
        if let (true, Some(dir)) = (self.durable, path.parent()) {
            fs::File::open(dir)?.sync_all()?;
        }
        Ok(())
    }
}

/// Runs `work` on the folder off the async threads (file access blocks): the ledger's, the
/// snapshots' and the lake listing's one way there. `operation` names what failed.
pub(crate) async fn blocking<T: Send + 'static>(
    lake: &LakeFolder,
    operation: &'static str,
    work: impl FnOnce(&LakeFolder) -> io::Result<T> + Send + 'static,
) -> Result<T, store_model::ports::PortError> {
    use store_model::ports::PortError;
    let lake = lake.clone();
    tokio::task::spawn_blocking(move || work(&lake))
        .await
        .map_err(|e| PortError::permanent(operation, "lake folder task failed", e))?
        .map_err(|e| PortError::transient(operation, "lake folder access failed", e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_failed_folder_access_names_its_operation_and_not_the_ledger() {
        let dir = tempfile::tempdir().unwrap();
        let lake = LakeFolder::open(dir.path(), "b").unwrap();
        let e = blocking(&lake, "write snapshot", |_| -> io::Result<()> {
            Err(io::Error::other("disk full"))
        })
        .await
        .unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains("write snapshot") && text.contains("lake folder access failed"),
            "{text}"
        );
        assert!(!text.contains("ledger"), "{text}");
    }

    #[test]
    fn a_scratch_folder_still_writes_atomically_and_once() {
        let dir = tempfile::tempdir().unwrap();
        let lake = LakeFolder::open(dir.path(), "b").unwrap().scratch();
        let (x, y, z) = (
            "ledger/dt=2026-01-01-00/x.json",
            "ledger/dt=2026-01-01-00/y.json",
            "ledger/dt=2026-01-01-01/z.json",
        );
        assert!(lake.put_if_absent(x, b"1").unwrap());
        assert!(!lake.put_if_absent(x, b"2").unwrap());
        lake.put(y, b"3").unwrap();
        assert_eq!(lake.get(x).unwrap().unwrap(), b"1");
        assert!(lake.rename(y, z).unwrap());
        assert_eq!(lake.keys_since("ledger/", "2026-01-01-00").unwrap(), [x, z]);
        assert_eq!(lake.keys_since("ledger/", "2026-01-01-01").unwrap(), [z]);
    }

    #[test]
    fn put_get_and_list_skip_temporary_files() {
        let dir = tempfile::tempdir().unwrap();
        let lake = LakeFolder::open(dir.path(), "b").unwrap();
        lake.put("readings/dt=2026-01-01-00/a.json", b"x\n")
            .unwrap();
        fs::write(
            lake.path("readings/dt=2026-01-01-00/.b.json.123.tmp"),
            b"partial",
        )
        .unwrap();
        assert_eq!(
            lake.get("readings/dt=2026-01-01-00/a.json")
                .unwrap()
                .unwrap(),
            b"x\n"
        );
        assert_eq!(lake.get("nope").unwrap(), None);
        let keys: Vec<_> = lake
            .list("readings/")
            .unwrap()
            .into_iter()
            .map(|o| o.key)
            .collect();
        assert_eq!(keys, ["readings/dt=2026-01-01-00/a.json"]);
    }

    #[test]
    fn stale_temporary_files_are_swept_and_fresh_ones_kept() {
        let dir = tempfile::TempDir::new().unwrap();
        let lake = LakeFolder::open(dir.path(), "b").unwrap();
        lake.put("readings/dt=2025-01-01-00/a.json", b"{}\n")
            .unwrap();
        let part = lake.path("readings/dt=2025-01-01-00");
        let stale = part.join(".b.json.0123.tmp");
        let fresh = part.join(".c.json.4567.tmp");
        fs::write(&stale, b"half").unwrap();
        fs::write(&fresh, b"half").unwrap();
        let old = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
        fs::File::options()
            .write(true)
            .open(&stale)
            .unwrap()
            .set_modified(old)
            .unwrap();
        let removed = lake
            .sweep_temporaries("readings/", std::time::Duration::from_secs(900))
            .unwrap();
        assert_eq!(removed, 1);
        assert!(!stale.exists() && fresh.exists());
        assert!(
            lake.get("readings/dt=2025-01-01-00/a.json")
                .unwrap()
                .is_some()
        );
    }

    #[test]
    fn a_deleted_lake_folder_is_an_error_for_every_call_and_is_not_re_created() {
        let dir = tempfile::TempDir::new().unwrap();
        let lake = LakeFolder::open(dir.path(), "b").unwrap();
        lake.put("ledger/x/a.json", b"1").unwrap();
        fs::remove_dir_all(dir.path().join("s3")).unwrap();
        for err in [
            lake.list("ledger/").unwrap_err(),
            lake.list_partitions_since("ledger/x/", "dt=").unwrap_err(),
            lake.get("ledger/x/a.json").unwrap_err(),
            lake.put("ledger/x/b.json", b"2").unwrap_err(),
            lake.put_if_absent("ledger/x/c.json", b"3").unwrap_err(),
        ] {
            assert_eq!(err.kind(), io::ErrorKind::NotFound);
            assert!(err.to_string().contains("is gone"), "{err}");
        }
        assert!(!dir.path().join("s3").exists(), "nothing re-created it");
    }

    #[test]
    fn put_if_absent_writes_once() {
        let dir = tempfile::tempdir().unwrap();
        let lake = LakeFolder::open(dir.path(), "b").unwrap();
        assert!(lake.put_if_absent("k/x.json", b"first").unwrap());
        assert!(!lake.put_if_absent("k/x.json", b"second").unwrap());
        assert_eq!(lake.get("k/x.json").unwrap().unwrap(), b"first");
        assert_eq!(
            fs::read_dir(lake.path("k")).unwrap().count(),
            1,
            "no temp file left"
        );
    }

    #[test]
    fn racing_creates_of_one_key_have_one_winner_and_leave_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let lake = LakeFolder::open(dir.path(), "b").unwrap().scratch();
        for round in 0..20 {
            let key = format!("k/dt=2026-01-01-00/{round}.json");
            let winners: usize = std::thread::scope(|s| {
                let racers: Vec<_> = (0..4)
                    .map(|i| {
                        let (lake, key) = (&lake, &key);
                        s.spawn(move || lake.put_if_absent(key, format!("{i}").as_bytes()))
                    })
                    .collect();
                racers
                    .into_iter()
                    .map(|r| usize::from(r.join().unwrap().unwrap()))
                    .sum()
            });
            assert_eq!(winners, 1, "round {round}");
        }
        assert_eq!(lake.keys("k/").unwrap().len(), 20);
        let left = fs::read_dir(lake.path("k/dt=2026-01-01-00"))
            .unwrap()
            .count();
        assert_eq!(left, 20, "no temp file left");
    }

    #[test]
    fn keys_are_sorted_nested_and_skip_hidden_and_temporary_files() {
        let dir = tempfile::tempdir().unwrap();
        let lake = LakeFolder::open(dir.path(), "b").unwrap();
        for key in ["t/b/2.json", "t/a/1.json", "t/c.json", "u/x.json"] {
            lake.put(key, b"{}").unwrap();
        }
        fs::write(lake.path("t/a/.hidden.json"), b"{}").unwrap();
        fs::write(lake.path("t/a/.x.json.0.tmp"), b"{}").unwrap();
        assert_eq!(
            lake.keys("t/").unwrap(),
            ["t/a/1.json", "t/b/2.json", "t/c.json"]
        );
        assert_eq!(
            lake.list("t/")
                .unwrap()
                .into_iter()
                .map(|o| o.key)
                .collect::<Vec<_>>(),
            lake.keys("t/").unwrap(),
            "the listing and the keys agree"
        );
        assert!(lake.keys("missing/").unwrap().is_empty());
    }

    #[test]
    fn partition_listing_prunes_older_hours() {
        let dir = tempfile::tempdir().unwrap();
        let lake = LakeFolder::open(dir.path(), "b").unwrap();
        for dt in ["2026-01-01-00", "2026-01-01-05", "2026-01-02-00"] {
            lake.put(&format!("p/dt={dt}/o.json"), b"{}").unwrap();
        }
        let got: Vec<_> = lake
            .list_partitions_since("p/", "2026-01-01-05")
            .unwrap()
            .into_iter()
            .map(|o| o.key)
            .collect();
        assert_eq!(
            got,
            ["p/dt=2026-01-01-05/o.json", "p/dt=2026-01-02-00/o.json"]
        );
        assert!(
            lake.list_partitions_since("missing/", "x")
                .unwrap()
                .is_empty()
        );
    }
}
