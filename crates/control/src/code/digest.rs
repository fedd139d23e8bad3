//! The SHA-256 digest that names a code package.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest as _, Sha256};
use std::fmt;

/// SHA-256 of the zip bytes exactly as uploaded.
///
/// [`CodeDigest::base64`] is Lambda's `CodeSha256`; [`CodeDigest::hex`] names the package in the
/// [`CodeStore`](super::CodeStore) and in the function records.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CodeDigest([u8; 32]);

impl CodeDigest {
    /// Digest of `bytes`.
    pub fn of(bytes: &[u8]) -> CodeDigest {
        CodeDigest(Sha256::digest(bytes).into())
    }

    pub fn from_bytes(bytes: [u8; 32]) -> CodeDigest {
        CodeDigest(bytes)
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Lower-case hex, 64 characters.
    pub fn hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Standard base64 with padding, 44 characters: Lambda's `CodeSha256`.
    pub fn base64(&self) -> String {
        STANDARD.encode(self.0)
    }

    /// Parses 64 hex digits (either case); anything else is `None`.
    pub fn from_hex(s: &str) -> Option<CodeDigest> {
        if s.len() != 64 {
            return None;
        }
        let mut out = [0u8; 32];
        hex::decode_to_slice(s, &mut out).ok()?;
        Some(CodeDigest(out))
    }

    /// Parses a `CodeSha256` value (standard base64 with padding).
    pub fn from_base64(s: &str) -> Option<CodeDigest> {
        let bytes = STANDARD.decode(s).ok()?;
        Some(CodeDigest(bytes.try_into().ok()?))
    }
}

impl fmt::Display for CodeDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.hex())
    }
}

impl fmt::Debug for CodeDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CodeDigest({})", self.hex())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values_of_empty_input() {
        let d = CodeDigest::of(b"");
        assert_eq!(
            d.hex(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(d.base64(), "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=");
    }

    #[test]
    fn hex_and_base64_round_trip() {
        let d = CodeDigest::of(b"lambent");
        assert_eq!(CodeDigest::from_hex(&d.hex()), Some(d));
        assert_eq!(CodeDigest::from_hex(&d.hex().to_uppercase()), Some(d));
        assert_eq!(CodeDigest::from_base64(&d.base64()), Some(d));
        assert_eq!(d.to_string(), d.hex());
    }

    #[test]
    fn from_hex_rejects_malformed() {
        let h = CodeDigest::of(b"x").hex();
        assert_eq!(CodeDigest::from_hex(""), None);
        assert_eq!(CodeDigest::from_hex(&h[..62]), None);
        assert_eq!(CodeDigest::from_hex(&format!("{h}00")), None);
        assert_eq!(CodeDigest::from_hex(&format!("zz{}", &h[2..])), None);
        assert_eq!(CodeDigest::from_hex("../../../../etc/passwd"), None);
        assert_eq!(CodeDigest::from_base64("AAAA"), None);
    }
}
