//! Validation of uploaded zips, and the one walk over a zip that both inspection and unpacking use.
//!
//! The walk has two passes. The first reads only the central directory: names, types, flags and
//! declared sizes, so that an unsafe name is reported before anything is decompressed. The second
//! decompresses every entry in bounded chunks, counting the bytes that really come out (headers
//! may lie) and stopping at the first byte over a cap. When unpacking, the second pass also writes
//! the entries below a destination directory; it never writes anything during inspection.

use super::{CodeDigest, CodeLimits};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::fs::{self, DirBuilder, File, OpenOptions, Permissions};
use std::io::{self, Cursor, Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use zip::{CompressionMethod, ZipArchive};

const S_IFMT: u32 = 0o170_000;
const S_IFREG: u32 = 0o100_000;
const S_IFDIR: u32 = 0o040_000;
const S_IFLNK: u32 = 0o120_000;

/// Longest accepted entry name, in bytes (the unpacked path must stay far below `PATH_MAX`).
const MAX_NAME_BYTES: usize = 2048;
/// Longest accepted path component, in bytes (`NAME_MAX` of Linux file systems).
const MAX_COMPONENT_BYTES: usize = 255;
/// Decompression chunk: the most that is decompressed past a cap before the walk stops.
const CHUNK: usize = 64 * 1024;

pub(super) const DIR_MODE: u32 = 0o755;
pub(super) const FILE_MODE: u32 = 0o644;
pub(super) const EXEC_FILE_MODE: u32 = 0o755;

/// Why an uploaded zip was refused.
///
/// The messages are shown to API users (inside `InvalidParameterValueException`), so each one
/// names the problem and, where there is one, the offending entry. Entry names are quoted with
/// control characters escaped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ZipRejection {
    /// Empty input, random bytes, a truncated zip, or anything else without a readable zip
    /// directory.
    #[error("Could not unzip uploaded file. Please check your file, then try to upload again.")]
    NotAZip,
    /// The zip itself is larger than [`CodeLimits::max_zipped_bytes`].
    #[error("Zipped size must be at most {limit} bytes, but the uploaded file has {size} bytes")]
    TooLarge { size: u64, limit: u64 },
    /// The entries decompress to more than [`CodeLimits::max_unzipped_bytes`] in total (counted
    /// while decompressing, so this also catches compression bombs); `entry` is where the cap
    /// was crossed.
    #[error(
        "Unzipped size must be smaller than {limit} bytes (the limit was exceeded at zip entry '{entry}')"
    )]
    UnzippedTooLarge { limit: u64, entry: String },
    #[error("Zip entry '{0}' has an absolute path and escapes the package root")]
    AbsolutePath(String),
    #[error("Zip entry '{0}' escapes the package root ('..' path components are not allowed)")]
    ParentTraversal(String),
    #[error("Zip entry '{0}' is a symbolic link; symbolic links are not allowed")]
    Symlink(String),
    /// A device, FIFO or socket entry.
    #[error(
        "Zip entry '{0}' is not a regular file or directory; only regular files and directories are allowed"
    )]
    SpecialFile(String),
    /// A NUL byte, an empty name, an over-long name or component.
    #[error("Zip entry '{name}' has an invalid name: {reason}")]
    InvalidName { name: String, reason: &'static str },
    /// More than [`CodeLimits::max_entries`] entries; the value is the limit.
    #[error("Zip file has more than {0} entries")]
    TooManyEntries(usize),
    /// Two entries with the same name (also after normalising `./` and `//`).
    #[error(
        "Zip entry '{0}' appears more than once in the zip file; duplicate entry names are not allowed"
    )]
    DuplicateEntry(String),
    /// One path would have to be both a file and a directory.
    #[error(
        "Zip entry '{entry}' conflicts with another entry: '{path}' would be both a file and a directory"
    )]
    PathConflict { entry: String, path: String },
    #[error("Zip entry '{0}' is encrypted; encrypted zip files are not supported")]
    Encrypted(String),
    #[error(
        "Zip entry '{entry}' uses the unsupported compression method {method}; only stored and deflate are supported"
    )]
    UnsupportedCompression { entry: String, method: String },
    /// The entry's data does not decompress to the size its header declares (a lying header).
    /// `found` is the number of bytes decompressed when the mismatch was noticed: the walk stops
    /// at the first byte beyond `declared`.
    #[error("{}", size_mismatch_message(entry, *declared, *found))]
    SizeMismatch {
        entry: String,
        declared: u64,
        found: u64,
    },
    /// Damaged data: bad checksum, invalid deflate stream, unreadable header.
    #[error("Could not unzip uploaded file: {0}")]
    Corrupt(String),
}

fn size_mismatch_message(entry: &str, declared: u64, found: u64) -> String {
    if found > declared {
        format!(
            "Zip entry '{entry}' is corrupt: it decompresses to more than the {declared} bytes its header declares"
        )
    } else {
        format!(
            "Zip entry '{entry}' is corrupt: it decompresses to {found} bytes but its header declares {declared} bytes"
        )
    }
}

/// What [`inspect_zip`] learned about an accepted zip.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InspectedZip {
    /// SHA-256 of the uploaded bytes (`CodeSha256` = `digest.base64()`).
    pub digest: CodeDigest,
    /// Size of the uploaded zip (`CodeSize`).
    pub zipped_size: u64,
    /// Total of the decompressed bytes of all entries, as really counted.
    pub unzipped_size: u64,
    /// Number of entries in the zip (files and directories).
    pub entries: usize,
}

/// Checks an uploaded zip without writing anything.
///
/// Rejects (see [`ZipRejection`]): oversized input, anything that is not a readable zip, more than
/// `max_entries` entries, duplicate names, absolute paths, `..` components (also with `\` as
/// separator), NUL bytes in names, symbolic links and other special files, encrypted entries,
/// compression methods other than stored and deflate, entries whose data is damaged or does not
/// match the declared size, and more than `max_unzipped_bytes` of decompressed data. Every entry
/// is really decompressed; decompression stops at the first chunk that crosses a cap.
pub fn inspect_zip(bytes: &[u8], limits: &CodeLimits) -> Result<InspectedZip, ZipRejection> {
    let stats = walk(bytes, limits, None).map_err(|e| match e {
        WalkError::Rejected(r) => r,
        // No destination, so nothing is written and no I/O error can occur.
        WalkError::Io { source, .. } => ZipRejection::Corrupt(source.to_string()),
    })?;
    Ok(InspectedZip {
        digest: CodeDigest::of(bytes),
        zipped_size: bytes.len() as u64,
        unzipped_size: stats.unzipped_size,
        entries: stats.entries,
    })
}

pub(super) struct WalkStats {
    pub unzipped_size: u64,
    pub entries: usize,
}

#[derive(Debug)]
pub(super) enum WalkError {
    Rejected(ZipRejection),
    Io {
        action: &'static str,
        path: PathBuf,
        source: io::Error,
    },
}

impl From<ZipRejection> for WalkError {
    fn from(r: ZipRejection) -> Self {
        WalkError::Rejected(r)
    }
}

fn io_err<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> WalkError + 'a {
    move |source| WalkError::Io {
        action,
        path: path.to_path_buf(),
        source,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    File,
    ExplicitDir,
    ImplicitDir,
}

/// One entry that passed the first pass.
struct Planned {
    index: usize,
    shown: String,
    /// Validated path components below the root; empty for a root directory entry (`./`).
    components: Vec<String>,
    dir: bool,
    executable: bool,
    declared: u64,
}

/// Validates `bytes` against `limits`; with `dest`, also unpacks every entry below `dest` (an
/// existing, empty directory). On error, `dest` may hold a partial tree; the caller removes it.
pub(super) fn walk(
    bytes: &[u8],
    limits: &CodeLimits,
    dest: Option<&Path>,
) -> Result<WalkStats, WalkError> {
    let size = bytes.len() as u64;
    if size > limits.max_zipped_bytes {
        return Err(ZipRejection::TooLarge {
            size,
            limit: limits.max_zipped_bytes,
        }
        .into());
    }
    if bytes.is_empty() {
        return Err(ZipRejection::NotAZip.into());
    }
    let mut archive = ZipArchive::new(Cursor::new(bytes)).map_err(|_| ZipRejection::NotAZip)?;

    // The zip crate keeps one entry per name, so entries with identical names collapse in
    // `archive`; count and compare the central directory records ourselves.
    let scan = scan_central_directory(bytes, archive.central_directory_start(), limits.max_entries);
    if scan.records > limits.max_entries || archive.len() > limits.max_entries {
        return Err(ZipRejection::TooManyEntries(limits.max_entries).into());
    }
    if let Some(name) = scan.duplicate {
        return Err(ZipRejection::DuplicateEntry(name).into());
    }
    if scan.records != archive.len() {
        return Err(ZipRejection::Corrupt(format!(
            "the central directory has {} records but {} distinct entry names",
            scan.records,
            archive.len()
        ))
        .into());
    }

    // Pass 1: names, types and declared sizes only.
    let mut plan = Vec::with_capacity(archive.len());
    let mut kinds: HashMap<Vec<String>, Kind> = HashMap::new();
    let mut declared_total: u64 = 0;
    for index in 0..archive.len() {
        let entry = archive
            .by_index_raw(index)
            .map_err(|e| ZipRejection::Corrupt(format!("cannot read entry #{index}: {e}")))?;
        let name = entry.name().to_owned();
        let shown = shown(&name);
        let (components, slash_dir) = split_name(&name, &shown)?;
        if entry.enclosed_name().is_none() {
            // Our own checks are stricter; keep the library's as a second line of defence.
            return Err(ZipRejection::ParentTraversal(shown).into());
        }
        let mode = entry.unix_mode();
        let dir = match mode.map_or(0, |m| m & S_IFMT) {
            S_IFLNK => return Err(ZipRejection::Symlink(shown).into()),
            0 | S_IFREG => slash_dir,
            S_IFDIR => true,
            _ => return Err(ZipRejection::SpecialFile(shown).into()),
        };
        if components.is_empty() && !dir {
            return Err(ZipRejection::InvalidName {
                name: shown,
                reason: "a file entry needs a file name",
            }
            .into());
        }
        if entry.encrypted() {
            return Err(ZipRejection::Encrypted(shown).into());
        }
        let method = entry.compression();
        if !matches!(
            method,
            CompressionMethod::Stored | CompressionMethod::Deflated
        ) {
            return Err(ZipRejection::UnsupportedCompression {
                entry: shown,
                method: format!("{method:?}"),
            }
            .into());
        }
        register_path(&mut kinds, &components, dir, &shown)?;
        let declared = entry.size();
        declared_total = declared_total.saturating_add(declared);
        if declared_total > limits.max_unzipped_bytes {
            return Err(ZipRejection::UnzippedTooLarge {
                limit: limits.max_unzipped_bytes,
                entry: shown,
            }
            .into());
        }
        let executable = !dir && mode.is_some_and(|m| m & 0o111 != 0);
        plan.push(Planned {
            index,
            shown,
            components,
            dir,
            executable,
            declared,
        });
    }

    // Directories first, parents before children (a prefix sorts before its extensions).
    if let Some(dest) = dest {
        let dirs: BTreeSet<&Vec<String>> = kinds
            .iter()
            .filter(|(_, k)| **k != Kind::File)
            .map(|(c, _)| c)
            .collect();
        for components in dirs {
            let path = join(dest, components);
            DirBuilder::new()
                .mode(DIR_MODE)
                .create(&path)
                .map_err(io_err("creating directory", &path))?;
            fs::set_permissions(&path, Permissions::from_mode(DIR_MODE))
                .map_err(io_err("setting permissions of", &path))?;
        }
    }

    // Pass 2: decompress everything, counting what really comes out.
    let mut total: u64 = 0;
    let mut buf = vec![0u8; CHUNK];
    for p in &plan {
        let mut entry = archive
            .by_index(p.index)
            .map_err(|e| ZipRejection::Corrupt(format!("zip entry '{}': {e}", p.shown)))?;
        let mut out = match dest {
            Some(dest) if !p.dir => {
                let path = join(dest, &p.components);
                let file = OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(&path)
                    .map_err(io_err("creating file", &path))?;
                Some((file, path))
            }
            _ => None,
        };
        let mut found: u64 = 0;
        loop {
            let n = match entry.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    return Err(ZipRejection::Corrupt(format!(
                        "zip entry '{}' is damaged ({e})",
                        p.shown
                    ))
                    .into());
                }
            };
            found += n as u64;
            total += n as u64;
            if total > limits.max_unzipped_bytes {
                return Err(ZipRejection::UnzippedTooLarge {
                    limit: limits.max_unzipped_bytes,
                    entry: p.shown.clone(),
                }
                .into());
            }
            if found > p.declared {
                return Err(ZipRejection::SizeMismatch {
                    entry: p.shown.clone(),
                    declared: p.declared,
                    found,
                }
                .into());
            }
            if let Some((file, path)) = out.as_mut() {
                file.write_all(&buf[..n])
                    .map_err(io_err("writing file", path))?;
            }
        }
        if found != p.declared {
            return Err(ZipRejection::SizeMismatch {
                entry: p.shown.clone(),
                declared: p.declared,
                found,
            }
            .into());
        }
        if let Some((file, path)) = out {
            let mode = if p.executable {
                EXEC_FILE_MODE
            } else {
                FILE_MODE
            };
            file.set_permissions(Permissions::from_mode(mode))
                .map_err(io_err("setting permissions of", &path))?;
            file.sync_all().map_err(io_err("syncing file", &path))?;
        }
    }

    if let Some(dest) = dest {
        // Make the new directory entries durable before the caller renames the tree into place.
        for (components, kind) in &kinds {
            if *kind != Kind::File {
                sync_dir(&join(dest, components))?;
            }
        }
        sync_dir(dest)?;
    }

    Ok(WalkStats {
        unzipped_size: total,
        entries: plan.len(),
    })
}

fn sync_dir(path: &Path) -> Result<(), WalkError> {
    File::open(path)
        .and_then(|d| d.sync_all())
        .map_err(io_err("syncing directory", path))
}

fn join(dest: &Path, components: &[String]) -> PathBuf {
    let mut path = dest.to_path_buf();
    path.extend(components);
    path
}

/// Escapes control characters (NUL, newlines, escape sequences) for use in a message.
fn shown(name: &str) -> String {
    name.chars()
        .flat_map(|c| {
            let escaped: Vec<char> = if c.is_control() {
                c.escape_default().collect()
            } else {
                vec![c]
            };
            escaped
        })
        .collect()
}

/// Splits an entry name into safe path components. Both `/` and `\` count as separators (zips
/// made on Windows may use `\`), so `..\x` is a traversal too. Returns the components and whether
/// the name ends with a separator (a directory entry).
fn split_name(name: &str, shown: &str) -> Result<(Vec<String>, bool), ZipRejection> {
    let invalid = |reason| ZipRejection::InvalidName {
        name: shown.to_owned(),
        reason,
    };
    if name.contains('\0') {
        return Err(invalid("it contains a NUL byte"));
    }
    if name.is_empty() {
        return Err(invalid("the name is empty"));
    }
    if name.len() > MAX_NAME_BYTES {
        return Err(invalid("the name is longer than 2048 bytes"));
    }
    let is_sep = |c: char| c == '/' || c == '\\';
    if name.starts_with(is_sep) {
        return Err(ZipRejection::AbsolutePath(shown.to_owned()));
    }
    let b = name.as_bytes();
    if b.len() >= 2 && b[0].is_ascii_alphabetic() && b[1] == b':' {
        // `C:\x` or `C:x`: a Windows drive path.
        return Err(ZipRejection::AbsolutePath(shown.to_owned()));
    }
    let mut components = Vec::new();
    for part in name.split(is_sep) {
        match part {
            "" | "." => {}
            ".." => return Err(ZipRejection::ParentTraversal(shown.to_owned())),
            _ if part.len() > MAX_COMPONENT_BYTES => {
                return Err(invalid("a path component is longer than 255 bytes"));
            }
            _ => components.push(part.to_owned()),
        }
    }
    Ok((components, name.ends_with(is_sep)))
}

/// Records `components` as a file or directory, rejecting duplicates and file/directory clashes.
fn register_path(
    kinds: &mut HashMap<Vec<String>, Kind>,
    components: &[String],
    dir: bool,
    shown_name: &str,
) -> Result<(), ZipRejection> {
    let conflict = |upto: &[String]| ZipRejection::PathConflict {
        entry: shown_name.to_owned(),
        path: shown(&upto.join("/")),
    };
    for i in 1..components.len() {
        let parent = &components[..i];
        match kinds.get(parent) {
            Some(Kind::File) => return Err(conflict(parent)),
            Some(_) => {}
            None => {
                kinds.insert(parent.to_vec(), Kind::ImplicitDir);
            }
        }
    }
    if components.is_empty() {
        // `./`: the package root itself; nothing to create.
        return Ok(());
    }
    let new = if dir { Kind::ExplicitDir } else { Kind::File };
    match (kinds.get(components), new) {
        (None, _) | (Some(Kind::ImplicitDir), Kind::ExplicitDir) => {
            kinds.insert(components.to_vec(), new);
            Ok(())
        }
        (Some(Kind::File), Kind::File) | (Some(Kind::ExplicitDir), Kind::ExplicitDir) => {
            Err(ZipRejection::DuplicateEntry(shown_name.to_owned()))
        }
        _ => Err(conflict(components)),
    }
}

struct CdScan {
    records: usize,
    duplicate: Option<String>,
}

/// Walks the central directory records from `start`, counting them (stopping once past
/// `max_records`) and noting the first raw name that occurs twice.
fn scan_central_directory(bytes: &[u8], start: u64, max_records: usize) -> CdScan {
    const SIGNATURE: [u8; 4] = [0x50, 0x4b, 0x01, 0x02];
    const FIXED: usize = 46;
    let u16_at = |at: usize| usize::from(u16::from_le_bytes([bytes[at], bytes[at + 1]]));
    let mut scan = CdScan {
        records: 0,
        duplicate: None,
    };
    let mut seen: HashSet<&[u8]> = HashSet::new();
    let Ok(mut pos) = usize::try_from(start) else {
        return scan;
    };
    while pos.checked_add(FIXED).is_some_and(|end| end <= bytes.len())
        && bytes[pos..pos + 4] == SIGNATURE
    {
        let name_len = u16_at(pos + 28);
        let extra_len = u16_at(pos + 30);
        let comment_len = u16_at(pos + 32);
        let name_end = pos + FIXED + name_len;
        if name_end > bytes.len() {
            break;
        }
        scan.records += 1;
        if scan.records > max_records {
            break;
        }
        let name = &bytes[pos + FIXED..name_end];
        if scan.duplicate.is_none() && !seen.insert(name) {
            scan.duplicate = Some(shown(&String::from_utf8_lossy(name)));
        }
        pos = name_end + extra_len + comment_len;
    }
    scan
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::code::testzip::{ZipBuilder, patch_declared_size, rename_entry, set_unix_mode};

    fn small() -> CodeLimits {
        CodeLimits {
            max_zipped_bytes: 1 << 20,
            max_unzipped_bytes: 1 << 20,
            max_entries: 100,
        }
    }

    fn reject(bytes: &[u8], limits: &CodeLimits) -> ZipRejection {
        inspect_zip(bytes, limits).expect_err("zip should be rejected")
    }

    #[test]
    fn accepts_a_plain_package_and_counts_sizes() {
        let zip = ZipBuilder::new()
            .dir("lib/")
            .file("lib/a.js", b"module.exports = 1;\n")
            .stored("b.txt", b"hello")
            .file_mode("bootstrap", b"#!/bin/sh\n", 0o755)
            .finish();
        let got = inspect_zip(&zip, &small()).unwrap();
        assert_eq!(got.entries, 4);
        assert_eq!(got.unzipped_size, 20 + 5 + 10);
        assert_eq!(got.zipped_size, zip.len() as u64);
        assert_eq!(got.digest, CodeDigest::of(&zip));
    }

    #[test]
    fn accepts_an_empty_archive() {
        let zip = ZipBuilder::new().finish();
        let got = inspect_zip(&zip, &small()).unwrap();
        assert_eq!((got.entries, got.unzipped_size), (0, 0));
    }

    #[test]
    fn accepts_root_and_dot_entries_and_missing_directory_entries() {
        let zip = ZipBuilder::new()
            .dir("./")
            .file("./a/b/c.txt", b"x")
            .file("a//d.txt", b"y")
            .finish();
        assert_eq!(inspect_zip(&zip, &small()).unwrap().entries, 3);
    }

    #[test]
    fn not_a_zip() {
        let msg =
            "Could not unzip uploaded file. Please check your file, then try to upload again.";
        assert_eq!(reject(b"", &small()), ZipRejection::NotAZip);
        assert_eq!(reject(b"", &small()).to_string(), msg);
        let random: Vec<u8> = (0..4096u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        assert_eq!(reject(&random, &small()), ZipRejection::NotAZip);
        let zip = ZipBuilder::new().file("a.txt", &[7u8; 1000]).finish();
        let truncated = &zip[..zip.len() / 2];
        assert_eq!(reject(truncated, &small()), ZipRejection::NotAZip);
    }

    #[test]
    fn too_large_zipped() {
        let zip = ZipBuilder::new().stored("a", &[1u8; 2000]).finish();
        let limits = CodeLimits {
            max_zipped_bytes: 1000,
            ..small()
        };
        let r = reject(&zip, &limits);
        assert!(
            matches!(r, ZipRejection::TooLarge { limit: 1000, .. }),
            "{r:?}"
        );
        assert!(r.to_string().contains("at most 1000 bytes"), "{r}");
    }

    #[test]
    fn exact_limits_are_accepted() {
        let zip = ZipBuilder::new()
            .file("a", &[0u8; 1000])
            .file("b", b"")
            .finish();
        let limits = CodeLimits {
            max_zipped_bytes: zip.len() as u64,
            max_unzipped_bytes: 1000,
            max_entries: 2,
        };
        inspect_zip(&zip, &limits).unwrap();
    }

    #[test]
    fn unzipped_cap_counts_real_bytes() {
        let zip = ZipBuilder::new()
            .file("a.bin", &[0u8; 600])
            .file("b.bin", &[0u8; 600])
            .finish();
        let limits = CodeLimits {
            max_unzipped_bytes: 1000,
            ..small()
        };
        let r = reject(&zip, &limits);
        assert_eq!(
            r.to_string(),
            "Unzipped size must be smaller than 1000 bytes (the limit was exceeded at zip entry 'b.bin')"
        );
    }

    #[test]
    fn lying_header_is_caught_while_decompressing() {
        // 100 KB of zeros that claims to be 10 bytes: the declared sizes pass every cap.
        let zip = ZipBuilder::new()
            .file("liar.bin", &vec![0u8; 100_000])
            .finish();
        let zip = patch_declared_size(&zip, "liar.bin", 10);
        assert!(zip.len() < 2000);
        let r = reject(&zip, &small());
        assert!(
            matches!(&r, ZipRejection::SizeMismatch { entry, declared: 10, found } if entry == "liar.bin" && *found <= CHUNK as u64),
            "{r:?}"
        );
        assert!(r.to_string().contains("more than the 10 bytes"), "{r}");
        // With a cap below the first chunk, the cap wins.
        let limits = CodeLimits {
            max_unzipped_bytes: 5,
            ..small()
        };
        assert!(matches!(
            reject(&zip, &limits),
            ZipRejection::UnzippedTooLarge { limit: 5, .. }
        ));
    }

    #[test]
    fn header_claiming_more_than_the_data_is_corrupt() {
        let zip = ZipBuilder::new().file("short.bin", &[1u8; 100]).finish();
        let zip = patch_declared_size(&zip, "short.bin", 500);
        let r = reject(&zip, &small());
        assert_eq!(
            r,
            ZipRejection::SizeMismatch {
                entry: "short.bin".into(),
                declared: 500,
                found: 100
            }
        );
    }

    #[test]
    fn damaged_data_is_corrupt() {
        let zip = ZipBuilder::new()
            .stored("data.txt", b"abcdefghijklmnop")
            .finish();
        let mut bad = zip.clone();
        let at = bad
            .windows(16)
            .position(|w| w == b"abcdefghijklmnop")
            .unwrap();
        bad[at] = b'X';
        let r = reject(&bad, &small());
        assert!(
            matches!(&r, ZipRejection::Corrupt(m) if m.contains("'data.txt'")),
            "{r:?}"
        );
        assert!(
            r.to_string()
                .starts_with("Could not unzip uploaded file: zip entry 'data.txt'")
        );
    }

    #[test]
    fn path_rules() {
        let cases: [(&str, ZipRejection); 8] = [
            ("/etc/x", ZipRejection::AbsolutePath("/etc/x".into())),
            ("\\etc\\x", ZipRejection::AbsolutePath("\\etc\\x".into())),
            ("C:\\x", ZipRejection::AbsolutePath("C:\\x".into())),
            ("../evil", ZipRejection::ParentTraversal("../evil".into())),
            (
                "a/../../evil",
                ZipRejection::ParentTraversal("a/../../evil".into()),
            ),
            ("a/../b", ZipRejection::ParentTraversal("a/../b".into())),
            ("..\\x", ZipRejection::ParentTraversal("..\\x".into())),
            (
                "a\0b",
                ZipRejection::InvalidName {
                    name: "a\\u{0}b".into(),
                    reason: "it contains a NUL byte",
                },
            ),
        ];
        for (name, want) in cases {
            let zip = ZipBuilder::new()
                .file("ok.txt", b"1")
                .file(name, b"2")
                .finish();
            assert_eq!(reject(&zip, &small()), want, "{name:?}");
        }
        let long = "x".repeat(300);
        let zip = ZipBuilder::new().file(&long, b"2").finish();
        assert!(matches!(
            reject(&zip, &small()),
            ZipRejection::InvalidName { .. }
        ));
    }

    #[test]
    fn traversal_message() {
        let zip = ZipBuilder::new().file("../evil", b"2").finish();
        assert_eq!(
            reject(&zip, &small()).to_string(),
            "Zip entry '../evil' escapes the package root ('..' path components are not allowed)"
        );
    }

    #[test]
    fn symlinks_and_special_files() {
        let zip = ZipBuilder::new().symlink("link", "/etc/passwd").finish();
        let r = reject(&zip, &small());
        assert_eq!(r, ZipRejection::Symlink("link".into()));
        assert_eq!(
            r.to_string(),
            "Zip entry 'link' is a symbolic link; symbolic links are not allowed"
        );
        // A symlink made by setting the mode bits on an ordinary entry.
        let zip = ZipBuilder::new().file("x", b"target").finish();
        let zip = set_unix_mode(&zip, "x", S_IFLNK | 0o777);
        assert_eq!(reject(&zip, &small()), ZipRejection::Symlink("x".into()));
        // A FIFO; and a socket, whose type bits contain the symlink bits.
        for kind in [0o010_000, 0o140_000] {
            let zip = ZipBuilder::new().file("p", b"").finish();
            let zip = set_unix_mode(&zip, "p", kind | 0o644);
            assert_eq!(
                reject(&zip, &small()),
                ZipRejection::SpecialFile("p".into())
            );
        }
    }

    #[test]
    fn too_many_entries() {
        let mut b = ZipBuilder::new();
        for i in 0..11 {
            b = b.file(&format!("f{i}"), b"");
        }
        let zip = b.finish();
        let limits = CodeLimits {
            max_entries: 10,
            ..small()
        };
        let r = reject(&zip, &limits);
        assert_eq!(r, ZipRejection::TooManyEntries(10));
        assert_eq!(r.to_string(), "Zip file has more than 10 entries");
    }

    #[test]
    fn duplicates_and_conflicts() {
        // Identical raw names: the zip crate would silently keep only one of them.
        let zip = ZipBuilder::new()
            .file("dupA", b"one")
            .file("dupB", b"two")
            .finish();
        let zip = rename_entry(&zip, "dupB", "dupA");
        let r = reject(&zip, &small());
        assert_eq!(r, ZipRejection::DuplicateEntry("dupA".into()));
        assert!(r.to_string().contains("appears more than once"), "{r}");
        // Names that differ only in `./`.
        let zip = ZipBuilder::new()
            .file("a.txt", b"1")
            .file("./a.txt", b"2")
            .finish();
        assert_eq!(
            reject(&zip, &small()),
            ZipRejection::DuplicateEntry("./a.txt".into())
        );
        // A file that is also a directory.
        let zip = ZipBuilder::new().file("a", b"1").file("a/b", b"2").finish();
        assert_eq!(
            reject(&zip, &small()),
            ZipRejection::PathConflict {
                entry: "a/b".into(),
                path: "a".into()
            }
        );
        let zip = ZipBuilder::new().file("a/b", b"2").file("a", b"1").finish();
        assert!(matches!(
            reject(&zip, &small()),
            ZipRejection::PathConflict { .. }
        ));
        let zip = ZipBuilder::new().dir("a/").file("a", b"1").finish();
        assert!(matches!(
            reject(&zip, &small()),
            ZipRejection::PathConflict { .. }
        ));
        // A directory entry after files inside it is fine.
        let zip = ZipBuilder::new().file("a/b", b"2").dir("a/").finish();
        inspect_zip(&zip, &small()).unwrap();
    }

    #[test]
    fn control_characters_are_escaped_in_messages() {
        assert_eq!(shown("a\nb\u{1b}[31m"), "a\\nb\\u{1b}[31m");
        assert_eq!(shown("ünï/ok"), "ünï/ok");
    }

    #[test]
    fn split_name_rules() {
        let s = |n: &str| split_name(n, n).map(|(c, d)| (c.join("|"), d));
        assert_eq!(s("a/b/"), Ok(("a|b".into(), true)));
        assert_eq!(s("a\\b"), Ok(("a|b".into(), false)));
        assert_eq!(s("./"), Ok(("".into(), true)));
        assert_eq!(s("..."), Ok(("...".into(), false)));
        assert!(matches!(s(""), Err(ZipRejection::InvalidName { .. })));
    }
}
