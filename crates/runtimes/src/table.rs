//! Which host interpreter serves which runtime identifier, and how to start it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::identifiers::{RuntimeFamily, node_major, parse, python_minor};
use crate::install::{NODE_BOOTSTRAP_PATH, PYTHON_BOOTSTRAP_PATH, RUNTIME_DIR};

/// Default interpreter for every `python3.N` identifier.
pub const DEFAULT_PYTHON: &str = "/usr/bin/python3";
/// Default interpreter for every `nodejsN.x` identifier.
pub const DEFAULT_NODE: &str = "/usr/bin/node";

/// The executables a `provided*` function is started with, in the order Lambda tries them:
/// the function's own `bootstrap` at the root of its code, then one from a layer.
pub const PROVIDED_BOOTSTRAPS: [&str; 2] = ["/var/task/bootstrap", "/opt/bootstrap"];

/// The `[runtimes]` section of the configuration file:
///
/// ```toml
/// [runtimes]
/// python = "/usr/bin/python3"          # every python3.N without an entry of its own
/// node = "/usr/bin/node"               # every nodejsN.x without an entry of its own
/// "python3.12" = "/usr/bin/python3.12" # per-identifier overrides
/// "nodejs22.x" = "/opt/node22/bin/node"
/// ```
///
/// Paths are absolute paths as seen inside the sandbox (the host's `/usr` is mounted at `/usr`,
/// so `/usr/bin/...` is the same path on both sides). Validated by
/// [`RuntimeTable::from_config`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RuntimesConfig {
    /// Interpreter for the Python family; [`DEFAULT_PYTHON`] when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub python: Option<String>,
    /// Interpreter for the Node family; [`DEFAULT_NODE`] when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// Per-identifier interpreters, keyed by runtime identifier (`"python3.12"`).
    #[serde(flatten)]
    pub overrides: BTreeMap<String, String>,
}

/// A [`RuntimesConfig`] that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A key that is neither `python`, `node` nor a runtime identifier Lambent serves.
    #[error("unknown runtime {0:?} in [runtimes] (expected python, node, python3.N or nodejsN.x)")]
    UnknownRuntime(String),
    /// A `provided*` key: those runtimes run the function's own executable.
    #[error("runtime {0:?} has no interpreter to configure: it runs the function's own bootstrap")]
    NoInterpreter(String),
    /// An interpreter path that is not absolute.
    #[error("interpreter for {key} must be an absolute path inside the sandbox, got {path:?}")]
    RelativePath {
        /// The configuration key.
        key: String,
        /// The rejected path.
        path: String,
    },
}

/// What to exec inside the sandbox for one runtime identifier.
///
/// The caller adds the per-function environment (`_HANDLER`, `LAMBDA_TASK_ROOT`,
/// `AWS_LAMBDA_RUNTIME_API`, `AWS_LAMBDA_FUNCTION_*`, …, see `lambda-compat.md` §2.2) to
/// [`Launch::env`], starts the process in `/var/task`, and, for `provided*`, picks the program
/// with [`Launch::resolve`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Launch {
    /// The family of the identifier.
    pub family: RuntimeFamily,
    /// The command line; `argv[0]` is the absolute path of the program inside the sandbox.
    pub argv: Vec<String>,
    /// Programs to use instead of `argv[0]`, in order, when it does not exist in the sandbox.
    /// Only `provided*` has one: Lambda runs `/var/task/bootstrap` and falls back to
    /// `/opt/bootstrap` (a runtime shipped as a layer); a function with neither fails with
    /// `Runtime.InvalidEntrypoint`. Whether they exist depends on the function's code and
    /// layers, which only the caller can see, hence a list rather than a decision here.
    pub fallbacks: Vec<String>,
    /// Environment variables the runtime needs on top of the per-function ones.
    /// `AWS_EXECUTION_ENV` and `LAMBDA_RUNTIME_DIR` are reserved on Lambda (they win over the
    /// function's configuration); `PYTHONPATH` and `NODE_PATH` are only defaults, which a
    /// function's own `Environment.Variables` replace, as on Lambda.
    pub env: Vec<(String, String)>,
}

impl Launch {
    /// The candidate programs in order: `argv[0]`, then [`Launch::fallbacks`].
    pub fn programs(&self) -> impl Iterator<Item = &str> {
        self.argv
            .first()
            .into_iter()
            .chain(self.fallbacks.iter())
            .map(String::as_str)
    }

    /// The argv to exec, with `argv[0]` replaced by the first candidate program for which
    /// `exists` (given the path inside the sandbox) is true; `None` if none exists, which
    /// Lambda reports as `Runtime.InvalidEntrypoint`.
    pub fn resolve(&self, exists: impl Fn(&str) -> bool) -> Option<Vec<String>> {
        let program = self.programs().find(|p| exists(p))?;
        let mut argv = self.argv.clone();
        argv[0] = program.to_string();
        Some(argv)
    }

    /// The value of one variable of [`Launch::env`].
    pub fn env_var(&self, name: &str) -> Option<&str> {
        self.env
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Applies the function's `AWS_LAMBDA_EXEC_WRAPPER`: managed runtimes run
    /// `<wrapper> <original argv…>` (the wrapper script ends with `exec "$@"`). Lambda ignores
    /// the variable for `provided*` runtimes, and so does this: the launch is returned as is.
    /// An empty wrapper also leaves it unchanged.
    pub fn with_exec_wrapper(mut self, wrapper: &str) -> Launch {
        if self.family != RuntimeFamily::Provided && !wrapper.is_empty() {
            self.argv.insert(0, wrapper.to_string());
        }
        self
    }
}

/// Which interpreter serves each runtime family, with optional per-identifier overrides.
///
/// The default serves every Python identifier with `/usr/bin/python3` and every Node identifier
/// with `/usr/bin/node`: the managed-runtime behaviour Lambent emulates (context object,
/// errors, logs) lives in the bootstraps, not in the interpreter version, so one host
/// interpreter can stand in for several identifiers. Code that needs a particular language
/// version gets it through an override.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeTable {
    python: String,
    node: String,
    overrides: BTreeMap<String, String>,
}

impl Default for RuntimeTable {
    fn default() -> Self {
        RuntimeTable {
            python: DEFAULT_PYTHON.to_string(),
            node: DEFAULT_NODE.to_string(),
            overrides: BTreeMap::new(),
        }
    }
}

impl RuntimeTable {
    /// The default table (see the type's documentation).
    pub fn new() -> Self {
        Self::default()
    }

    /// Builds a table from the `[runtimes]` configuration section, checking that every key is
    /// `python`, `node` or a Python/Node identifier accepted by [`parse`] and that every path
    /// is absolute.
    pub fn from_config(config: &RuntimesConfig) -> Result<Self, ConfigError> {
        let mut table = RuntimeTable::default();
        if let Some(path) = &config.python {
            table.python = absolute("python", path)?;
        }
        if let Some(path) = &config.node {
            table.node = absolute("node", path)?;
        }
        for (id, path) in &config.overrides {
            table.set_override(id, path)?;
        }
        Ok(table)
    }

    /// Serves `runtime_id` (a Python or Node identifier) with `interpreter`.
    pub fn set_override(&mut self, runtime_id: &str, interpreter: &str) -> Result<(), ConfigError> {
        match parse(runtime_id) {
            Some(RuntimeFamily::Python | RuntimeFamily::Node) => {
                let path = absolute(runtime_id, interpreter)?;
                self.overrides.insert(runtime_id.to_string(), path);
                Ok(())
            }
            Some(RuntimeFamily::Provided) => Err(ConfigError::NoInterpreter(runtime_id.into())),
            None => Err(ConfigError::UnknownRuntime(runtime_id.into())),
        }
    }

    /// The interpreter that serves `runtime_id`; `None` for `provided*` and for identifiers
    /// [`parse`] rejects.
    pub fn interpreter(&self, runtime_id: &str) -> Option<&str> {
        let family_default = match parse(runtime_id)? {
            RuntimeFamily::Python => &self.python,
            RuntimeFamily::Node => &self.node,
            RuntimeFamily::Provided => return None,
        };
        Some(self.overrides.get(runtime_id).unwrap_or(family_default))
    }

    /// What to exec inside the sandbox for `runtime_id`, or `None` if [`parse`] rejects it.
    ///
    /// * `python3.N`: `<python> -I -S -B /var/runtime/python/bootstrap.py`. `-I` (isolated)
    ///   ignores `PYTHON*` variables and keeps the bootstrap's own directory and the user site
    ///   directory off `sys.path`; `-S` keeps the host's site-packages out (functions must not
    ///   silently depend on packages of the host) and saves start-up time; `-B` avoids
    ///   attempts to write `.pyc` files into the read-only `/var/task`. The bootstrap builds
    ///   `sys.path` itself: `/var/task`, `/opt/python/lib/python3.N/site-packages`,
    ///   `/opt/python`, then the entries of `PYTHONPATH`. Environment: `AWS_EXECUTION_ENV=
    ///   AWS_Lambda_python3.N` (the bootstrap derives its JSON behaviour from it: non-ASCII
    ///   left unescaped from python3.12 on, as on Lambda), `PYTHONPATH=/var/runtime` and
    ///   `LAMBDA_RUNTIME_DIR=/var/runtime` as Lambda sets them.
    /// * `nodejsN.x`: `<node> --expose-gc --max-http-header-size=81920
    ///   /var/runtime/node/bootstrap.mjs` (the flags Lambda's Node bootstrap passes).
    ///   Environment: `AWS_EXECUTION_ENV=AWS_Lambda_nodejsN.x` (from nodejs24.x on, the
    ///   bootstrap refuses callback-style handlers, as Lambda does), `NODE_PATH` with Lambda's
    ///   layer and runtime directories, `LAMBDA_RUNTIME_DIR`.
    /// * `provided*`: `/var/task/bootstrap`, with `/opt/bootstrap` in [`Launch::fallbacks`];
    ///   only `LAMBDA_RUNTIME_DIR` (Lambda sets no `AWS_EXECUTION_ENV` for OS-only runtimes).
    pub fn launch(&self, runtime_id: &str) -> Option<Launch> {
        let family = parse(runtime_id)?;
        let runtime_dir = ("LAMBDA_RUNTIME_DIR".to_string(), RUNTIME_DIR.to_string());
        let launch = match family {
            RuntimeFamily::Python => {
                debug_assert!(python_minor(runtime_id).is_some());
                let interpreter = self.interpreter(runtime_id)?;
                Launch {
                    family,
                    argv: strings(&[interpreter, "-I", "-S", "-B", PYTHON_BOOTSTRAP_PATH]),
                    fallbacks: Vec::new(),
                    env: vec![
                        execution_env(runtime_id),
                        ("PYTHONPATH".to_string(), RUNTIME_DIR.to_string()),
                        runtime_dir,
                    ],
                }
            }
            RuntimeFamily::Node => {
                let major = node_major(runtime_id)?;
                let interpreter = self.interpreter(runtime_id)?;
                let node_path = format!(
                    "/opt/nodejs/node{major}/node_modules:/opt/nodejs/node_modules:\
                     /var/runtime/node_modules:/var/runtime:/var/task"
                );
                Launch {
                    family,
                    argv: strings(&[
                        interpreter,
                        "--expose-gc",
                        "--max-http-header-size=81920",
                        NODE_BOOTSTRAP_PATH,
                    ]),
                    fallbacks: Vec::new(),
                    env: vec![
                        execution_env(runtime_id),
                        ("NODE_PATH".to_string(), node_path),
                        runtime_dir,
                    ],
                }
            }
            RuntimeFamily::Provided => Launch {
                family,
                argv: strings(&PROVIDED_BOOTSTRAPS[..1]),
                fallbacks: strings(&PROVIDED_BOOTSTRAPS[1..]),
                env: vec![runtime_dir],
            },
        };
        Some(launch)
    }
}

fn execution_env(runtime_id: &str) -> (String, String) {
    (
        "AWS_EXECUTION_ENV".to_string(),
        format!("AWS_Lambda_{runtime_id}"),
    )
}

fn absolute(key: &str, path: &str) -> Result<String, ConfigError> {
    if path.starts_with('/') {
        Ok(path.to_string())
    } else {
        Err(ConfigError::RelativePath {
            key: key.to_string(),
            path: path.to_string(),
        })
    }
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(launch: &Launch) -> BTreeMap<&str, &str> {
        launch
            .env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect()
    }

    #[test]
    fn default_python_launch() {
        let launch = RuntimeTable::default().launch("python3.12").unwrap();
        assert_eq!(launch.family, RuntimeFamily::Python);
        assert_eq!(
            launch.argv,
            [
                "/usr/bin/python3",
                "-I",
                "-S",
                "-B",
                "/var/runtime/python/bootstrap.py"
            ]
        );
        assert!(launch.fallbacks.is_empty());
        assert_eq!(
            env(&launch),
            BTreeMap::from([
                ("AWS_EXECUTION_ENV", "AWS_Lambda_python3.12"),
                ("LAMBDA_RUNTIME_DIR", "/var/runtime"),
                ("PYTHONPATH", "/var/runtime"),
            ])
        );
        assert_eq!(
            launch.env_var("AWS_EXECUTION_ENV"),
            Some("AWS_Lambda_python3.12")
        );
        assert_eq!(launch.env_var("NOPE"), None);
    }

    #[test]
    fn default_node_launch() {
        let launch = RuntimeTable::default().launch("nodejs22.x").unwrap();
        assert_eq!(launch.family, RuntimeFamily::Node);
        assert_eq!(
            launch.argv,
            [
                "/usr/bin/node",
                "--expose-gc",
                "--max-http-header-size=81920",
                "/var/runtime/node/bootstrap.mjs"
            ]
        );
        assert_eq!(
            env(&launch),
            BTreeMap::from([
                ("AWS_EXECUTION_ENV", "AWS_Lambda_nodejs22.x"),
                ("LAMBDA_RUNTIME_DIR", "/var/runtime"),
                (
                    "NODE_PATH",
                    "/opt/nodejs/node22/node_modules:/opt/nodejs/node_modules:\
                     /var/runtime/node_modules:/var/runtime:/var/task"
                ),
            ])
        );
    }

    #[test]
    fn provided_launch_and_fallback() {
        let table = RuntimeTable::default();
        for id in ["provided", "provided.al2", "provided.al2023"] {
            let launch = table.launch(id).unwrap();
            assert_eq!(launch.family, RuntimeFamily::Provided);
            assert_eq!(launch.argv, ["/var/task/bootstrap"]);
            assert_eq!(launch.fallbacks, ["/opt/bootstrap"]);
            assert_eq!(launch.env_var("AWS_EXECUTION_ENV"), None);
            assert_eq!(launch.env_var("LAMBDA_RUNTIME_DIR"), Some("/var/runtime"));
            assert_eq!(
                launch.programs().collect::<Vec<_>>(),
                ["/var/task/bootstrap", "/opt/bootstrap"]
            );
            assert_eq!(table.interpreter(id), None);
        }
        let launch = table.launch("provided.al2023").unwrap();
        assert_eq!(launch.resolve(|_| true).unwrap(), ["/var/task/bootstrap"]);
        assert_eq!(
            launch.resolve(|p| p == "/opt/bootstrap").unwrap(),
            ["/opt/bootstrap"]
        );
        assert_eq!(launch.resolve(|_| false), None);
    }

    #[test]
    fn unknown_identifiers_have_no_launch() {
        let table = RuntimeTable::default();
        for id in ["java21", "python3.7", "nodejs21.x", "", "provided.al2024"] {
            assert_eq!(table.launch(id), None, "{id}");
            assert_eq!(table.interpreter(id), None, "{id}");
        }
    }

    #[test]
    fn every_accepted_identifier_launches() {
        let table = RuntimeTable::default();
        for n in 8..=14 {
            let id = format!("python3.{n}");
            let launch = table.launch(&id).unwrap();
            assert_eq!(launch.argv[0], "/usr/bin/python3");
            assert_eq!(
                launch.env_var("AWS_EXECUTION_ENV").unwrap(),
                format!("AWS_Lambda_{id}")
            );
        }
        for n in [16, 18, 20, 22, 24] {
            let id = format!("nodejs{n}.x");
            let launch = table.launch(&id).unwrap();
            assert_eq!(launch.argv[0], "/usr/bin/node");
            assert!(
                launch
                    .env_var("NODE_PATH")
                    .unwrap()
                    .starts_with(&format!("/opt/nodejs/node{n}/node_modules:"))
            );
        }
    }

    #[test]
    fn exec_wrapper() {
        let table = RuntimeTable::default();
        let wrapped = table
            .launch("python3.11")
            .unwrap()
            .with_exec_wrapper("/opt/wrapper");
        assert_eq!(wrapped.argv[0], "/opt/wrapper");
        assert_eq!(wrapped.argv[1], "/usr/bin/python3");
        assert_eq!(wrapped.argv.len(), 6);
        let plain = table.launch("nodejs20.x").unwrap();
        assert_eq!(plain.clone().with_exec_wrapper(""), plain);
        let provided = table.launch("provided").unwrap();
        assert_eq!(provided.clone().with_exec_wrapper("/opt/wrapper"), provided);
    }

    #[test]
    fn config_from_toml() {
        #[derive(Deserialize)]
        struct File {
            runtimes: RuntimesConfig,
        }
        let file: File = toml::from_str(
            r#"
            [runtimes]
            python = "/opt/py/bin/python3"
            "python3.12" = "/usr/bin/python3.12"
            "nodejs22.x" = "/opt/node22/bin/node"
            "#,
        )
        .unwrap();
        assert_eq!(file.runtimes.python.as_deref(), Some("/opt/py/bin/python3"));
        assert_eq!(file.runtimes.node, None);
        assert_eq!(file.runtimes.overrides.len(), 2);

        let table = RuntimeTable::from_config(&file.runtimes).unwrap();
        assert_eq!(table.interpreter("python3.12"), Some("/usr/bin/python3.12"));
        assert_eq!(table.interpreter("python3.13"), Some("/opt/py/bin/python3"));
        assert_eq!(
            table.interpreter("nodejs22.x"),
            Some("/opt/node22/bin/node")
        );
        assert_eq!(table.interpreter("nodejs20.x"), Some("/usr/bin/node"));
        assert_eq!(
            table.launch("python3.12").unwrap().argv[0],
            "/usr/bin/python3.12"
        );
        assert_eq!(
            table.launch("nodejs22.x").unwrap().argv[0],
            "/opt/node22/bin/node"
        );
        assert_eq!(table.launch("nodejs24.x").unwrap().argv[0], "/usr/bin/node");
    }

    #[test]
    fn empty_config_is_the_default() {
        let config: RuntimesConfig = toml::from_str("").unwrap();
        assert_eq!(config, RuntimesConfig::default());
        assert_eq!(
            RuntimeTable::from_config(&config).unwrap(),
            RuntimeTable::new()
        );
        let node_only: RuntimesConfig = toml::from_str(r#"node = "/x/node""#).unwrap();
        let table = RuntimeTable::from_config(&node_only).unwrap();
        assert_eq!(table.interpreter("nodejs18.x"), Some("/x/node"));
        assert_eq!(table.interpreter("python3.9"), Some(DEFAULT_PYTHON));
    }

    #[test]
    fn config_round_trips_through_serde() {
        let config = RuntimesConfig {
            python: Some("/usr/bin/python3.11".into()),
            node: None,
            overrides: BTreeMap::from([("nodejs20.x".into(), "/usr/bin/node".into())]),
        };
        let text = toml::to_string(&config).unwrap();
        let back: RuntimesConfig = toml::from_str(&text).unwrap();
        assert_eq!(back, config);
    }

    #[test]
    fn config_errors() {
        let bad = |text: &str| {
            let config: RuntimesConfig = toml::from_str(text).unwrap();
            RuntimeTable::from_config(&config).unwrap_err()
        };
        assert_eq!(
            bad(r#"pyhton = "/usr/bin/python3""#),
            ConfigError::UnknownRuntime("pyhton".into())
        );
        assert_eq!(
            bad(r#""python3.7" = "/usr/bin/python3.7""#),
            ConfigError::UnknownRuntime("python3.7".into())
        );
        assert_eq!(
            bad(r#""provided.al2023" = "/usr/bin/true""#),
            ConfigError::NoInterpreter("provided.al2023".into())
        );
        assert_eq!(
            bad(r#"python = "python3""#),
            ConfigError::RelativePath {
                key: "python".into(),
                path: "python3".into()
            }
        );
        assert_eq!(
            bad(r#""nodejs20.x" = "bin/node""#),
            ConfigError::RelativePath {
                key: "nodejs20.x".into(),
                path: "bin/node".into()
            }
        );
        let msg = bad(r#"ruby = "/usr/bin/ruby""#).to_string();
        assert!(msg.contains("\"ruby\""), "{msg}");
        // A wrongly typed value is a deserialisation error, not silently ignored.
        assert!(toml::from_str::<RuntimesConfig>(r#"python = 3"#).is_err());
    }

    #[test]
    fn set_override_in_code() {
        let mut table = RuntimeTable::new();
        table
            .set_override("python3.13", "/usr/local/bin/python3.13")
            .unwrap();
        assert_eq!(
            table.interpreter("python3.13"),
            Some("/usr/local/bin/python3.13")
        );
        assert_eq!(table.interpreter("python3.12"), Some(DEFAULT_PYTHON));
        assert!(table.set_override("provided", "/x").is_err());
    }
}
