//! The host ↔ init protocol: fixed descriptor numbers, the argv marker and status messages.
//!
//! * fd 0/1/2: stdin (`/dev/null`), the runtime's stdout and stderr pipes;
//! * fd 3 ([`CONFIG_FD`]): a sealed memfd holding the JSON [`crate::spec::InitConfig`];
//! * fd 4 ([`GO_FD`]): init's end of a `SOCK_SEQPACKET` socket pair. The host sends one byte
//!   to start; afterwards it is a lifeline: when the host closes its end (sandbox dropped, host
//!   crashed) init kills the sandbox. A deferred sandbox also receives its one attach request
//!   (JSON [`crate::spec::AttachRequest`] with the detached code trees as `SCM_RIGHTS`) on it
//!   and answers `ok` or `error: <step>: <reason>`;
//! * fd 5 ([`STATUS_FD`]): write end of the status pipe. Init writes exactly one message, `ok`
//!   once the runtime has been exec'd or `error: <step>: <reason>`, then closes it.

/// The marker in `argv[1]` that turns the binary into the sandbox init.
pub const INIT_MARKER: &str = "__lambent-sandbox-init";

/// argv[0] of init (what `ps` shows on the host).
pub(crate) const INIT_ARGV0: &str = "lambent-sandbox-init";

pub(crate) const CONFIG_FD: i32 = 3;
pub(crate) const GO_FD: i32 = 4;
pub(crate) const STATUS_FD: i32 = 5;

/// Descriptors passed to the clone child are first moved to at least this number, so that the
/// `dup2` onto 0-5 can never overwrite a source that is still needed.
pub(crate) const HIGH_FD_MIN: i32 = 10;

/// Largest attach request init reads (the runtime's environment rides in it; Lambda caps a
/// function's variables at 4 KB).
pub(crate) const MAX_ATTACH_REQUEST: usize = 64 * 1024;

pub(crate) const STATUS_OK: &str = "ok";
pub(crate) const STATUS_ERROR_PREFIX: &str = "error: ";

/// What init reported on the status pipe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Status {
    /// The runtime was exec'd.
    Ok,
    /// A setup step failed; the message says which and why.
    Failed(String),
    /// The pipe closed without a message (init died or was not our init).
    Silent,
    /// Something that is not part of the protocol.
    Garbled(String),
}

pub(crate) fn parse_status(bytes: &[u8]) -> Status {
    let text = String::from_utf8_lossy(bytes);
    let text = text.trim();
    if text.is_empty() {
        Status::Silent
    } else if text == STATUS_OK {
        Status::Ok
    } else if let Some(msg) = text.strip_prefix(STATUS_ERROR_PREFIX.trim_end()) {
        Status::Failed(msg.trim().to_string())
    } else {
        Status::Garbled(text.chars().take(500).collect())
    }
}

pub(crate) fn error_message(step: &str, reason: &str) -> String {
    format!("{STATUS_ERROR_PREFIX}{step}: {reason}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_round_trip() {
        assert_eq!(parse_status(b"ok"), Status::Ok);
        assert_eq!(parse_status(b""), Status::Silent);
        assert_eq!(
            parse_status(
                error_message("mount /proc", "Operation not permitted (os error 1)").as_bytes()
            ),
            Status::Failed("mount /proc: Operation not permitted (os error 1)".into())
        );
        assert!(matches!(parse_status(b"hello"), Status::Garbled(_)));
    }
}
