//! Content-addressed storage of accepted code packages.
//!
//! Layout below the root:
//!
//! ```text
//! blobs/<hex>.zip   the zip as uploaded (read-only, 0444)
//! trees/<hex>/      the unpacked package (dirs 0755, files 0644 or 0755), mounted at /var/task
//! tmp/              work area: blobs and trees are built here and renamed into place
//! ```
//!
//! Crash safety: a blob is written to `tmp/`, fsynced and renamed, so `blobs/` holds only complete
//! zips. A tree is unpacked into `tmp/`, every file and directory fsynced, then the directory is
//! renamed, so `trees/` holds only complete trees. Removal renames a tree into `tmp/` before
//! deleting it. [`CodeStore::open`] empties `tmp/`, which holds only leftovers of interrupted work.
//!
//! Concurrency: `put` of the same digest from several threads or processes is safe (the first
//! rename wins, the others find the result in place). The store does not know which digests are
//! in use: callers must not `remove` or `sweep` a digest that a concurrent `put` is about to be
//! referenced by (record the reference first, or serialise code changes with sweeps).

use super::inspect::{DIR_MODE, InspectedZip, WalkError, ZipRejection, walk};
use super::{CodeDigest, CodeLimits};
use std::collections::{BTreeSet, HashSet};
use std::fs::{self, File, Permissions};
use std::io::{self, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

const BLOBS: &str = "blobs";
const TREES: &str = "trees";
const TMP: &str = "tmp";
/// Layer combinations merged for `/opt`, derived from `trees/` and rebuilt on demand.
const MERGED: &str = "merged";
const BLOB_SUFFIX: &str = ".zip";
const BLOB_MODE: u32 = 0o444;

/// Failure of a [`CodeStore`] operation.
#[derive(Debug, thiserror::Error)]
pub enum CodeStoreError {
    #[error("code store: {action} {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    /// `put` was given bytes that are not the ones `inspected` describes.
    #[error("code store: the zip has digest {actual} but its inspection says {expected}")]
    DigestMismatch {
        expected: CodeDigest,
        actual: CodeDigest,
    },
    /// The zip failed validation while unpacking (not expected after a successful inspection).
    #[error(transparent)]
    Rejected(#[from] ZipRejection),
}

impl From<WalkError> for CodeStoreError {
    fn from(e: WalkError) -> Self {
        match e {
            WalkError::Rejected(r) => CodeStoreError::Rejected(r),
            WalkError::Io {
                action,
                path,
                source,
            } => CodeStoreError::Io {
                action,
                path,
                source,
            },
        }
    }
}

fn io_err<'a>(
    action: &'static str,
    path: &'a Path,
) -> impl FnOnce(io::Error) -> CodeStoreError + 'a {
    move |source| CodeStoreError::Io {
        action,
        path: path.to_path_buf(),
        source,
    }
}

/// Zips and unpacked trees of code packages, one per [`CodeDigest`].
#[derive(Debug, Clone)]
pub struct CodeStore {
    root: PathBuf,
}

impl CodeStore {
    /// Opens (creating if needed) the store at `root` and deletes the leftovers of interrupted
    /// work in `root/tmp`.
    pub fn open(root: impl Into<PathBuf>) -> io::Result<CodeStore> {
        let store = CodeStore { root: root.into() };
        // Merged layer trees are a cache: start from nothing so none outlives its layers.
        let merged = store.root.join(MERGED);
        if merged.exists() {
            remove_all(&merged)?;
        }
        for sub in [BLOBS, TREES, TMP, MERGED] {
            fs::create_dir_all(store.root.join(sub))?;
        }
        let tmp = store.tmp_dir();
        let mut cleared = 0usize;
        for entry in fs::read_dir(&tmp)? {
            remove_all(&entry?.path())?;
            cleared += 1;
        }
        if cleared > 0 {
            tracing::info!(count = cleared, dir = %tmp.display(), "removed leftovers of interrupted code store work");
        }
        Ok(store)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// One read-only tree holding `trees` merged in order (files of later trees replace those of
    /// earlier ones), built once per distinct list by hard-linking, so it costs no copy.
    pub fn merged(&self, trees: &[PathBuf]) -> Result<PathBuf, CodeStoreError> {
        use sha2::Digest;
        let mut key = sha2::Sha256::new();
        for tree in trees {
            key.update(tree.as_os_str().as_encoded_bytes());
            key.update([0]);
        }
        let target = self.root.join(MERGED).join(hex::encode(key.finalize()));
        if target.exists() {
            return Ok(target);
        }
        let staging = tempfile::Builder::new()
            .prefix("merged-")
            .tempdir_in(self.tmp_dir())
            .map_err(io_err("create staging dir in", &self.root))?;
        for tree in trees {
            link_tree(tree, staging.path())?;
        }
        fs::set_permissions(staging.path(), Permissions::from_mode(DIR_MODE))
            .map_err(io_err("chmod", staging.path()))?;
        let staged = staging.keep();
        match fs::rename(&staged, &target) {
            Ok(()) => Ok(target),
            // Another caller merged the same list first: theirs is identical.
            Err(_) if target.exists() => {
                remove_all(&staged).map_err(io_err("remove", &staged))?;
                Ok(target)
            }
            Err(e) => Err(io_err("rename merged tree to", &target)(e)),
        }
    }

    fn tmp_dir(&self) -> PathBuf {
        self.root.join(TMP)
    }

    /// Stores the unpacked tree and the zip (each once per digest); returns the digest.
    ///
    /// `inspected` must come from [`inspect_zip`](super::inspect_zip) on the same bytes; the
    /// digest is recomputed and a mismatch is an error. Idempotent: when blob and tree exist
    /// already, nothing is written. A missing half (after a crash) is completed.
    pub fn put(
        &self,
        bytes: &[u8],
        inspected: &InspectedZip,
    ) -> Result<CodeDigest, CodeStoreError> {
        let digest = CodeDigest::of(bytes);
        if digest != inspected.digest {
            return Err(CodeStoreError::DigestMismatch {
                expected: inspected.digest,
                actual: digest,
            });
        }
        // The tree first: unpacking validates the zip again, so a zip that fails leaves nothing.
        let tree = self.tree_path(&digest);
        if !tree.is_dir() {
            // The same bytes passed these limits in `inspect_zip`; they only bound the work again.
            let limits = CodeLimits {
                max_zipped_bytes: inspected.zipped_size,
                max_unzipped_bytes: inspected.unzipped_size,
                max_entries: inspected.entries,
            };
            self.write_tree(bytes, &limits, &tree)?;
        }
        let blob = self.blob_path(&digest);
        if !blob.is_file() {
            self.write_blob(bytes, &blob)?;
        }
        Ok(digest)
    }

    fn write_blob(&self, bytes: &[u8], blob: &Path) -> Result<(), CodeStoreError> {
        let tmp = self.tmp_dir();
        let mut file = tempfile::Builder::new()
            .prefix("blob-")
            .suffix(BLOB_SUFFIX)
            .tempfile_in(&tmp)
            .map_err(io_err("creating a temporary file in", &tmp))?;
        let tmp_path = file.path().to_path_buf();
        file.write_all(bytes)
            .map_err(io_err("writing", &tmp_path))?;
        file.as_file()
            .set_permissions(Permissions::from_mode(BLOB_MODE))
            .map_err(io_err("setting permissions of", &tmp_path))?;
        file.as_file()
            .sync_all()
            .map_err(io_err("syncing", &tmp_path))?;
        file.persist(blob).map_err(|e| CodeStoreError::Io {
            action: "renaming a temporary file to",
            path: blob.to_path_buf(),
            source: e.error,
        })?;
        sync_dir(&self.root.join(BLOBS))
    }

    fn write_tree(
        &self,
        bytes: &[u8],
        limits: &CodeLimits,
        tree: &Path,
    ) -> Result<(), CodeStoreError> {
        let tmp = self.tmp_dir();
        // On an error below, dropping `work` deletes the partial tree.
        let work = tempfile::Builder::new()
            .prefix("tree-")
            .tempdir_in(&tmp)
            .map_err(io_err("creating a temporary directory in", &tmp))?;
        walk(bytes, limits, Some(work.path()))?;
        fs::set_permissions(work.path(), Permissions::from_mode(DIR_MODE))
            .map_err(io_err("setting permissions of", work.path()))?;
        let work = work.keep();
        if let Err(e) = fs::rename(&work, tree) {
            let _ = remove_all(&work);
            if tree.is_dir() {
                // A concurrent put of the same digest won the race.
                return Ok(());
            }
            return Err(CodeStoreError::Io {
                action: "renaming a temporary directory to",
                path: tree.to_path_buf(),
                source: e,
            });
        }
        sync_dir(&self.root.join(TREES))
    }

    /// Whether both the zip and the unpacked tree of `d` are stored.
    pub fn contains(&self, d: &CodeDigest) -> bool {
        self.blob_path(d).is_file() && self.tree_path(d).is_dir()
    }

    /// The stored zip (for `GetFunction`'s `Code.Location` downloads).
    pub fn blob_path(&self, d: &CodeDigest) -> PathBuf {
        self.root
            .join(BLOBS)
            .join(format!("{}{BLOB_SUFFIX}", d.hex()))
    }

    /// The unpacked tree, to be bind-mounted read-only at `/var/task`.
    pub fn tree_path(&self, d: &CodeDigest) -> PathBuf {
        self.root.join(TREES).join(d.hex())
    }

    /// Removes the zip and the tree of `d`; absent parts are not an error.
    pub fn remove(&self, d: &CodeDigest) -> Result<(), CodeStoreError> {
        let tree = self.tree_path(d);
        if fs::symlink_metadata(&tree).is_ok() {
            // Move the tree out of `trees/` first, so it disappears at once and an interrupted
            // deletion leaves its rest in `tmp/`, where `open` deletes it.
            let tmp = self.tmp_dir();
            let grave = tempfile::Builder::new()
                .prefix("removed-")
                .tempdir_in(&tmp)
                .map_err(io_err("creating a temporary directory in", &tmp))?
                .keep();
            match fs::rename(&tree, grave.join("tree")) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => {
                    let _ = fs::remove_dir(&grave);
                    return Err(CodeStoreError::Io {
                        action: "moving away",
                        path: tree,
                        source: e,
                    });
                }
            }
            remove_all(&grave).map_err(io_err("removing", &grave))?;
        }
        let blob = self.blob_path(d);
        match fs::remove_file(&blob) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(CodeStoreError::Io {
                action: "removing",
                path: blob,
                source: e,
            }),
        }
    }

    /// Removes every stored digest (complete or partial) that is not in `referenced`; returns
    /// how many were removed.
    pub fn sweep(&self, referenced: &HashSet<CodeDigest>) -> Result<usize, CodeStoreError> {
        let mut removed = 0;
        for d in self.digests()? {
            if !referenced.contains(&d) {
                self.remove(&d)?;
                tracing::info!(digest = %d, "removed unreferenced code package");
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// Every digest with a blob or a tree in the store, sorted.
    pub fn digests(&self) -> Result<Vec<CodeDigest>, CodeStoreError> {
        let mut out = BTreeSet::new();
        let blobs = self.root.join(BLOBS);
        for name in list_names(&blobs)? {
            if let Some(d) = name
                .strip_suffix(BLOB_SUFFIX)
                .and_then(CodeDigest::from_hex)
            {
                out.insert(d);
            }
        }
        for name in list_names(&self.root.join(TREES))? {
            if let Some(d) = CodeDigest::from_hex(&name) {
                out.insert(d);
            }
        }
        Ok(out.into_iter().collect())
    }
}

fn list_names(dir: &Path) -> Result<Vec<String>, CodeStoreError> {
    let mut names = Vec::new();
    for entry in fs::read_dir(dir).map_err(io_err("listing", dir))? {
        let entry = entry.map_err(io_err("listing", dir))?;
        if let Ok(name) = entry.file_name().into_string() {
            names.push(name);
        }
    }
    Ok(names)
}

fn sync_dir(dir: &Path) -> Result<(), CodeStoreError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err("syncing directory", dir))
}

/// Deletes a file or a directory tree, first giving directories owner rwx so that a tree made
/// read-only can be emptied. Symbolic links are removed, never followed.
fn remove_all(path: &Path) -> io::Result<()> {
    let meta = match fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    if !meta.is_dir() {
        return fs::remove_file(path);
    }
    make_dirs_writable(path)?;
    fs::remove_dir_all(path)
}

fn make_dirs_writable(dir: &Path) -> io::Result<()> {
    let mode = fs::symlink_metadata(dir)?.permissions().mode();
    if mode & 0o700 != 0o700 {
        fs::set_permissions(dir, Permissions::from_mode(mode | 0o700))?;
    }
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            make_dirs_writable(&entry.path())?;
        }
    }
    Ok(())
}

/// Hard-links every file of `from` into `to`, replacing files that exist there already.
fn link_tree(from: &Path, to: &Path) -> Result<(), CodeStoreError> {
    for entry in fs::read_dir(from).map_err(io_err("read dir", from))? {
        let entry = entry.map_err(io_err("read dir", from))?;
        let source = entry.path();
        let dest = to.join(entry.file_name());
        let kind = entry.file_type().map_err(io_err("stat", &source))?;
        if kind.is_dir() {
            if !dest.is_dir() {
                if dest.exists() {
                    fs::remove_file(&dest).map_err(io_err("remove", &dest))?;
                }
                fs::create_dir(&dest).map_err(io_err("mkdir", &dest))?;
                fs::set_permissions(&dest, Permissions::from_mode(DIR_MODE))
                    .map_err(io_err("chmod", &dest))?;
            }
            link_tree(&source, &dest)?;
        } else if kind.is_file() {
            if dest.is_dir() {
                remove_all(&dest).map_err(io_err("remove", &dest))?;
            } else if dest.exists() {
                fs::remove_file(&dest).map_err(io_err("remove", &dest))?;
            }
            fs::hard_link(&source, &dest).map_err(io_err("link", &dest))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::code::inspect_zip;
    use crate::code::testzip::ZipBuilder;

    #[test]
    fn remove_all_handles_read_only_directories() {
        let dir = tempfile::tempdir().unwrap();
        let top = dir.path().join("t");
        fs::create_dir_all(top.join("a/b")).unwrap();
        fs::write(top.join("a/b/f"), b"x").unwrap();
        fs::set_permissions(top.join("a/b"), Permissions::from_mode(0o555)).unwrap();
        fs::set_permissions(top.join("a"), Permissions::from_mode(0o555)).unwrap();
        remove_all(&top).unwrap();
        assert!(!top.exists());
        remove_all(&top).unwrap();
    }

    #[test]
    fn put_rejects_bytes_that_do_not_match_the_inspection() {
        let dir = tempfile::tempdir().unwrap();
        let store = CodeStore::open(dir.path()).unwrap();
        let a = ZipBuilder::new().file("a", b"1").finish();
        let b = ZipBuilder::new().file("b", b"2").finish();
        let inspected = inspect_zip(&a, &CodeLimits::default()).unwrap();
        let err = store.put(&b, &inspected).unwrap_err();
        assert!(
            matches!(err, CodeStoreError::DigestMismatch { .. }),
            "{err}"
        );
        assert!(store.digests().unwrap().is_empty());
        assert_eq!(fs::read_dir(store.tmp_dir()).unwrap().count(), 0);
    }

    #[test]
    fn put_completes_a_half_stored_package() {
        let dir = tempfile::tempdir().unwrap();
        let store = CodeStore::open(dir.path()).unwrap();
        let zip = ZipBuilder::new().file("a", b"1").finish();
        let inspected = inspect_zip(&zip, &CodeLimits::default()).unwrap();
        let d = store.put(&zip, &inspected).unwrap();
        // Crash between blob and tree: only the blob is there.
        remove_all(&store.tree_path(&d)).unwrap();
        assert!(!store.contains(&d));
        assert_eq!(store.digests().unwrap(), vec![d]);
        store.put(&zip, &inspected).unwrap();
        assert!(store.contains(&d));
        assert_eq!(fs::read(store.tree_path(&d).join("a")).unwrap(), b"1");
    }

    #[test]
    fn error_messages_name_the_path() {
        let e = CodeStoreError::Io {
            action: "removing",
            path: PathBuf::from("/x/y"),
            source: io::Error::from(io::ErrorKind::PermissionDenied),
        };
        assert!(e.to_string().contains("removing /x/y"), "{e}");
    }
}
