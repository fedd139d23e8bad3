//! Test helpers: build zips with the zip crate's writer and patch their headers to make hostile
//! archives the writer refuses to produce.

use std::io::{Cursor, Write};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipWriter};

pub(crate) struct ZipBuilder {
    writer: ZipWriter<Cursor<Vec<u8>>>,
}

impl ZipBuilder {
    pub(crate) fn new() -> Self {
        ZipBuilder {
            writer: ZipWriter::new(Cursor::new(Vec::new())),
        }
    }

    fn add(mut self, name: &str, data: &[u8], method: CompressionMethod, mode: u32) -> Self {
        let options = SimpleFileOptions::default()
            .compression_method(method)
            .unix_permissions(mode);
        self.writer.start_file(name, options).unwrap();
        self.writer.write_all(data).unwrap();
        self
    }

    /// A deflated file, mode 0644.
    pub(crate) fn file(self, name: &str, data: &[u8]) -> Self {
        self.add(name, data, CompressionMethod::Deflated, 0o644)
    }

    pub(crate) fn file_mode(self, name: &str, data: &[u8], mode: u32) -> Self {
        self.add(name, data, CompressionMethod::Deflated, mode)
    }

    /// A stored (uncompressed) file, mode 0644.
    pub(crate) fn stored(self, name: &str, data: &[u8]) -> Self {
        self.add(name, data, CompressionMethod::Stored, 0o644)
    }

    pub(crate) fn dir(mut self, name: &str) -> Self {
        self.writer
            .add_directory(name, SimpleFileOptions::default())
            .unwrap();
        self
    }

    pub(crate) fn symlink(mut self, name: &str, target: &str) -> Self {
        self.writer
            .add_symlink(name, target, SimpleFileOptions::default())
            .unwrap();
        self
    }

    pub(crate) fn finish(self) -> Vec<u8> {
        self.writer.finish().unwrap().into_inner()
    }
}

fn u16_at(b: &[u8], at: usize) -> usize {
    usize::from(u16::from_le_bytes([b[at], b[at + 1]]))
}

fn u32_at(b: &[u8], at: usize) -> usize {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap()) as usize
}

/// Offsets of the central directory record and the local header of the entry `name`.
fn find_entry(zip: &[u8], name: &str) -> (usize, usize) {
    let eocd = zip
        .windows(4)
        .rposition(|w| w == [0x50, 0x4b, 0x05, 0x06])
        .expect("end of central directory");
    let count = u16_at(zip, eocd + 10);
    let mut pos = u32_at(zip, eocd + 16);
    for _ in 0..count {
        assert_eq!(&zip[pos..pos + 4], &[0x50, 0x4b, 0x01, 0x02]);
        let name_len = u16_at(zip, pos + 28);
        let extra_len = u16_at(zip, pos + 30);
        let comment_len = u16_at(zip, pos + 32);
        if &zip[pos + 46..pos + 46 + name_len] == name.as_bytes() {
            return (pos, u32_at(zip, pos + 42));
        }
        pos += 46 + name_len + extra_len + comment_len;
    }
    panic!("no entry {name:?}");
}

/// Rewrites the declared uncompressed size of `name` in both headers.
pub(crate) fn patch_declared_size(zip: &[u8], name: &str, size: u32) -> Vec<u8> {
    let mut out = zip.to_vec();
    let (central, local) = find_entry(zip, name);
    out[central + 24..central + 28].copy_from_slice(&size.to_le_bytes());
    out[local + 22..local + 26].copy_from_slice(&size.to_le_bytes());
    out
}

/// Sets the unix mode (type and permission bits) of `name` in the central directory.
pub(crate) fn set_unix_mode(zip: &[u8], name: &str, mode: u32) -> Vec<u8> {
    let mut out = zip.to_vec();
    let (central, _) = find_entry(zip, name);
    out[central + 5] = 3; // made by: Unix
    out[central + 38..central + 42].copy_from_slice(&(mode << 16).to_le_bytes());
    out
}

/// Renames an entry in both headers (names of equal length), e.g. to create duplicates.
pub(crate) fn rename_entry(zip: &[u8], from: &str, to: &str) -> Vec<u8> {
    assert_eq!(from.len(), to.len());
    let mut out = zip.to_vec();
    let (central, local) = find_entry(zip, from);
    out[central + 46..central + 46 + to.len()].copy_from_slice(to.as_bytes());
    out[local + 30..local + 30 + to.len()].copy_from_slice(to.as_bytes());
    out
}
