//! Receipt handles: base64 of (message sequence, 128 random bits, queue name).
//!
//! Why random bits: a handle is the capability to delete or hide a message, so it must not be
//! derivable from what consumers see (message ids, sequence numbers). Every receive draws a new
//! token and the message keeps only the latest, so a handle stops working once the message is
//! delivered again.

use crate::QueueError;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

pub fn new_token() -> [u8; 16] {
    rand::random()
}

pub fn encode(queue: &str, seq: u64, token: &[u8; 16]) -> String {
    let mut raw = Vec::with_capacity(24 + queue.len());
    raw.extend_from_slice(&seq.to_be_bytes());
    raw.extend_from_slice(token);
    raw.extend_from_slice(queue.as_bytes());
    STANDARD.encode(raw)
}

/// Decodes a handle issued for `queue`: (sequence, token).
pub fn decode(queue: &str, handle: &str) -> Result<(u64, [u8; 16]), QueueError> {
    let invalid = || {
        QueueError::ReceiptHandleIsInvalid(format!(
            "The input receipt handle \"{handle}\" is not a valid receipt handle."
        ))
    };
    let raw = STANDARD.decode(handle.trim()).map_err(|_| invalid())?;
    if raw.len() < 24 || &raw[24..] != queue.as_bytes() {
        return Err(invalid());
    }
    let seq = u64::from_be_bytes(raw[..8].try_into().map_err(|_| invalid())?);
    let token: [u8; 16] = raw[8..24].try_into().map_err(|_| invalid())?;
    Ok((seq, token))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles_round_trip_and_are_bound_to_their_queue() {
        let token = new_token();
        let handle = encode("q1", 42, &token);
        assert_eq!(decode("q1", &handle).unwrap(), (42, token));
        assert!(decode("q2", &handle).is_err());
        assert!(decode("q1", "not-base64!").is_err());
        assert_ne!(new_token(), new_token());
    }
}
