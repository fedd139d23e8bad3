//! The AWS event-stream binary encoding (`application/vnd.amazon.eventstream`), which SDKs decode
//! for InvokeWithResponseStream.
//!
//! A message is: total length (u32), headers length (u32), CRC32 of those 8 bytes, the headers,
//! the payload, then the CRC32 of everything before it; integers are big-endian, CRCs are
//! CRC-32/ISO-HDLC (the zlib one). A header is a 1-byte name length, the name, a type byte and
//! the value; only strings (type 7: 2-byte length, UTF-8 bytes) are needed here.

use bytes::{BufMut, Bytes, BytesMut};

/// Header value type 7: a UTF-8 string with a 2-byte length.
const STRING_TYPE: u8 = 7;

/// Encodes one event message: `:event-type`, `:content-type` and `:message-type: event`.
pub fn event(event_type: &str, content_type: &str, payload: &[u8]) -> Bytes {
    message(
        &[
            (":event-type", event_type),
            (":content-type", content_type),
            (":message-type", "event"),
        ],
        payload,
    )
}

/// Encodes one message with string headers. Names are at most 255 bytes and values at most
/// 65,535 (the format's limits); the callers' headers are constants well within them.
pub fn message(headers: &[(&str, &str)], payload: &[u8]) -> Bytes {
    let mut encoded_headers = BytesMut::new();
    for (name, value) in headers {
        let name = &name.as_bytes()[..name.len().min(usize::from(u8::MAX))];
        let value = &value.as_bytes()[..value.len().min(usize::from(u16::MAX))];
        // Both lengths were just capped to fit.
        encoded_headers.put_u8(name.len() as u8);
        encoded_headers.put_slice(name);
        encoded_headers.put_u8(STRING_TYPE);
        encoded_headers.put_u16(value.len() as u16);
        encoded_headers.put_slice(value);
    }
    // Prelude (12) + headers + payload + message CRC (4). Payloads are response chunks, far
    // below 4 GiB; the cast saturates rather than wrapping should one ever not be.
    let total = 12 + encoded_headers.len() + payload.len() + 4;
    let mut out = BytesMut::with_capacity(total);
    out.put_u32(u32::try_from(total).unwrap_or(u32::MAX));
    out.put_u32(u32::try_from(encoded_headers.len()).unwrap_or(u32::MAX));
    let prelude_crc = crc32(&out[..8]);
    out.put_u32(prelude_crc);
    out.put_slice(&encoded_headers);
    out.put_slice(payload);
    let message_crc = crc32(&out);
    out.put_u32(message_crc);
    out.freeze()
}

/// CRC-32 (polynomial 0xEDB88320, reflected, initial and final XOR 0xFFFFFFFF).
pub fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in data {
        crc = CRC_TABLE[((crc ^ u32::from(byte)) & 0xff) as usize] ^ (crc >> 8);
    }
    !crc
}

const CRC_TABLE: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
            k += 1;
        }
        table[i] = c;
        i += 1;
    }
    table
};

#[cfg(test)]
pub(crate) mod decode {
    //! A strict decoder, for tests: it checks both CRCs and every length.

    use super::crc32;

    #[derive(Debug, PartialEq)]
    pub struct Message {
        pub headers: Vec<(String, String)>,
        pub payload: Vec<u8>,
    }

    impl Message {
        pub fn header(&self, name: &str) -> Option<&str> {
            self.headers
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.as_str())
        }
    }

    fn u32_at(data: &[u8], at: usize) -> Result<u32, String> {
        data.get(at..at + 4)
            .and_then(|b| b.try_into().ok())
            .map(u32::from_be_bytes)
            .ok_or_else(|| format!("truncated at {at}"))
    }

    /// Splits `data` into messages.
    pub fn all(mut data: &[u8]) -> Result<Vec<Message>, String> {
        let mut out = Vec::new();
        while !data.is_empty() {
            let total = u32_at(data, 0)? as usize;
            let message = data.get(..total).ok_or("truncated message")?;
            out.push(one(message)?);
            data = &data[total..];
        }
        Ok(out)
    }

    fn one(message: &[u8]) -> Result<Message, String> {
        let total = message.len();
        let headers_len = u32_at(message, 4)? as usize;
        if u32_at(message, 8)? != crc32(&message[..8]) {
            return Err("prelude CRC mismatch".into());
        }
        if u32_at(message, total - 4)? != crc32(&message[..total - 4]) {
            return Err("message CRC mismatch".into());
        }
        let mut headers = Vec::new();
        let mut at = 12;
        let end = 12 + headers_len;
        while at < end {
            let name_len = usize::from(message[at]);
            let name = String::from_utf8(message[at + 1..at + 1 + name_len].to_vec())
                .map_err(|e| e.to_string())?;
            at += 1 + name_len;
            if message[at] != super::STRING_TYPE {
                return Err(format!("header {name} is not a string"));
            }
            let value_len = usize::from(u16::from_be_bytes([message[at + 1], message[at + 2]]));
            let value = String::from_utf8(message[at + 3..at + 3 + value_len].to_vec())
                .map_err(|e| e.to_string())?;
            at += 3 + value_len;
            headers.push((name, value));
        }
        Ok(Message {
            headers,
            payload: message[end..total - 4].to_vec(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_matches_the_standard_check_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b""), 0);
    }

    #[test]
    fn messages_round_trip_with_valid_crcs() {
        let mut stream = event("PayloadChunk", "application/octet-stream", b"hello").to_vec();
        stream.extend_from_slice(&event("InvokeComplete", "application/json", b"{}"));
        let messages = decode::all(&stream).expect("decode");
        assert_eq!(messages.len(), 2);
        assert_eq!(messages[0].header(":event-type"), Some("PayloadChunk"));
        assert_eq!(messages[0].header(":message-type"), Some("event"));
        assert_eq!(messages[0].payload, b"hello");
        assert_eq!(
            messages[1].header(":content-type"),
            Some("application/json")
        );
        assert_eq!(messages[1].payload, b"{}");
    }

    #[test]
    fn a_known_message_encodes_byte_for_byte() {
        // Total 12 + (1+4+1+2+3) + 0 + 4 = 27 bytes; CRCs computed independently with zlib.
        let encoded = message(&[("abcd", "xyz")], b"");
        assert_eq!(&encoded[..8], &[0, 0, 0, 27, 0, 0, 0, 11]);
        assert_eq!(&encoded[8..12], &0xE5C0_A072u32.to_be_bytes());
        assert_eq!(&encoded[12..23], b"\x04abcd\x07\x00\x03xyz");
        assert_eq!(&encoded[23..], &0x1AD5_DB8Eu32.to_be_bytes());
        let mut corrupted = encoded.to_vec();
        corrupted[14] ^= 1;
        assert!(
            decode::all(&corrupted).is_err(),
            "a flipped bit must fail the CRC"
        );
    }
}
