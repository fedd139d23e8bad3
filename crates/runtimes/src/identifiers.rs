//! Lambda `Runtime` identifiers.

use std::fmt;

/// The families of runtime identifiers Lambent serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RuntimeFamily {
    /// `python3.N`, served by the bundled Python bootstrap.
    Python,
    /// `nodejsN.x`, served by the bundled Node bootstrap.
    Node,
    /// `provided`, `provided.al2`, `provided.al2023`: the function brings its own `bootstrap`
    /// executable.
    Provided,
}

impl RuntimeFamily {
    /// A short lower-case name, for logs and messages.
    pub fn as_str(self) -> &'static str {
        match self {
            RuntimeFamily::Python => "python",
            RuntimeFamily::Node => "node",
            RuntimeFamily::Provided => "provided",
        }
    }
}

impl fmt::Display for RuntimeFamily {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Oldest accepted `python3.N` minor version (python3.8 was the oldest still seen in the wild
/// when Lambda deprecated it; older ones cannot even be created on Lambda any more).
const MIN_PYTHON_MINOR: u32 = 8;
/// Oldest accepted `nodejsN.x` major version.
const MIN_NODE_MAJOR: u32 = 16;

/// The family of a Lambda runtime identifier, or `None` if Lambent does not serve it.
///
/// Accepted: `python3.N` for every N ≥ 8 (python3.8 … python3.14 and later ones, so that a new
/// Lambda runtime needs no code change), `nodejsN.x` for every even N ≥ 16 (Node's LTS lines,
/// the only ones Lambda offers), `provided`, `provided.al2` and `provided.al2023`. Matching is
/// exact and case-sensitive, as in Lambda's API: `Python3.12`, `python3.012`, `nodejs21.x`,
/// `nodejs20` or `java21` are rejected.
pub fn parse(id: &str) -> Option<RuntimeFamily> {
    if python_minor(id).is_some() {
        Some(RuntimeFamily::Python)
    } else if node_major(id).is_some() {
        Some(RuntimeFamily::Node)
    } else if matches!(id, "provided" | "provided.al2" | "provided.al2023") {
        Some(RuntimeFamily::Provided)
    } else {
        None
    }
}

/// N of an accepted `python3.N`.
pub(crate) fn python_minor(id: &str) -> Option<u32> {
    let minor = plain_number(id.strip_prefix("python3.")?)?;
    (minor >= MIN_PYTHON_MINOR).then_some(minor)
}

/// N of an accepted `nodejsN.x`.
pub(crate) fn node_major(id: &str) -> Option<u32> {
    let major = plain_number(id.strip_prefix("nodejs")?.strip_suffix(".x")?)?;
    (major >= MIN_NODE_MAJOR && major % 2 == 0).then_some(major)
}

/// Decimal digits without a leading zero, as a `u32`.
fn plain_number(s: &str) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) || (s.len() > 1 && s.starts_with('0'))
    {
        return None;
    }
    s.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_identifiers() {
        for n in 8..=14 {
            let id = format!("python3.{n}");
            assert_eq!(parse(&id), Some(RuntimeFamily::Python), "{id}");
            assert_eq!(python_minor(&id), Some(n));
        }
        assert_eq!(parse("python3.15"), Some(RuntimeFamily::Python));
        assert_eq!(parse("python3.99"), Some(RuntimeFamily::Python));
        assert_eq!(parse("python3.100"), Some(RuntimeFamily::Python));
    }

    #[test]
    fn python_rejections() {
        for id in [
            "python3.7",
            "python3.6",
            "python3.0",
            "python2.7",
            "python3",
            "python3.",
            "python",
            "python3.08",
            "python3.012",
            "python3.12.1",
            "python3.12 ",
            " python3.12",
            "Python3.12",
            "PYTHON3.12",
            "python3.1x",
            "python3.+12",
            "python3.-12",
            "python3.99999999999999999999",
            "python4.0",
        ] {
            assert_eq!(parse(id), None, "{id:?} must be rejected");
        }
    }

    #[test]
    fn node_identifiers() {
        for n in [16, 18, 20, 22, 24, 26, 100] {
            let id = format!("nodejs{n}.x");
            assert_eq!(parse(&id), Some(RuntimeFamily::Node), "{id}");
            assert_eq!(node_major(&id), Some(n));
        }
    }

    #[test]
    fn node_rejections() {
        for id in [
            "nodejs",
            "nodejs4.3",
            "nodejs6.10",
            "nodejs8.10",
            "nodejs10.x",
            "nodejs12.x",
            "nodejs14.x",
            "nodejs17.x",
            "nodejs21.x",
            "nodejs20",
            "nodejs20.",
            "nodejs20.y",
            "nodejs20.x.1",
            "nodejs020.x",
            "nodejs.x",
            "Nodejs20.x",
            "node20.x",
            "nodejs-20.x",
            "nodejs99999999999999999998.x",
        ] {
            assert_eq!(parse(id), None, "{id:?} must be rejected");
        }
    }

    #[test]
    fn provided_identifiers() {
        for id in ["provided", "provided.al2", "provided.al2023"] {
            assert_eq!(parse(id), Some(RuntimeFamily::Provided), "{id}");
        }
        for id in [
            "provided.al2024",
            "provided.al",
            "provided.",
            "Provided",
            "provided.AL2",
            "providedal2",
        ] {
            assert_eq!(parse(id), None, "{id:?} must be rejected");
        }
    }

    #[test]
    fn other_runtimes_are_rejected() {
        for id in [
            "",
            "java21",
            "java8.al2",
            "dotnet8",
            "ruby3.3",
            "go1.x",
            "nodejs20.x\n",
        ] {
            assert_eq!(parse(id), None, "{id:?} must be rejected");
        }
    }

    #[test]
    fn family_names() {
        assert_eq!(RuntimeFamily::Python.to_string(), "python");
        assert_eq!(RuntimeFamily::Node.as_str(), "node");
        assert_eq!(RuntimeFamily::Provided.as_str(), "provided");
    }
}
