//! Code packages end to end: inspection of uploaded zips and the on-disk code store.
//!
//! Zips are built at test time with the zip crate's writer (hostile ones by patching the headers
//! the writer produced), plus two fixtures made by Info-ZIP `zip -r` and Python's `zipfile`.

// The tests live in a module named after the file so that `cargo test -p lambent-control code`
// selects them.
mod code_store {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    use lambent_control::code::{
        CodeDigest, CodeLimits, CodeStore, CodeStoreError, InspectedZip, ZipRejection, inspect_zip,
    };
    use std::collections::HashSet;
    use std::fs;
    use std::io::{Cursor, Write};
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    use std::path::Path;
    use zip::write::SimpleFileOptions;
    use zip::{CompressionMethod, ZipWriter};

    // `cd pkg && TZ=UTC zip -r ../zipr.zip .` (Info-ZIP 3.0): directory entries, UT/ux extra fields,
    // stored and deflated entries, `bootstrap` with mode 04755.
    const ZIP_R_FIXTURE: &str = concat!(
        "UEsDBAoAAAAAAABQoVgAAAAAAAAAAAAAAAAEABwAbGliL1VUCQADoBIyZrRNCWt1eAsAAQQAAAAABAAAAABQSwMECgAAAAAA",
        "AFChWA2MWowGAAAABgAAAAsAHABsaWIvdXRpbC5weVVUCQADoBIyZrRNCWt1eAsAAQQAAAAABAAAAABYID0gMQpQSwMECgAA",
        "AAAAAFChWAAAAAAAAAAAAAAAAAgAHABsaWIvc3ViL1VUCQADoBIyZrRNCWt1eAsAAQQAAAAABAAAAABQSwMECgAAAAAAAFCh",
        "WAAAAAAAAAAAAAAAABEAHABsaWIvc3ViL2VtcHR5LnR4dFVUCQADoBIyZrRNCWt1eAsAAQQAAAAABAAAAABQSwMEFAAAAAgA",
        "AFChWFqhHzt1AAAA7QEAAAoAHABoYW5kbGVyLnB5VVQJAAOgEjJmoBIyZnV4CwABBAAAAAAEAAAAAMvMLcgvKlHIKs7P4+JK",
        "SU1TyEjMS8lJLYo30EgtS80r0VFIzs8rSa0o0bTiUgCCotSS0qI8sHq9lNLcgmKNaqU8JSsFAx0FJbAGIBtM12qimmdImnmG",
        "hMwzIs08I0LmGZNmnjEh80xIM8+EkHmmpJlnis08AFBLAwQKAAAAAAAAUKFYtBC5HxkAAAAZAAAACQAcAGJvb3RzdHJhcFVU",
        "CQADoBIyZrRNCWt1eAsAAQQAAAAABAAAAAAjIS9iaW4vc2gKZXhlYyAuL2hhbmRsZXIKUEsBAh4DCgAAAAAAAFChWAAAAAAA",
        "AAAAAAAAAAQAGAAAAAAAAAAQAO1BAAAAAGxpYi9VVAUAA6ASMmZ1eAsAAQQAAAAABAAAAABQSwECHgMKAAAAAAAAUKFYDYxa",
        "jAYAAAAGAAAACwAYAAAAAAABAAAApIE+AAAAbGliL3V0aWwucHlVVAUAA6ASMmZ1eAsAAQQAAAAABAAAAABQSwECHgMKAAAA",
        "AAAAUKFYAAAAAAAAAAAAAAAACAAYAAAAAAAAABAA7UGJAAAAbGliL3N1Yi9VVAUAA6ASMmZ1eAsAAQQAAAAABAAAAABQSwEC",
        "HgMKAAAAAAAAUKFYAAAAAAAAAAAAAAAAEQAYAAAAAAAAAAAApIHLAAAAbGliL3N1Yi9lbXB0eS50eHRVVAUAA6ASMmZ1eAsA",
        "AQQAAAAABAAAAABQSwECHgMUAAAACAAAUKFYWqEfO3UAAADtAQAACgAYAAAAAAABAAAApIEWAQAAaGFuZGxlci5weVVUBQAD",
        "oBIyZnV4CwABBAAAAAAEAAAAAFBLAQIeAwoAAAAAAABQoVi0ELkfGQAAABkAAAAJABgAAAAAAAEAAADtic8BAABib290c3Ry",
        "YXBVVAUAA6ASMmZ1eAsAAQQAAAAABAAAAABQSwUGAAAAAAYABgDfAQAAKwIAAAAA",
    );
    // `sha256sum zipr.zip` and `openssl dgst -sha256 -binary zipr.zip | base64`.
    const ZIP_R_SHA256_HEX: &str =
        "ce298856e8cc6fb09a05f3eb479742a4db5a5f1a308391e9dabb557a2fc9de7d";
    const ZIP_R_SHA256_B64: &str = "zimIVujMb7CaBfPrR5dCpNtaXxowg5Hp2rtVei/J3n0=";

    // Python 3 `zipfile.ZipFile(..., compression=ZIP_DEFLATED)` with `write()` per file: no directory
    // entries, `lib/util.py` stored, an empty file deflated to 2 bytes, `bootstrap` 0755.
    const PYTHON_FIXTURE: &str = concat!(
        "UEsDBBQAAAAIAABQoVi0ELkfGwAAABkAAAAJAAAAYm9vdHN0cmFwU1bUT8rM0y/O4EqtSE1W0NPPSMxLyUkt4gIAUEsDBBQA",
        "AAAIAABQoVhaoR87dQAAAO0BAAAKAAAAaGFuZGxlci5wecvMLcgvKlHIKs7P4+JKSU1TyEjMS8lJLYo30EgtS80r0VFIzs8r",
        "Sa0o0bTiUgCCotSS0qI8sHq9lNLcgmKNaqU8JSsFAx0FJbAGIBtM12qimmdImnmGhMwzIs08I0LmGZNmnjEh80xIM8+EkHmm",
        "pJlnis08AFBLAwQUAAAAAAAAUKFYDYxajAYAAAAGAAAACwAAAGxpYi91dGlsLnB5WCA9IDEKUEsDBBQAAAAIAABQoVgAAAAA",
        "AgAAAAAAAAARAAAAbGliL3N1Yi9lbXB0eS50eHQDAFBLAQIUAxQAAAAIAABQoVi0ELkfGwAAABkAAAAJAAAAAAAAAAAAAADt",
        "gQAAAABib290c3RyYXBQSwECFAMUAAAACAAAUKFYWqEfO3UAAADtAQAACgAAAAAAAAAAAAAApIFCAAAAaGFuZGxlci5weVBL",
        "AQIUAxQAAAAAAABQoVgNjFqMBgAAAAYAAAALAAAAAAAAAAAAAACkgd8AAABsaWIvdXRpbC5weVBLAQIUAxQAAAAIAABQoVgA",
        "AAAAAgAAAAAAAAARAAAAAAAAAAAAAACkgQ4BAABsaWIvc3ViL2VtcHR5LnR4dFBLBQYAAAAABAAEAOcAAAA/AQAAAAA=",
    );
    const PYTHON_SHA256_B64: &str = "Qo7XfYVAy9I/XRQn7Nu8yJkBUcWwTWmHCbZPntoFlSI=";

    const BOOTSTRAP: &[u8] = b"#!/bin/sh\nexec ./handler\n";

    fn fixture(b64: &str) -> Vec<u8> {
        STANDARD.decode(b64).unwrap()
    }

    // ---- zip construction -------------------------------------------------------------------------

    struct Builder(ZipWriter<Cursor<Vec<u8>>>);

    impl Builder {
        fn new() -> Self {
            Builder(ZipWriter::new(Cursor::new(Vec::new())))
        }
        fn entry(mut self, name: &str, data: &[u8], method: CompressionMethod, mode: u32) -> Self {
            let options = SimpleFileOptions::default()
                .compression_method(method)
                .unix_permissions(mode);
            self.0.start_file(name, options).unwrap();
            self.0.write_all(data).unwrap();
            self
        }
        fn file(self, name: &str, data: &[u8]) -> Self {
            self.entry(name, data, CompressionMethod::Deflated, 0o644)
        }
        fn dir(mut self, name: &str) -> Self {
            self.0
                .add_directory(name, SimpleFileOptions::default())
                .unwrap();
            self
        }
        fn symlink(mut self, name: &str, target: &str) -> Self {
            self.0
                .add_symlink(name, target, SimpleFileOptions::default())
                .unwrap();
            self
        }
        fn finish(self) -> Vec<u8> {
            self.0.finish().unwrap().into_inner()
        }
    }

    fn le16(b: &[u8], at: usize) -> usize {
        usize::from(u16::from_le_bytes([b[at], b[at + 1]]))
    }

    fn le32(b: &[u8], at: usize) -> usize {
        u32::from_le_bytes(b[at..at + 4].try_into().unwrap()) as usize
    }

    /// (central directory record, local header) offsets of `name`.
    fn locate(zip: &[u8], name: &str) -> (usize, usize) {
        let eocd = zip.windows(4).rposition(|w| w == b"PK\x05\x06").unwrap();
        let mut pos = le32(zip, eocd + 16);
        for _ in 0..le16(zip, eocd + 10) {
            let (n, e, c) = (
                le16(zip, pos + 28),
                le16(zip, pos + 30),
                le16(zip, pos + 32),
            );
            if &zip[pos + 46..pos + 46 + n] == name.as_bytes() {
                return (pos, le32(zip, pos + 42));
            }
            pos += 46 + n + e + c;
        }
        panic!("no entry {name}");
    }

    /// Rewrites the declared uncompressed size of `name` in both headers.
    fn with_declared_size(zip: &[u8], name: &str, size: u32) -> Vec<u8> {
        let (central, local) = locate(zip, name);
        let mut out = zip.to_vec();
        out[central + 24..central + 28].copy_from_slice(&size.to_le_bytes());
        out[local + 22..local + 26].copy_from_slice(&size.to_le_bytes());
        out
    }

    /// Sets the unix mode (type and permission bits, which the writer masks to 0777) of `name`.
    fn with_unix_mode(zip: &[u8], name: &str, mode: u32) -> Vec<u8> {
        let (central, _) = locate(zip, name);
        let mut out = zip.to_vec();
        out[central + 5] = 3; // made by: Unix
        out[central + 38..central + 42].copy_from_slice(&(mode << 16).to_le_bytes());
        out
    }

    /// Renames an entry in both headers (equal lengths), e.g. to make duplicates the writer refuses.
    fn renamed(zip: &[u8], from: &str, to: &str) -> Vec<u8> {
        assert_eq!(from.len(), to.len());
        let (central, local) = locate(zip, from);
        let mut out = zip.to_vec();
        out[central + 46..central + 46 + to.len()].copy_from_slice(to.as_bytes());
        out[local + 30..local + 30 + to.len()].copy_from_slice(to.as_bytes());
        out
    }

    // ---- helpers ----------------------------------------------------------------------------------

    fn new_store() -> (tempfile::TempDir, CodeStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = CodeStore::open(dir.path().join("code")).unwrap();
        (dir, store)
    }

    fn put(store: &CodeStore, zip: &[u8]) -> CodeDigest {
        let inspected = inspect_zip(zip, &CodeLimits::default()).unwrap();
        store.put(zip, &inspected).unwrap()
    }

    fn mode(path: &Path) -> u32 {
        fs::symlink_metadata(path).unwrap().permissions().mode() & 0o7777
    }

    /// Every path below `root` (relative, sorted), directories marked with a trailing `/`.
    fn listing(root: &Path) -> Vec<String> {
        fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
            for entry in fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                let rel = path
                    .strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                if fs::symlink_metadata(&path).unwrap().is_dir() {
                    out.push(format!("{rel}/"));
                    walk(root, &path, out);
                } else {
                    out.push(rel);
                }
            }
        }
        let mut out = Vec::new();
        if root.exists() {
            walk(root, root, &mut out);
        }
        out.sort();
        out
    }

    /// The uid that owns files this process creates (root for the server).
    fn own_uid() -> u32 {
        let probe = tempfile::NamedTempFile::new().unwrap();
        probe.as_file().metadata().unwrap().uid()
    }

    /// Directories 0755, files 0644 or 0755 (the `executables`), never setuid/setgid/sticky, no
    /// symbolic links, everything owned by this process's user.
    fn assert_tree_modes(tree: &Path, executables: &[&str]) {
        let uid = own_uid();
        assert_eq!(mode(tree), 0o755);
        for rel in listing(tree) {
            let path = tree.join(rel.trim_end_matches('/'));
            let meta = fs::symlink_metadata(&path).unwrap();
            assert!(!meta.file_type().is_symlink(), "{rel}");
            let want = if rel.ends_with('/') || executables.contains(&rel.as_str()) {
                0o755
            } else {
                0o644
            };
            assert_eq!(mode(&path), want, "{rel}");
            assert_eq!(meta.uid(), uid, "{rel}");
        }
    }

    // ---- digests ----------------------------------------------------------------------------------

    #[test]
    fn digest_is_sha256_of_the_uploaded_bytes_as_lambda_code_sha256() {
        let zip = fixture(ZIP_R_FIXTURE);
        let got = inspect_zip(&zip, &CodeLimits::default()).unwrap();
        assert_eq!(got.digest.hex(), ZIP_R_SHA256_HEX);
        assert_eq!(got.digest.base64(), ZIP_R_SHA256_B64);
        assert_eq!(CodeDigest::from_hex(ZIP_R_SHA256_HEX), Some(got.digest));
        assert_eq!(got.zipped_size, 1056);
        assert_eq!(got.unzipped_size, 6 + 493 + 25);
        assert_eq!(got.entries, 6);

        let py = fixture(PYTHON_FIXTURE);
        let got = inspect_zip(&py, &CodeLimits::default()).unwrap();
        assert_eq!(got.digest.base64(), PYTHON_SHA256_B64);
        assert_eq!((got.entries, got.unzipped_size), (4, 524));
    }

    #[test]
    fn default_limits_are_lambdas() {
        let l = CodeLimits::default();
        assert_eq!(l.max_zipped_bytes, 52_428_800);
        assert_eq!(l.max_unzipped_bytes, 262_144_000);
        assert_eq!(l.max_entries, 20_000);
    }

    // ---- unpacked trees ---------------------------------------------------------------------------

    #[test]
    fn zip_r_package_unpacks_with_safe_modes() {
        let (_dir, store) = new_store();
        let d = put(&store, &fixture(ZIP_R_FIXTURE));
        let tree = store.tree_path(&d);
        assert_eq!(
            listing(&tree),
            [
                "bootstrap",
                "handler.py",
                "lib/",
                "lib/sub/",
                "lib/sub/empty.txt",
                "lib/util.py"
            ]
        );
        assert_eq!(fs::read(tree.join("bootstrap")).unwrap(), BOOTSTRAP);
        assert_eq!(fs::read(tree.join("lib/util.py")).unwrap(), b"X = 1\n");
        assert_eq!(fs::read(tree.join("lib/sub/empty.txt")).unwrap(), b"");
        let handler = fs::read_to_string(tree.join("handler.py")).unwrap();
        assert!(handler.starts_with("import json\n") && handler.len() == 493);
        // bootstrap is 04755 in the zip: executable kept, setuid dropped.
        assert_tree_modes(&tree, &["bootstrap"]);
    }

    #[test]
    fn python_zipfile_package_without_directory_entries_unpacks() {
        let (_dir, store) = new_store();
        let d = put(&store, &fixture(PYTHON_FIXTURE));
        let tree = store.tree_path(&d);
        assert_eq!(
            listing(&tree),
            [
                "bootstrap",
                "handler.py",
                "lib/",
                "lib/sub/",
                "lib/sub/empty.txt",
                "lib/util.py"
            ]
        );
        assert_eq!(fs::read(tree.join("bootstrap")).unwrap(), BOOTSTRAP);
        assert_eq!(fs::read(tree.join("lib/util.py")).unwrap(), b"X = 1\n");
        assert_tree_modes(&tree, &["bootstrap"]);
    }

    #[test]
    fn writer_built_package_keeps_exec_bits_and_drops_special_bits() {
        let zip = Builder::new()
            .dir("bin/")
            .entry("bin/tool", b"\x7fELF", CompressionMethod::Stored, 0o700)
            .entry("bootstrap", BOOTSTRAP, CompressionMethod::Deflated, 0o755)
            .entry("group-exec", b"g", CompressionMethod::Deflated, 0o610)
            .entry("readonly.txt", b"r", CompressionMethod::Deflated, 0o400)
            .entry(
                "world-writable.txt",
                b"w",
                CompressionMethod::Deflated,
                0o666,
            )
            .file("setgid-sticky", b"s")
            .dir("private/")
            .finish();
        // The writer masks modes to 0777, so set the special bits in the header directly.
        let zip = with_unix_mode(&zip, "setgid-sticky", 0o100_000 | 0o3777);
        let zip = with_unix_mode(&zip, "private/", 0o040_000 | 0o1700);
        let (_dir, store) = new_store();
        let d = put(&store, &zip);
        let tree = store.tree_path(&d);
        assert_eq!(fs::read(tree.join("bin/tool")).unwrap(), b"\x7fELF");
        assert_eq!(
            listing(&tree),
            [
                "bin/",
                "bin/tool",
                "bootstrap",
                "group-exec",
                "private/",
                "readonly.txt",
                "setgid-sticky",
                "world-writable.txt"
            ]
        );
        assert_tree_modes(
            &tree,
            &["bin/tool", "bootstrap", "group-exec", "setgid-sticky"],
        );
    }

    #[test]
    fn layers_merge_in_order_later_files_win() {
        let (_dir, store) = new_store();
        let first = put(
            &store,
            &Builder::new()
                .file("python/shared.py", b"first")
                .file("python/only_first.py", b"1")
                .finish(),
        );
        let second = put(
            &store,
            &Builder::new()
                .file("python/shared.py", b"second")
                .entry("bin/tool", b"t", CompressionMethod::Stored, 0o755)
                .finish(),
        );
        let trees = [store.tree_path(&first), store.tree_path(&second)];
        let merged = store.merged(&trees).unwrap();
        assert_eq!(
            fs::read(merged.join("python/shared.py")).unwrap(),
            b"second"
        );
        assert_eq!(fs::read(merged.join("python/only_first.py")).unwrap(), b"1");
        assert_eq!(mode(&merged.join("bin/tool")) & 0o111, 0o111);
        // Hard links: merging copies nothing.
        assert_eq!(
            fs::metadata(merged.join("bin/tool")).unwrap().ino(),
            fs::metadata(trees[1].join("bin/tool")).unwrap().ino()
        );
        assert_eq!(store.merged(&trees).unwrap(), merged, "built once per list");
        let reversed = store.merged(&[trees[1].clone(), trees[0].clone()]).unwrap();
        assert_eq!(
            fs::read(reversed.join("python/shared.py")).unwrap(),
            b"first"
        );
    }

    // ---- idempotence, removal, sweep --------------------------------------------------------------

    #[test]
    fn put_twice_is_idempotent_and_stores_one_blob() {
        let (dir, store) = new_store();
        let zip = fixture(ZIP_R_FIXTURE);
        let inspected = inspect_zip(&zip, &CodeLimits::default()).unwrap();
        let d1 = store.put(&zip, &inspected).unwrap();
        assert!(store.contains(&d1));
        let blob_ino = fs::metadata(store.blob_path(&d1)).unwrap().ino();
        let tree_ino = fs::metadata(store.tree_path(&d1)).unwrap().ino();
        let d2 = store.put(&zip, &inspected).unwrap();
        assert_eq!(d1, d2);
        assert_eq!(d1, inspected.digest);
        // Nothing was rewritten.
        assert_eq!(fs::metadata(store.blob_path(&d1)).unwrap().ino(), blob_ino);
        assert_eq!(fs::metadata(store.tree_path(&d1)).unwrap().ino(), tree_ino);
        let root = dir.path().join("code");
        assert_eq!(listing(&root.join("blobs")), [format!("{}.zip", d1.hex())]);
        assert_eq!(fs::read_dir(root.join("trees")).unwrap().count(), 1);
        assert!(listing(&root.join("tmp")).is_empty());
        assert_eq!(store.digests().unwrap(), vec![d1]);
        // The blob is the upload, byte for byte, and read-only.
        assert_eq!(fs::read(store.blob_path(&d1)).unwrap(), zip);
        assert_eq!(mode(&store.blob_path(&d1)), 0o444);
    }

    #[test]
    fn concurrent_puts_of_the_same_zip_agree() {
        let (dir, store) = new_store();
        let zip = fixture(PYTHON_FIXTURE);
        let inspected = inspect_zip(&zip, &CodeLimits::default()).unwrap();
        std::thread::scope(|s| {
            let handles: Vec<_> = (0..4)
                .map(|_| s.spawn(|| store.put(&zip, &inspected).unwrap()))
                .collect();
            for h in handles {
                assert_eq!(h.join().unwrap(), inspected.digest);
            }
        });
        assert!(store.contains(&inspected.digest));
        assert_eq!(store.digests().unwrap(), vec![inspected.digest]);
        assert!(listing(&dir.path().join("code/tmp")).is_empty());
    }

    #[test]
    fn remove_deletes_blob_and_tree_and_tolerates_absence() {
        let (_dir, store) = new_store();
        let d = put(&store, &fixture(ZIP_R_FIXTURE));
        // A tree someone made read-only is still removable.
        fs::set_permissions(
            store.tree_path(&d).join("lib/sub"),
            fs::Permissions::from_mode(0o555),
        )
        .unwrap();
        store.remove(&d).unwrap();
        assert!(!store.contains(&d));
        assert!(!store.blob_path(&d).exists());
        assert!(!store.tree_path(&d).exists());
        assert!(store.digests().unwrap().is_empty());
        store.remove(&d).unwrap();
    }

    #[test]
    fn sweep_removes_only_unreferenced_packages() {
        let (dir, store) = new_store();
        let a = put(&store, &Builder::new().file("a", b"a").finish());
        let b = put(&store, &Builder::new().file("b", b"b").finish());
        let c = put(&store, &Builder::new().file("c", b"c").finish());
        // A package half-written before a crash (blob only) is also collected.
        let half = Builder::new().file("half", b"h").finish();
        let half_digest = CodeDigest::of(&half);
        fs::write(store.blob_path(&half_digest), &half).unwrap();
        // Foreign files are left alone.
        let root = dir.path().join("code");
        fs::write(root.join("blobs/README"), b"not a digest").unwrap();

        let referenced: HashSet<CodeDigest> = [a, c].into_iter().collect();
        assert_eq!(store.sweep(&referenced).unwrap(), 2);
        let mut want = vec![a, c];
        want.sort();
        assert_eq!(store.digests().unwrap(), want);
        assert!(store.contains(&a) && store.contains(&c));
        assert!(!store.contains(&b));
        assert!(!store.blob_path(&b).exists() && !store.tree_path(&b).exists());
        assert!(!store.blob_path(&half_digest).exists());
        assert!(root.join("blobs/README").exists());
        assert_eq!(fs::read(store.tree_path(&a).join("a")).unwrap(), b"a");
        // Nothing left to collect, until nothing is referenced.
        assert_eq!(store.sweep(&referenced).unwrap(), 0);
        assert_eq!(store.sweep(&HashSet::new()).unwrap(), 2);
        assert!(store.digests().unwrap().is_empty());
    }

    #[test]
    fn open_clears_leftovers_of_a_crash() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("code");
        let store = CodeStore::open(&root).unwrap();
        let kept = put(&store, &fixture(ZIP_R_FIXTURE));
        drop(store);
        // What an interrupted put/remove leaves: a partial blob and a partial, read-only tree.
        fs::write(root.join("tmp/blob-crash.zip"), b"PK\x03\x04 partial").unwrap();
        fs::create_dir_all(root.join("tmp/tree-crash/lib/deep")).unwrap();
        fs::write(root.join("tmp/tree-crash/lib/deep/f.py"), b"x").unwrap();
        for d in ["tmp/tree-crash/lib/deep", "tmp/tree-crash/lib"] {
            fs::set_permissions(root.join(d), fs::Permissions::from_mode(0o555)).unwrap();
        }
        assert_eq!(listing(&root.join("tmp")).len(), 5);

        let store = CodeStore::open(&root).unwrap();
        assert!(listing(&root.join("tmp")).is_empty());
        assert!(store.contains(&kept));
        assert_eq!(store.digests().unwrap(), vec![kept]);
    }

    #[test]
    fn open_creates_the_layout() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("a/b/code");
        let store = CodeStore::open(&root).unwrap();
        assert_eq!(listing(&root), ["blobs/", "merged/", "tmp/", "trees/"]);
        assert!(store.digests().unwrap().is_empty());
    }

    // ---- rejections -------------------------------------------------------------------------------

    fn small_limits() -> CodeLimits {
        CodeLimits {
            max_zipped_bytes: 4 << 20,
            max_unzipped_bytes: 1 << 20,
            max_entries: 50,
        }
    }

    /// Hostile zips, each with the message it must produce under `small_limits()`.
    fn hostile_zips() -> Vec<(&'static str, Vec<u8>, String)> {
        let traversal = |name: &str| {
            format!(
                "Zip entry '{name}' escapes the package root ('..' path components are not allowed)"
            )
        };
        let symlink = |name: &str| {
            format!("Zip entry '{name}' is a symbolic link; symbolic links are not allowed")
        };
        let not_zip =
            "Could not unzip uploaded file. Please check your file, then try to upload again.";
        let random: Vec<u8> = (0..10_000u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8)
            .collect();
        let good = fixture(ZIP_R_FIXTURE);
        let mut many = Builder::new();
        for i in 0..51 {
            many = many.file(&format!("f{i}.txt"), b"");
        }
        // 8 MiB of zeros deflate to ~8 KiB; the declared sizes already exceed the 1 MiB cap.
        let bomb = Builder::new()
            .file("bomb.bin", &vec![0u8; 8 << 20])
            .finish();
        assert!(bomb.len() < 64 << 10);
        let chunk = vec![b'a'; 300 << 10];
        let incompressible: Vec<u8> = (0..5u32 << 20)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 7) as u8)
            .collect();
        let big = Builder::new()
            .entry("big", &incompressible, CompressionMethod::Stored, 0o644)
            .finish();
        assert!(big.len() > 5 << 20);
        let two = Builder::new()
            .file("one.py", b"1")
            .file("two.py", b"2")
            .finish();

        vec![
        ("empty", Vec::new(), not_zip.into()),
        ("random bytes", random, not_zip.into()),
        ("truncated", good[..good.len() - 30].to_vec(), not_zip.into()),
        (
            "absolute path",
            Builder::new().file("ok.py", b"1").file("/etc/x", b"2").finish(),
            "Zip entry '/etc/x' has an absolute path and escapes the package root".into(),
        ),
        (
            "parent traversal",
            Builder::new().file("../evil", b"2").finish(),
            traversal("../evil"),
        ),
        (
            "nested parent traversal",
            Builder::new().file("lib/../../evil", b"2").finish(),
            traversal("lib/../../evil"),
        ),
        (
            "backslash traversal",
            Builder::new().file("..\\evil", b"2").finish(),
            traversal("..\\evil"),
        ),
        (
            "NUL in name",
            Builder::new().file("a\0.py", b"2").finish(),
            "Zip entry 'a\\u{0}.py' has an invalid name: it contains a NUL byte".into(),
        ),
        (
            "symlink",
            Builder::new()
                .file("ok.py", b"1")
                .symlink("x", "/etc/shadow")
                .finish(),
            symlink("x"),
        ),
        (
            "symlink by mode bits",
            with_unix_mode(&Builder::new().file("x", b"../../etc").finish(), "x", 0o120_777),
            symlink("x"),
        ),
        (
            "too many entries",
            many.finish(),
            "Zip file has more than 50 entries".into(),
        ),
        (
            "duplicate names",
            renamed(&two, "two.py", "one.py"),
            "Zip entry 'one.py' appears more than once in the zip file; duplicate entry names are not allowed".into(),
        ),
        (
            "compression bomb",
            bomb.clone(),
            "Unzipped size must be smaller than 1048576 bytes (the limit was exceeded at zip entry 'bomb.bin')".into(),
        ),
        (
            // The same bomb with headers claiming 1000 bytes: caught while decompressing.
            "bomb with lying header",
            with_declared_size(&bomb, "bomb.bin", 1000),
            "Zip entry 'bomb.bin' is corrupt: it decompresses to more than the 1000 bytes its header declares".into(),
        ),
        (
            "total over cap",
            Builder::new()
                .file("1", &chunk)
                .file("2", &chunk)
                .file("3", &chunk)
                .file("4", &chunk)
                .finish(),
            "Unzipped size must be smaller than 1048576 bytes (the limit was exceeded at zip entry '4')".into(),
        ),
        (
            "zipped too large",
            big.clone(),
            format!(
                "Zipped size must be at most 4194304 bytes, but the uploaded file has {} bytes",
                big.len()
            ),
        ),
    ]
    }

    #[test]
    fn every_rejection_has_its_message() {
        for (what, zip, want) in hostile_zips() {
            let err = inspect_zip(&zip, &small_limits()).expect_err(what);
            assert_eq!(err.to_string(), want, "{what}");
        }
    }

    #[test]
    fn rejection_variants() {
        let zips = hostile_zips();
        let get = |what: &str| {
            let (_, zip, _) = zips.iter().find(|(w, _, _)| *w == what).unwrap();
            inspect_zip(zip, &small_limits()).unwrap_err()
        };
        assert_eq!(get("empty"), ZipRejection::NotAZip);
        assert_eq!(get("truncated"), ZipRejection::NotAZip);
        assert_eq!(
            get("absolute path"),
            ZipRejection::AbsolutePath("/etc/x".into())
        );
        assert_eq!(
            get("parent traversal"),
            ZipRejection::ParentTraversal("../evil".into())
        );
        assert_eq!(get("symlink"), ZipRejection::Symlink("x".into()));
        assert_eq!(get("too many entries"), ZipRejection::TooManyEntries(50));
        assert_eq!(
            get("duplicate names"),
            ZipRejection::DuplicateEntry("one.py".into())
        );
        assert!(matches!(
            get("compression bomb"),
            ZipRejection::UnzippedTooLarge {
                limit: 1_048_576,
                ..
            }
        ));
        assert!(matches!(
            get("bomb with lying header"),
            ZipRejection::SizeMismatch { declared: 1000, .. }
        ));
        assert!(matches!(
            get("zipped too large"),
            ZipRejection::TooLarge {
                limit: 4_194_304,
                ..
            }
        ));
    }

    #[test]
    fn lying_bomb_is_stopped_early_even_under_lambdas_cap() {
        // Declared 1000 bytes, really 8 MiB: under the 250 MB cap the lie is what stops it, within
        // the first decompression chunk.
        let bomb = Builder::new()
            .file("bomb.bin", &vec![0u8; 8 << 20])
            .finish();
        let zip = with_declared_size(&bomb, "bomb.bin", 1000);
        match inspect_zip(&zip, &CodeLimits::default()).unwrap_err() {
            ZipRejection::SizeMismatch {
                entry,
                declared,
                found,
            } => {
                assert_eq!((entry.as_str(), declared), ("bomb.bin", 1000));
                assert!(found > 1000 && found <= 1 << 20, "{found}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn nothing_is_written_for_rejected_zips() {
        let (dir, store) = new_store();
        let root = dir.path().join("code");
        let before = listing(&root);
        for (what, zip, _) in hostile_zips() {
            assert!(inspect_zip(&zip, &small_limits()).is_err(), "{what}");
            // Even a caller that skips inspection and forges its result cannot store a hostile zip.
            let forged = InspectedZip {
                digest: CodeDigest::of(&zip),
                zipped_size: zip.len() as u64,
                unzipped_size: 1 << 20,
                entries: 50,
            };
            let err = store.put(&zip, &forged).expect_err(what);
            assert!(matches!(err, CodeStoreError::Rejected(_)), "{what}: {err}");
            assert!(!store.contains(&forged.digest), "{what}");
            assert_eq!(listing(&root), before, "{what}");
        }
        assert!(store.digests().unwrap().is_empty());
    }
}
