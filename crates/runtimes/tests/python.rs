//! The Python bootstrap, run with /usr/bin/python3 against a fake Runtime API.

mod common;

use std::time::Duration;

use common::*;
use serde_json::{Value, json};

const ECHO: &str = r#"
import os

calls = 0

def handler(event, context):
    global calls
    calls += 1
    return {"event": event, "pid": os.getpid(), "calls": calls}
"#;

#[test]
fn echo_many_invocations_on_one_warm_process() {
    let api = FakeApi::start();
    let f = Function::python("app.handler").file("app.py", ECHO);
    let rt = f.start(&api);
    for i in 1..=30 {
        let event = json!({"n": i, "nested": {"list": [1, 2.5, null, true, "x"]}});
        let post = api.roundtrip(event.to_string());
        let v = response_json(&post);
        assert_eq!(v["event"], event);
        assert_eq!(v["pid"], rt.pid());
        assert_eq!(v["calls"], i, "module state survives between invocations");
        assert_eq!(post.header("content-type"), Some("application/json"));
        assert!(
            post.header("user-agent")
                .is_some_and(|ua| ua.starts_with("aws-lambda-python/3.")),
            "{:?}",
            post.header("user-agent")
        );
    }
    // Everything went over one kept-alive connection.
    assert_eq!(api.connections(), 1);
    assert!(api.posts().iter().all(|p| p.connection == 0));
    assert_eq!(api.posts().len(), 30);
}

#[test]
fn scalar_and_none_results() {
    let api = FakeApi::start();
    let f = Function::python("app.handler").file(
        "app.py",
        r#"
import decimal
def handler(event, context):
    kind = event["kind"]
    if kind == "none":
        return None
    if kind == "str":
        return "plain"
    if kind == "decimal":
        return {"i": decimal.Decimal("3"), "f": decimal.Decimal("2.5")}
    return [1, 2]
"#,
    );
    let _rt = f.start(&api);
    assert_eq!(api.roundtrip(r#"{"kind":"none"}"#).text(), "null");
    assert_eq!(api.roundtrip(r#"{"kind":"str"}"#).text(), "\"plain\"");
    assert_eq!(
        response_json(&api.roundtrip(r#"{"kind":"decimal"}"#)),
        json!({"i": 3, "f": 2.5})
    );
    assert_eq!(api.roundtrip(r#"{"kind":"list"}"#).text(), "[1, 2]");
}

#[test]
fn context_fields_and_remaining_time() {
    let api = FakeApi::start();
    let f = Function::python("app.handler").file(
        "app.py",
        r#"
import os, time
def handler(event, context):
    first = context.get_remaining_time_in_millis()
    time.sleep(0.02)
    second = context.get_remaining_time_in_millis()
    cc = context.client_context
    return {
        "function_name": context.function_name,
        "function_version": context.function_version,
        "invoked_function_arn": context.invoked_function_arn,
        "memory_limit_in_mb": context.memory_limit_in_mb,
        "aws_request_id": context.aws_request_id,
        "log_group_name": context.log_group_name,
        "log_stream_name": context.log_stream_name,
        "identity": [context.identity.cognito_identity_id, context.identity.cognito_identity_pool_id],
        "client_context": None if cc is None else {"custom": cc.custom, "env": cc.env,
            "installation_id": cc.client.installation_id if cc.client else None},
        "first": first,
        "second": second,
        "trace": os.environ.get("_X_AMZN_TRACE_ID"),
        "tenant_id": context.tenant_id,
        "repr_ok": repr(context).startswith("LambdaContext(["),
    }
"#,
    );
    let _rt = f.start(&api);
    let inv = Invocation::new(b"{}".to_vec(), Duration::from_secs(30))
        .header(
            "Lambda-Runtime-Cognito-Identity",
            r#"{"cognitoIdentityId":"id-1","cognitoIdentityPoolId":"pool-1"}"#,
        )
        .header(
            "Lambda-Runtime-Client-Context",
            r#"{"custom":{"k":"v"},"env":{"platform":"x"},"client":{"installation_id":"inst"}}"#,
        );
    let id = inv.request_id.clone();
    let v = response_json(&api.roundtrip_with(inv));
    assert_eq!(v["function_name"], "test-fn");
    assert_eq!(v["function_version"], "$LATEST");
    assert_eq!(v["invoked_function_arn"], FUNCTION_ARN);
    // A string, as awslambdaric sets it.
    assert_eq!(v["memory_limit_in_mb"], "256");
    assert_eq!(v["aws_request_id"], id.as_str());
    assert_eq!(v["log_group_name"], "/aws/lambda/test-fn");
    assert_eq!(
        v["log_stream_name"],
        "2024/05/01/[$LATEST]0123456789abcdef0123456789abcdef"
    );
    assert_eq!(v["identity"], json!(["id-1", "pool-1"]));
    assert_eq!(
        v["client_context"],
        json!({"custom": {"k": "v"}, "env": {"platform": "x"}, "installation_id": "inst"})
    );
    let (first, second) = (v["first"].as_i64().unwrap(), v["second"].as_i64().unwrap());
    assert!(first > 25_000 && first <= 30_000, "{first}");
    assert!(second < first, "{second} !< {first}");
    assert!(second > 0);
    assert_eq!(v["trace"], TRACE_ID);
    assert_eq!(v["tenant_id"], Value::Null);
    assert_eq!(v["repr_ok"], true);

    // Without identity headers: identity fields are None, client_context is None; a past
    // deadline gives 0, never a negative number; no trace header removes the variable.
    let mut inv = Invocation::new(b"{}".to_vec(), Duration::ZERO)
        .header(
            "Lambda-Runtime-Deadline-Ms",
            &(epoch_ms() - 5_000).to_string(),
        )
        .header("Lambda-Runtime-Aws-Tenant-Id", "tenant-7");
    inv.headers.retain(|(k, _)| k != "Lambda-Runtime-Trace-Id");
    let v = response_json(&api.roundtrip_with(inv));
    assert_eq!(v["identity"], json!([null, null]));
    assert_eq!(v["client_context"], Value::Null);
    assert_eq!(v["first"], 0);
    assert_eq!(v["second"], 0);
    assert_eq!(v["trace"], Value::Null);
    assert_eq!(v["tenant_id"], "tenant-7");
}

#[test]
fn environment_and_sys_path() {
    let api = FakeApi::start();
    let f = Function::python("app.handler")
        .file(
            "app.py",
            r#"
import os, sys
def handler(event, context):
    return {
        "env": {k: os.environ.get(k) for k in event},
        "cwd": os.getcwd(),
        "path": sys.path[:6],
        "exit_builtin": callable(exit),
        "dont_write_bytecode": sys.dont_write_bytecode,
        "stdout_encoding": sys.stdout.encoding,
    }
"#,
        )
        .env("MY_SETTING", "hello world")
        .env("PYTHONPATH", "/var/runtime:/extra/dir");
    let _rt = f.start(&api);
    let keys = json!([
        "MY_SETTING",
        "AWS_REGION",
        "AWS_LAMBDA_FUNCTION_NAME",
        "AWS_EXECUTION_ENV",
        "LAMBDA_RUNTIME_DIR",
        "_HANDLER"
    ]);
    let v = response_json(&api.roundtrip(keys.to_string()));
    assert_eq!(
        v["env"],
        json!({
            "MY_SETTING": "hello world",
            "AWS_REGION": "us-east-1",
            "AWS_LAMBDA_FUNCTION_NAME": "test-fn",
            "AWS_EXECUTION_ENV": "AWS_Lambda_python3.12",
            "LAMBDA_RUNTIME_DIR": "/var/runtime",
            "_HANDLER": "app.handler",
        })
    );
    let root = std::fs::canonicalize(f.root()).unwrap();
    assert_eq!(
        std::fs::canonicalize(v["cwd"].as_str().unwrap()).unwrap(),
        root
    );
    assert_eq!(
        v["path"],
        Value::Array(expected_path(f.root().to_str().unwrap(), python_minor()))
    );
    assert_eq!(v["exit_builtin"], true);
    assert_eq!(v["dont_write_bytecode"], true);
    assert_eq!(v["stdout_encoding"], "utf-8");
}

fn python_minor() -> u32 {
    let out = std::process::Command::new("/usr/bin/python3")
        .args(["-c", "import sys; print(sys.version_info[1])"])
        .output()
        .unwrap();
    String::from_utf8(out.stdout)
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

fn expected_path(root: &str, minor: u32) -> Vec<Value> {
    let mut path = vec![
        json!(root),
        json!(format!("/opt/python/lib/python3.{minor}/site-packages")),
    ];
    if minor != 12 {
        path.push(json!("/opt/python/lib/python3.12/site-packages"));
    }
    path.push(json!("/opt/python"));
    path.push(json!("/var/runtime"));
    path.push(json!("/extra/dir"));
    path.truncate(6);
    path
}

#[test]
fn nested_path_handler() {
    let api = FakeApi::start();
    let f = Function::python("pkg/sub/app.handler")
        .file(
            "pkg/sub/app.py",
            "from . import helper\ndef handler(event, context):\n    return helper.double(event)\n",
        )
        .file("pkg/sub/helper.py", "def double(x):\n    return x * 2\n");
    let _rt = f.start(&api);
    assert_eq!(response_json(&api.roundtrip("21")), json!(42));
}

#[test]
fn handled_error_format() {
    let api = FakeApi::start();
    let f = Function::python("app.handler").file(
        "app.py",
        r#"class CustomError(Exception):
    pass

def helper(kind):
    if kind == "value":
        raise ValueError("boom")
    raise CustomError("custom ✓")

def handler(event, context):
    if event == "ok":
        return "fine"
    helper(event)
"#,
    );
    let root = f.root().to_str().unwrap().to_string();
    let rt = f.start(&api);
    let id = api.invoke("\"value\"");
    let post = api.wait_result(&id);
    let v = error_json(&post);
    assert_eq!(
        v,
        json!({
            "errorMessage": "boom",
            "errorType": "ValueError",
            "requestId": id,
            "stackTrace": [
                format!("  File \"{root}/app.py\", line 12, in handler\n    helper(event)\n"),
                format!("  File \"{root}/app.py\", line 6, in helper\n    raise ValueError(\"boom\")\n"),
            ],
        })
    );
    // As the official clients: errorType only in the body, not as a header.
    assert_eq!(post.header("lambda-runtime-function-error-type"), None);
    // The error is logged on one line, trace lines separated by CR, indentation as NBSPs.
    let line = rt.stdout.wait_line("the error log", |l| {
        l.starts_with("[ERROR] ValueError: boom")
    });
    assert_eq!(
        line,
        format!(
            "[ERROR] ValueError: boom\rTraceback (most recent call last):\r\u{a0}\u{a0}File \"{root}/app.py\", line 12, in handler\r\u{a0}\u{a0}\u{a0}\u{a0}helper(event)\r\u{a0}\u{a0}File \"{root}/app.py\", line 6, in helper\r\u{a0}\u{a0}\u{a0}\u{a0}raise ValueError(\"boom\")"
        )
    );

    let v = error_json(&api.roundtrip("\"custom\""));
    assert_eq!(v["errorType"], "CustomError");
    assert_eq!(v["errorMessage"], "custom ✓");
    // The process survives handler errors.
    assert_eq!(response_json(&api.roundtrip("\"ok\"")), json!("fine"));
}

#[test]
fn marshal_and_unmarshal_errors() {
    let api = FakeApi::start();
    let f = Function::python("app.handler").file(
        "app.py",
        "def handler(event, context):\n    return b'bytes' if event == 1 else {'s': {1, 2}}\n",
    );
    let _rt = f.start(&api);
    let id = api.invoke("1");
    let v = error_json(&api.wait_result(&id));
    assert_eq!(
        v,
        json!({
            "errorMessage": "Unable to marshal response: Object of type bytes is not JSON serializable",
            "errorType": "Runtime.MarshalError",
            "requestId": id,
            "stackTrace": [],
        })
    );
    let v = error_json(&api.roundtrip("2"));
    assert_eq!(v["errorType"], "Runtime.MarshalError");
    assert_eq!(
        v["errorMessage"],
        "Unable to marshal response: Object of type set is not JSON serializable"
    );
    let v = error_json(&api.roundtrip("{not json"));
    assert_eq!(v["errorType"], "Runtime.UnmarshalError");
    assert!(
        v["errorMessage"]
            .as_str()
            .unwrap()
            .starts_with("Unable to unmarshal input: Expecting property name"),
        "{v}"
    );
    let v = error_json(
        &api.roundtrip_with(
            Invocation::new(b"{}".to_vec(), Duration::from_secs(10))
                .header("Lambda-Runtime-Client-Context", "{bad"),
        ),
    );
    assert_eq!(v["errorType"], "Runtime.LambdaContextUnmarshalError");
    assert!(
        v["errorMessage"]
            .as_str()
            .unwrap()
            .starts_with("Unable to parse Client Context JSON: "),
        "{v}"
    );
}

/// Starts a function whose initialisation fails and returns the init error post, after
/// checking the header, that nothing else was posted and that the process exited with 1.
fn init_failure(f: Function) -> (Post, Vec<String>) {
    let api = FakeApi::start();
    let mut rt = f.start(&api);
    let post = api.wait_init_error();
    let status = rt.wait_exit();
    assert_eq!(status.code(), Some(1), "exit status {status:?}");
    assert_eq!(post.status, 202);
    let v = post.json();
    assert_eq!(
        post.header("lambda-runtime-function-error-type"),
        v["errorType"].as_str(),
        "header and body agree"
    );
    assert_eq!(api.posts().len(), 1);
    (post, rt.stdout.lines())
}

#[test]
fn import_error() {
    let (post, stdout) = init_failure(Function::python("missing.handler"));
    assert_eq!(
        post.json(),
        json!({
            "errorMessage": "Unable to import module 'missing': No module named 'missing'",
            "errorType": "Runtime.ImportModuleError",
            "requestId": "",
            "stackTrace": [],
        })
    );
    assert!(
        stdout.contains(
            &"[ERROR] Runtime.ImportModuleError: Unable to import module 'missing': No module named 'missing'\rTraceback (most recent call last):".to_string()
        ),
        "{stdout:#?}"
    );
    // An import inside the module that fails is reported the same way.
    let (post, _) =
        init_failure(Function::python("app.handler").file("app.py", "import requests_not_here\n"));
    assert_eq!(
        post.json()["errorMessage"],
        "Unable to import module 'app': No module named 'requests_not_here'"
    );
}

#[test]
fn handler_not_found() {
    let (post, _) = init_failure(
        Function::python("app.nope").file("app.py", "def handler(e, c):\n    return 1\n"),
    );
    assert_eq!(
        post.json(),
        json!({
            "errorMessage": "Handler 'nope' missing on module 'app'",
            "errorType": "Runtime.HandlerNotFound",
            "requestId": "",
            "stackTrace": [],
        })
    );
}

#[test]
fn syntax_error() {
    let f = Function::python("bad.handler").file("bad.py", "def handler(e, c)\n    return 1\n");
    let path = format!("{}/bad.py", f.root().to_str().unwrap());
    let (post, _) = init_failure(f);
    let v = post.json();
    assert_eq!(v["errorType"], "Runtime.UserCodeSyntaxError");
    assert_eq!(
        v["errorMessage"],
        "Syntax error in module 'bad': expected ':' (bad.py, line 1)"
    );
    assert_eq!(v["requestId"], "");
    assert_eq!(
        v["stackTrace"],
        json!([format!("  File \"{path}\" Line 1\n    def handler(e, c)\n")])
    );
}

#[test]
fn malformed_handler_and_builtin_conflict() {
    let (post, _) = init_failure(Function::python("nodot"));
    assert_eq!(
        post.json(),
        json!({
            "errorMessage": "Bad handler 'nodot': not enough values to unpack (expected 2, got 1)",
            "errorType": "Runtime.MalformedHandlerName",
            "requestId": "",
            "stackTrace": [],
        })
    );
    let (post, _) = init_failure(Function::python("sys.handler"));
    assert_eq!(post.json()["errorType"], "Runtime.BuiltInModuleConflict");
    assert_eq!(
        post.json()["errorMessage"],
        "Cannot use built-in module sys as a handler module"
    );
}

#[test]
fn exception_during_import() {
    let f = Function::python("app.handler").file(
        "app.py",
        "x = 1\nraise RuntimeError('no config')\ndef handler(e, c):\n    return 1\n",
    );
    let path = format!("{}/app.py", f.root().to_str().unwrap());
    let (post, _) = init_failure(f);
    let v = post.json();
    assert_eq!(v["errorType"], "RuntimeError");
    assert_eq!(v["errorMessage"], "no config");
    assert_eq!(v["requestId"], "");
    let trace = v["stackTrace"].as_array().unwrap();
    // From the first frame outside the bootstrap (importlib) down to the module.
    assert!(
        trace[0].as_str().unwrap().contains("importlib"),
        "{trace:#?}"
    );
    assert_eq!(
        trace.last().unwrap(),
        &json!(format!(
            "  File \"{path}\", line 2, in <module>\n    raise RuntimeError('no config')\n"
        ))
    );
}

#[test]
fn print_and_logging_text_format() {
    let api = FakeApi::start();
    let f = Function::python("app.handler").file(
        "app.py",
        r#"import logging, sys
logger = logging.getLogger()
print("init output")

def handler(event, context):
    print("hello", event)
    logger.info("filtered at the default level")
    logger.warning("warn %s", "arg")
    logging.getLogger("child").error("multi\nline")
    sys.stdout.write("no newline")
    return "ok"
"#,
    );
    let rt = f.start(&api);
    let id = api.invoke("\"ünï\"");
    assert_eq!(response_json(&api.wait_result(&id)), json!("ok"));

    rt.stdout.wait_line("init output", |l| l == "init output");
    rt.stdout.wait_line("print", |l| l == "hello ünï");
    let warn = rt
        .stdout
        .wait_line("the warning", |l| l.starts_with("[WARNING]"));
    let fields: Vec<&str> = warn.split('\t').collect();
    assert_eq!(fields.len(), 4, "{warn:?}");
    assert_eq!(fields[0], "[WARNING]");
    assert!(is_iso_millis(fields[1]), "{warn:?}");
    assert_eq!(fields[2], id);
    assert_eq!(fields[3], "warn arg");
    // Multi-line messages are written as they are (stdout is split into lines by the host).
    let err = rt
        .stdout
        .wait_line("the error", |l| l.starts_with("[ERROR]\t"));
    assert!(err.ends_with(&format!("\t{id}\tmulti")), "{err:?}");
    // The partial line was flushed at the end of its invocation: nothing else is written
    // after it while the runtime waits for the next event, so only that flush can deliver it.
    rt.stdout
        .wait_line("the partial line", |l| l == "no newline");
    let lines = rt.stdout.lines();
    assert!(!lines.iter().any(|l| l.contains("filtered")), "{lines:#?}");
}

#[test]
fn logging_json_format_and_level() {
    let api = FakeApi::start();
    let f = Function::python("app.handler")
        .file(
            "app.py",
            r#"import logging
def handler(event, context):
    logging.getLogger().debug("not shown")
    logging.getLogger("mylogger").info("info %d", 5)
    try:
        1 / 0
    except ZeroDivisionError:
        logging.exception("failed")
    raise KeyError("k")
"#,
        )
        .env("AWS_LAMBDA_LOG_FORMAT", "JSON")
        .env("AWS_LAMBDA_LOG_LEVEL", "INFO");
    let rt = f.start(&api);
    let id = api.invoke("{}");
    let v = error_json(&api.wait_result(&id));
    assert_eq!(v["errorType"], "KeyError");
    assert_eq!(v["errorMessage"], "'k'");

    let info: Value = serde_json::from_str(
        &rt.stdout
            .wait_line("the info line", |l| l.contains("\"info 5\"")),
    )
    .unwrap();
    assert_eq!(info["level"], "INFO");
    assert_eq!(info["message"], "info 5");
    assert_eq!(info["logger"], "mylogger");
    assert_eq!(info["requestId"], id.as_str());
    assert!(is_iso_millis(info["timestamp"].as_str().unwrap()), "{info}");

    let exc: Value = serde_json::from_str(
        &rt.stdout
            .wait_line("the exception", |l| l.contains("\"failed\"")),
    )
    .unwrap();
    assert_eq!(exc["level"], "ERROR");
    assert_eq!(exc["errorType"], "ZeroDivisionError");
    assert_eq!(exc["errorMessage"], "division by zero");
    assert!(exc["stackTrace"].is_array());
    assert!(
        exc["location"].as_str().unwrap().ends_with(":handler:8"),
        "{exc}"
    );

    let uncaught: Value = serde_json::from_str(&rt.stdout.wait_line("the uncaught error", |l| {
        l.contains("\"errorType\": \"KeyError\"")
    }))
    .unwrap();
    assert_eq!(uncaught["level"], "ERROR");
    assert_eq!(uncaught["requestId"], id.as_str());
    assert!(!rt.stdout.lines().iter().any(|l| l.contains("not shown")));
}

#[test]
fn unicode_and_five_megabyte_payloads_round_trip_byte_exact() {
    let api = FakeApi::start();
    let f = Function::python("app.handler").file("app.py", "def handler(e, c):\n    return e\n");
    let _rt = f.start(&api);
    // python3.12 and later leave non-ASCII unescaped, so the bytes come back unchanged.
    let small = "\"héllo wörld ✓ 日本語 😀\"".as_bytes().to_vec();
    assert_eq!(api.roundtrip(small.clone()).body, small);
    let big = big_unicode_json_string(5 * 1024 * 1024);
    let post = api.roundtrip(big.clone());
    assert_eq!(post.kind, PostKind::Response);
    assert_eq!(post.body.len(), big.len());
    assert!(post.body == big, "5 MB payload differs");
    let obj = json!({"k": "ü", "list": [1, {"z": "日本"}]});
    assert_eq!(response_json(&api.roundtrip(obj.to_string())), obj);
}

#[test]
fn before_python_3_12_non_ascii_is_escaped() {
    let api = FakeApi::start();
    let f = Function::new(Lang::Python, "python3.11", "app.handler")
        .file("app.py", "def handler(e, c):\n    return e\n");
    let _rt = f.start(&api);
    let post = api.roundtrip("\"é✓\"".as_bytes().to_vec());
    assert_eq!(post.text(), "\"\\u00e9\\u2713\"");
}

#[test]
fn handler_exit_stops_the_process() {
    let api = FakeApi::start();
    let f = Function::python("app.handler").file(
        "app.py",
        "import sys\ndef handler(e, c):\n    sys.exit(3)\n",
    );
    let mut rt = f.start(&api);
    api.invoke("{}");
    // SystemExit is not an invocation error: the process ends, and the platform reports
    // Runtime.ExitError.
    assert_eq!(rt.wait_exit().code(), Some(3));
    assert!(api.posts().is_empty());
}

#[test]
fn chunked_events_and_server_closing_the_connection() {
    check_chunked_and_closed_connections(
        &Function::python("app.handler").file("app.py", "def handler(e, c):\n    return e\n"),
    );
}

#[test]
fn exec_wrapper_runs_first() {
    use std::os::unix::fs::PermissionsExt;
    let wrapper_dir = tempfile::tempdir().unwrap();
    let wrapper = wrapper_dir.path().join("wrapper.sh");
    std::fs::write(
        &wrapper,
        "#!/bin/sh\nexport WRAPPED=\"$#:$1\"\nexec \"$@\" -X importtime\n",
    )
    .unwrap();
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    let api = FakeApi::start();
    let f = Function::python("app.handler")
        .file(
            "app.py",
            "import os, sys\ndef handler(e, c):\n    return [os.environ['WRAPPED'], sys.argv[1:]]\n",
        )
        .exec_wrapper(&wrapper);
    let _rt = f.start(&api);
    // The wrapper got the interpreter and its flags as arguments and exec'd them.
    assert_eq!(
        response_json(&api.roundtrip("{}")),
        json!(["5:/usr/bin/python3", ["-X", "importtime"]])
    );
}
