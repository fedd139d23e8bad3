//! The bootstrap files and their installation into the runtime directory.

use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// Where the directory written by [`install`] is mounted inside the sandbox (read-only), and
/// the value of `LAMBDA_RUNTIME_DIR`, as on Lambda.
pub const RUNTIME_DIR: &str = "/var/runtime";

/// The Python bootstrap (standard library only, Python ≥ 3.8).
pub const PYTHON_BOOTSTRAP: &str = include_str!("../bootstraps/python/bootstrap.py");

/// The Node bootstrap (an ES module, standard library only, Node ≥ 18).
pub const NODE_BOOTSTRAP: &str = include_str!("../bootstraps/node/bootstrap.mjs");

/// Path of [`PYTHON_BOOTSTRAP`] inside the sandbox.
pub const PYTHON_BOOTSTRAP_PATH: &str = "/var/runtime/python/bootstrap.py";

/// Path of [`NODE_BOOTSTRAP`] inside the sandbox.
pub const NODE_BOOTSTRAP_PATH: &str = "/var/runtime/node/bootstrap.mjs";

/// (sub-directory, file name, contents) of every installed file.
const FILES: [(&str, &str, &str); 2] = [
    ("python", "bootstrap.py", PYTHON_BOOTSTRAP),
    ("node", "bootstrap.mjs", NODE_BOOTSTRAP),
];

const DIR_MODE: u32 = 0o755;
const FILE_MODE: u32 = 0o644;

/// Writes the bootstraps to `dir/python/bootstrap.py` and `dir/node/bootstrap.mjs`.
///
/// `dir` (created if missing) and the two sub-directories get mode 0755 and the files 0644,
/// whatever the umask: the sandbox runs functions under another user, which must be able to
/// read them. Idempotent: a file that already has the right contents and mode is left alone.
/// Otherwise it is written to a temporary file in the same directory and renamed over the old
/// one, so a runtime starting concurrently (the directory may already be mounted into running
/// sandboxes) sees either the old or the new file, never a partial one.
pub fn install(dir: &Path) -> io::Result<()> {
    ensure_dir(dir)?;
    for (sub, name, contents) in FILES {
        let sub_dir = dir.join(sub);
        ensure_dir(&sub_dir)?;
        write_file(&sub_dir, name, contents.as_bytes())?;
    }
    Ok(())
}

fn ensure_dir(dir: &Path) -> io::Result<()> {
    fs::create_dir_all(dir)?;
    set_mode(dir, DIR_MODE)
}

fn set_mode(path: &Path, mode: u32) -> io::Result<()> {
    let meta = fs::metadata(path)?;
    if meta.permissions().mode() & 0o7777 != mode {
        fs::set_permissions(path, fs::Permissions::from_mode(mode))?;
    }
    Ok(())
}

fn write_file(dir: &Path, name: &str, contents: &[u8]) -> io::Result<()> {
    let path = dir.join(name);
    if let Ok(meta) = fs::symlink_metadata(&path)
        && meta.is_file()
        && meta.permissions().mode() & 0o7777 == FILE_MODE
        && meta.len() == contents.len() as u64
        && fs::read(&path)? == contents
    {
        return Ok(());
    }
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".tmp")
        .tempfile_in(dir)?;
    tmp.write_all(contents)?;
    tmp.as_file()
        .set_permissions(fs::Permissions::from_mode(FILE_MODE))?;
    tmp.as_file().sync_all()?;
    tmp.persist(&path).map_err(|e| e.error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o7777
    }

    #[test]
    fn installs_both_bootstraps_with_modes() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("runtime");
        install(&dir).unwrap();
        let py = dir.join("python/bootstrap.py");
        let node = dir.join("node/bootstrap.mjs");
        assert_eq!(fs::read_to_string(&py).unwrap(), PYTHON_BOOTSTRAP);
        assert_eq!(fs::read_to_string(&node).unwrap(), NODE_BOOTSTRAP);
        assert_eq!(mode(&py), 0o644);
        assert_eq!(mode(&node), 0o644);
        assert_eq!(mode(&dir), 0o755);
        assert_eq!(mode(&dir.join("python")), 0o755);
        assert_eq!(mode(&dir.join("node")), 0o755);
        // No temporary files left behind.
        for sub in ["python", "node"] {
            let names: Vec<_> = fs::read_dir(dir.join(sub))
                .unwrap()
                .map(|e| e.unwrap().file_name())
                .collect();
            assert_eq!(names.len(), 1, "{sub}: {names:?}");
        }
    }

    #[test]
    fn install_is_idempotent_and_repairs() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        install(dir).unwrap();
        let py = dir.join("python/bootstrap.py");
        let inode = fs::metadata(&py).unwrap().ino();
        install(dir).unwrap();
        assert_eq!(
            fs::metadata(&py).unwrap().ino(),
            inode,
            "an up-to-date file is not rewritten"
        );

        // A stale or damaged file is replaced (by rename: new inode), wrong modes are fixed.
        fs::write(&py, "stale").unwrap();
        fs::set_permissions(&py, fs::Permissions::from_mode(0o600)).unwrap();
        fs::set_permissions(dir.join("node"), fs::Permissions::from_mode(0o700)).unwrap();
        install(dir).unwrap();
        assert_eq!(fs::read_to_string(&py).unwrap(), PYTHON_BOOTSTRAP);
        assert_ne!(fs::metadata(&py).unwrap().ino(), inode);
        assert_eq!(mode(&py), 0o644);
        assert_eq!(mode(&dir.join("node")), 0o755);
    }

    #[test]
    fn bootstraps_are_embedded() {
        assert!(
            PYTHON_BOOTSTRAP.contains("/2018-06-01") || PYTHON_BOOTSTRAP.contains("2018-06-01")
        );
        assert!(NODE_BOOTSTRAP.contains("/2018-06-01/runtime"));
        assert!(PYTHON_BOOTSTRAP_PATH.starts_with(RUNTIME_DIR));
        assert!(NODE_BOOTSTRAP_PATH.starts_with(RUNTIME_DIR));
    }
}
