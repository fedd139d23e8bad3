//! The Node bootstrap, run with /usr/bin/node against a fake Runtime API.

mod common;

use std::time::Duration;

use common::*;
use serde_json::{Value, json};

#[test]
fn commonjs_async_echo_many_invocations_on_one_warm_process() {
    let api = FakeApi::start();
    let f = Function::node("index.handler").file(
        "index.js",
        r#"let calls = 0;
exports.handler = async (event, context) => {
  calls += 1;
  return { event, pid: process.pid, calls };
};
"#,
    );
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
                .is_some_and(|ua| ua.starts_with("aws-lambda-nodejs/v")),
            "{:?}",
            post.header("user-agent")
        );
    }
    assert_eq!(api.connections(), 1, "one kept-alive connection");
    assert_eq!(api.posts().len(), 30);
}

#[test]
fn esm_mjs_handler() {
    let api = FakeApi::start();
    let f = Function::node("app.handler").file(
        "app.mjs",
        r#"import { createHash } from 'node:crypto';
const prefix = await Promise.resolve('esm');
export const handler = async (event) => `${prefix}:${createHash('sha1').update(event.s).digest('hex').slice(0, 8)}`;
"#,
    );
    let _rt = f.start(&api);
    assert_eq!(
        response_json(&api.roundtrip(r#"{"s":"abc"}"#)),
        json!("esm:a9993e36")
    );
}

#[test]
fn esm_js_with_type_module() {
    let api = FakeApi::start();
    let f = Function::node("src/app.handler")
        .file("package.json", r#"{"type":"module"}"#)
        .file(
            "src/app.js",
            "import { helper } from './helper.js';\nexport async function handler(e) { return helper(e); }\n",
        )
        .file("src/helper.js", "export const helper = (e) => ({ doubled: e * 2 });\n");
    let _rt = f.start(&api);
    assert_eq!(response_json(&api.roundtrip("21")), json!({"doubled": 42}));
}

#[test]
fn cjs_extension_and_nested_export() {
    let api = FakeApi::start();
    let f = Function::node("lib/app.handlers.v1.main")
        .file("package.json", r#"{"type":"module"}"#)
        .file(
            "lib/app.cjs",
            "module.exports = { handlers: { v1: { main: async (e) => ({ cjs: true, e }) } } };\n",
        );
    let _rt = f.start(&api);
    assert_eq!(
        response_json(&api.roundtrip("[1]")),
        json!({"cjs": true, "e": [1]})
    );
}

#[test]
fn callback_handler_waits_for_empty_event_loop() {
    let api = FakeApi::start();
    let f = Function::node("index.handler").file(
        "index.js",
        r#"let timerFired = 0;
exports.handler = function (event, context, callback) {
  if (event.mode === 'wait') {
    // Reported (and serialised) only once the event loop is empty, that is after the timer
    // has changed the result.
    const result = { fired: false };
    setTimeout(() => { timerFired += 1; result.fired = true; }, 50);
    callback(null, result);
  } else if (event.mode === 'nowait') {
    context.callbackWaitsForEmptyEventLoop = false;
    // A long timer does not delay the response.
    setTimeout(() => console.log('late timer'), 600000);
    callback(null, { waits: context.callbackWaitsForEmptyEventLoop });
  } else if (event.mode === 'count') {
    callback(null, { fired: timerFired });
  } else if (event.mode === 'twice') {
    callback(null, 'first');
    callback(null, 'second');
  } else if (event.mode === 'error') {
    callback('plain string error');
  } else if (event.mode === 'succeed') {
    context.succeed({ via: 'succeed' });
  } else if (event.mode === 'fail') {
    context.fail(new RangeError('via fail'));
  } else if (event.mode === 'done') {
    context.done(null, 'via done');
  } else if (event.mode === 'nothing') {
    // Neither callback nor promise: once the loop is empty the result is null.
  }
};
"#,
    );
    let _rt = f.start(&api);
    // The response was held back until the timer had run.
    assert_eq!(
        response_json(&api.roundtrip(r#"{"mode":"wait"}"#)),
        json!({"fired": true})
    );
    assert_eq!(
        response_json(&api.roundtrip(r#"{"mode":"count"}"#)),
        json!({"fired": 1})
    );
    assert_eq!(
        response_json(&api.roundtrip(r#"{"mode":"twice"}"#)),
        json!("first")
    );
    let id = api.invoke(r#"{"mode":"error"}"#);
    assert_eq!(
        error_json(&api.wait_result(&id)),
        json!({"errorType": "string", "errorMessage": "plain string error", "trace": []})
    );
    assert_eq!(
        response_json(&api.roundtrip(r#"{"mode":"succeed"}"#)),
        json!({"via": "succeed"})
    );
    let v = error_json(&api.roundtrip(r#"{"mode":"fail"}"#));
    assert_eq!(v["errorType"], "RangeError");
    assert_eq!(v["errorMessage"], "via fail");
    assert_eq!(
        response_json(&api.roundtrip(r#"{"mode":"done"}"#)),
        json!("via done")
    );
    assert_eq!(api.roundtrip(r#"{"mode":"nothing"}"#).text(), "null");
    // Last, because its timer keeps the event loop busy for good: any later invocation that
    // waits for an empty event loop would wait for it too (as on Lambda).
    assert_eq!(
        response_json(&api.roundtrip(r#"{"mode":"nowait"}"#)),
        json!({"waits": false})
    );
    assert_eq!(
        response_json(&api.roundtrip(r#"{"mode":"done"}"#)),
        json!("via done")
    );
    // Each invocation was answered exactly once.
    let posts = api.posts();
    assert_eq!(posts.len(), 10);
    assert!(posts.iter().all(|p| p.status == 202));
}

#[test]
fn async_handler_never_settling_reports_node_exit() {
    let api = FakeApi::start();
    let f = Function::node("index.handler").file(
        "index.js",
        "exports.handler = async (e) => { if (e === 1) return 'ok'; await new Promise(() => {}); };\n",
    );
    let _rt = f.start(&api);
    let v = error_json(&api.roundtrip("0"));
    assert_eq!(v["errorType"], "Runtime.NodeJsExit");
    assert!(
        v["errorMessage"]
            .as_str()
            .unwrap()
            .contains("Promise that was never settled"),
        "{v}"
    );
    assert_eq!(response_json(&api.roundtrip("1")), json!("ok"));
}

#[test]
fn context_fields_and_remaining_time() {
    let api = FakeApi::start();
    let f = Function::node("index.handler").file(
        "index.js",
        r#"exports.handler = async (event, context) => {
  const first = context.getRemainingTimeInMillis();
  await new Promise((r) => setTimeout(r, 20));
  const second = context.getRemainingTimeInMillis();
  return {
    functionName: context.functionName,
    functionVersion: context.functionVersion,
    invokedFunctionArn: context.invokedFunctionArn,
    memoryLimitInMB: context.memoryLimitInMB,
    awsRequestId: context.awsRequestId,
    logGroupName: context.logGroupName,
    logStreamName: context.logStreamName,
    identity: context.identity ?? null,
    clientContext: context.clientContext ?? null,
    waits: context.callbackWaitsForEmptyEventLoop,
    hasDone: [typeof context.done, typeof context.succeed, typeof context.fail],
    first, second,
    trace: process.env._X_AMZN_TRACE_ID ?? null,
  };
};
"#,
    );
    let _rt = f.start(&api);
    let inv = Invocation::new(b"{}".to_vec(), Duration::from_secs(30))
        .header(
            "Lambda-Runtime-Cognito-Identity",
            r#"{"cognitoIdentityId":"id-1","cognitoIdentityPoolId":"pool-1"}"#,
        )
        .header("Lambda-Runtime-Client-Context", r#"{"custom":{"k":"v"}}"#);
    let id = inv.request_id.clone();
    let v = response_json(&api.roundtrip_with(inv));
    assert_eq!(v["functionName"], "test-fn");
    assert_eq!(v["functionVersion"], "$LATEST");
    assert_eq!(v["invokedFunctionArn"], FUNCTION_ARN);
    // A string, as in Lambda.
    assert_eq!(v["memoryLimitInMB"], "256");
    assert_eq!(v["awsRequestId"], id.as_str());
    assert_eq!(v["logGroupName"], "/aws/lambda/test-fn");
    assert_eq!(
        v["logStreamName"],
        "2024/05/01/[$LATEST]0123456789abcdef0123456789abcdef"
    );
    assert_eq!(
        v["identity"],
        json!({"cognitoIdentityId": "id-1", "cognitoIdentityPoolId": "pool-1"})
    );
    assert_eq!(v["clientContext"], json!({"custom": {"k": "v"}}));
    assert_eq!(v["waits"], true);
    assert_eq!(v["hasDone"], json!(["function", "function", "function"]));
    let (first, second) = (v["first"].as_i64().unwrap(), v["second"].as_i64().unwrap());
    assert!(first > 25_000 && first <= 30_000, "{first}");
    assert!(second < first, "{second} !< {first}");
    assert_eq!(v["trace"], TRACE_ID);

    // Without the optional headers.
    let mut inv = Invocation::new(b"{}".to_vec(), Duration::from_secs(5));
    inv.headers.retain(|(k, _)| k != "Lambda-Runtime-Trace-Id");
    let v = response_json(&api.roundtrip_with(inv));
    assert_eq!(v["identity"], Value::Null);
    assert_eq!(v["clientContext"], Value::Null);
    assert_eq!(v["trace"], Value::Null);
}

#[test]
fn environment_variables() {
    let api = FakeApi::start();
    let f = Function::node("index.handler")
        .file(
            "index.js",
            "exports.handler = async (keys) => ({ env: Object.fromEntries(keys.map((k) => [k, process.env[k] ?? null])), cwd: process.cwd(), gc: typeof globalThis.gc, awslambda: typeof awslambda });\n",
        )
        .env("MY_SETTING", "hello world");
    let _rt = f.start(&api);
    let keys = json!([
        "MY_SETTING",
        "AWS_REGION",
        "AWS_EXECUTION_ENV",
        "NODE_PATH",
        "_HANDLER",
        "LAMBDA_TASK_ROOT"
    ]);
    let v = response_json(&api.roundtrip(keys.to_string()));
    assert_eq!(
        v["env"],
        json!({
            "MY_SETTING": "hello world",
            "AWS_REGION": "us-east-1",
            "AWS_EXECUTION_ENV": "AWS_Lambda_nodejs20.x",
            "NODE_PATH": "/opt/nodejs/node20/node_modules:/opt/nodejs/node_modules:/var/runtime/node_modules:/var/runtime:/var/task",
            "_HANDLER": "index.handler",
            "LAMBDA_TASK_ROOT": f.root().to_str().unwrap(),
        })
    );
    assert_eq!(
        std::fs::canonicalize(v["cwd"].as_str().unwrap()).unwrap(),
        std::fs::canonicalize(f.root()).unwrap()
    );
    assert_eq!(v["gc"], "function", "--expose-gc as on Lambda");
    assert_eq!(v["awslambda"], "object");
}

#[test]
fn handled_error_format() {
    let api = FakeApi::start();
    let f = Function::node("index.handler").file(
        "index.js",
        r#"class CustomError extends Error { constructor(m) { super(m); this.name = 'CustomError'; this.code = 42; } }
exports.handler = async (event) => {
  if (event === 'type') throw new TypeError('bad ✓ thing');
  if (event === 'custom') throw new CustomError('custom');
  if (event === 'sync') return JSON.parse('{oops');
  if (event === 'circular') { const o = {}; o.o = o; return o; }
  return 'fine';
};
"#,
    );
    let root = f.root().to_str().unwrap().to_string();
    let rt = f.start(&api);
    let id = api.invoke("\"type\"");
    let post = api.wait_result(&id);
    let v = error_json(&post);
    assert_eq!(v["errorType"], "TypeError");
    assert_eq!(v["errorMessage"], "bad ✓ thing");
    let trace: Vec<&str> = v["trace"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    assert_eq!(trace[0], "TypeError: bad ✓ thing");
    assert!(
        trace[1].starts_with("    at ") && trace[1].contains(&format!("{root}/index.js:3:")),
        "{trace:#?}"
    );
    assert_eq!(
        v.as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect::<std::collections::BTreeSet<_>>(),
        ["errorMessage", "errorType", "trace"].into()
    );
    assert_eq!(post.header("lambda-runtime-function-error-type"), None);
    // Logged as one line: "Invoke Error \t{json}" with newlines turned into CR.
    let line = rt
        .stdout
        .wait_line("the error log", |l| l.contains("\tERROR\tInvoke Error "));
    let fields: Vec<&str> = line.splitn(4, '\t').collect();
    assert!(is_iso_millis(fields[0]), "{line:?}");
    assert_eq!(fields[1], id);
    let logged: Value = serde_json::from_str(
        line.split_once("Invoke Error \t")
            .unwrap()
            .1
            .replace('\r', "\n")
            .as_str(),
    )
    .unwrap();
    assert_eq!(logged["errorType"], "TypeError");
    assert_eq!(logged["errorMessage"], "bad ✓ thing");
    assert!(logged["stack"].is_array());

    let v = error_json(&api.roundtrip("\"custom\""));
    assert_eq!(v["errorType"], "CustomError");
    assert_eq!(v["errorMessage"], "custom");
    let v = error_json(&api.roundtrip("\"sync\""));
    assert_eq!(v["errorType"], "SyntaxError");
    let v = error_json(&api.roundtrip("\"circular\""));
    assert_eq!(v["errorType"], "Error");
    assert_eq!(v["errorMessage"], "Unable to stringify response body");
    assert_eq!(response_json(&api.roundtrip("\"ok\"")), json!("fine"));
}

#[test]
fn uncaught_exception_during_invoke_reports_and_exits() {
    let api = FakeApi::start();
    let f = Function::node("index.handler").file(
        "index.js",
        "exports.handler = (e, c, cb) => { setTimeout(() => { throw new Error('async boom'); }, 1); };\n",
    );
    let mut rt = f.start(&api);
    let v = error_json(&api.roundtrip("{}"));
    assert_eq!(v["errorType"], "Error");
    assert_eq!(v["errorMessage"], "async boom");
    assert_eq!(rt.wait_exit().code(), Some(129));
}

/// Starts a function whose initialisation fails; returns the init error's JSON after checking
/// the header, that nothing else was posted and the exit status.
fn init_failure(f: Function) -> (Value, Vec<String>) {
    let api = FakeApi::start();
    let mut rt = f.start(&api);
    let post = api.wait_init_error();
    assert_eq!(rt.wait_exit().code(), Some(129));
    assert_eq!(post.status, 202);
    let v = post.json();
    assert_eq!(
        post.header("lambda-runtime-function-error-type"),
        v["errorType"].as_str()
    );
    assert_eq!(api.posts().len(), 1);
    (v, rt.stdout.lines())
}

#[test]
fn import_module_error() {
    let f = Function::node("missing.handler");
    let bootstrap = f.bootstrap_path().to_str().unwrap().to_string();
    let (v, stdout) = init_failure(f);
    assert_eq!(v["errorType"], "Runtime.ImportModuleError");
    assert_eq!(
        v["errorMessage"],
        format!("Error: Cannot find module 'missing'\nRequire stack:\n- {bootstrap}")
    );
    let trace = v["trace"].as_array().unwrap();
    assert_eq!(
        trace[0],
        "Runtime.ImportModuleError: Error: Cannot find module 'missing'"
    );
    assert_eq!(trace[1], "Require stack:");
    // Logged as the managed runtime does, with request id "undefined" during init.
    assert!(
        stdout.iter().any(|l| l.contains(
            "\tundefined\tERROR\tUncaught Exception \t{\"errorType\":\"Runtime.ImportModuleError\""
        )),
        "{stdout:#?}"
    );

    // A dependency missing inside the module is an ImportModuleError too.
    let (v, _) = init_failure(
        Function::node("index.handler").file("index.js", "require('left-pad-not-installed');\n"),
    );
    assert_eq!(v["errorType"], "Runtime.ImportModuleError");
    assert!(
        v["errorMessage"]
            .as_str()
            .unwrap()
            .starts_with("Error: Cannot find module 'left-pad-not-installed'\nRequire stack:\n- "),
        "{v}"
    );
}

#[test]
fn handler_not_found() {
    let (v, _) = init_failure(
        Function::node("app.nope").file("app.js", "exports.handler = async () => 1;\n"),
    );
    assert_eq!(v["errorType"], "Runtime.HandlerNotFound");
    assert_eq!(v["errorMessage"], "app.nope is undefined or not exported");
    assert_eq!(
        v["trace"][0],
        "Runtime.HandlerNotFound: app.nope is undefined or not exported"
    );

    let (v, _) =
        init_failure(Function::node("app.value").file("app.mjs", "export const value = 3;\n"));
    assert_eq!(v["errorType"], "Runtime.HandlerNotFound");
    assert_eq!(v["errorMessage"], "app.value is not a function");
}

#[test]
fn syntax_errors() {
    let (v, _) = init_failure(
        Function::node("app.handler").file("app.js", "exports.handler = async () => 1 +;\n"),
    );
    assert_eq!(v["errorType"], "Runtime.UserCodeSyntaxError");
    assert_eq!(v["errorMessage"], "SyntaxError: Unexpected token ';'");

    let (v, _) = init_failure(
        Function::node("app.handler").file("app.mjs", "export const handler = async () => {;\n"),
    );
    assert_eq!(v["errorType"], "Runtime.UserCodeSyntaxError");
}

#[test]
fn malformed_handler_and_init_exception() {
    let (v, _) = init_failure(Function::node("nodot"));
    assert_eq!(v["errorType"], "Runtime.MalformedHandlerName");
    assert_eq!(v["errorMessage"], "Bad handler");
    let (v, _) = init_failure(Function::node("../up.handler"));
    assert_eq!(v["errorType"], "Runtime.MalformedHandlerName");

    let (v, _) = init_failure(
        Function::node("app.handler").file("app.js", "throw new RangeError('no config');\n"),
    );
    assert_eq!(v["errorType"], "RangeError");
    assert_eq!(v["errorMessage"], "no config");
}

#[test]
fn callback_handlers_are_refused_from_nodejs24() {
    let code = "exports.handler = (e, c, cb) => cb(null, 1);\n";
    let (v, _) = init_failure(
        Function::new(Lang::Node, "nodejs24.x", "index.handler").file("index.js", code),
    );
    assert_eq!(v["errorType"], "Runtime.CallbackHandlerDeprecated");
    // nodejs22.x still accepts them.
    let api = FakeApi::start();
    let f = Function::new(Lang::Node, "nodejs22.x", "index.handler").file("index.js", code);
    let _rt = f.start(&api);
    assert_eq!(response_json(&api.roundtrip("{}")), json!(1));
}

#[test]
fn console_text_format() {
    let api = FakeApi::start();
    let f = Function::node("index.handler").file(
        "index.js",
        r#"console.log('init line');
exports.handler = async (event) => {
  console.log('hello', { a: 1 }, event);
  console.info('info %d', 5);
  console.warn('warned');
  console.error('multi\nline');
  console.debug('debugging');
  console.trace('tracing');
  return 'ok';
};
"#,
    );
    let rt = f.start(&api);
    let id = api.invoke("\"ünï\"");
    assert_eq!(response_json(&api.wait_result(&id)), json!("ok"));

    let init = rt.stdout.wait_line("init", |l| l.ends_with("\tinit line"));
    assert!(init.contains("\tundefined\tINFO\t"), "{init:?}");
    for (level, message) in [
        ("INFO", "hello { a: 1 } ünï"),
        ("INFO", "info 5"),
        ("WARN", "warned"),
        ("ERROR", "multi\rline"),
        ("DEBUG", "debugging"),
        ("TRACE", "tracing"),
    ] {
        let line = rt
            .stdout
            .wait_line(message, |l| l.ends_with(&format!("\t{message}")));
        let fields: Vec<&str> = line.split('\t').collect();
        assert_eq!(fields.len(), 4, "{line:?}");
        assert!(is_iso_millis(fields[0]), "{line:?}");
        assert_eq!(fields[1], id);
        assert_eq!(fields[2], level);
        assert_eq!(fields[3], message);
    }
}

#[test]
fn console_json_format_and_level() {
    let api = FakeApi::start();
    let f = Function::node("index.handler")
        .file(
            "index.js",
            r#"exports.handler = async () => {
  console.debug('not shown');
  console.info('info', 5);
  console.warn({ structured: true });
  console.error('failed:', new TypeError('bad'));
  return 'ok';
};
"#,
        )
        .env("AWS_LAMBDA_LOG_FORMAT", "JSON")
        .env("AWS_LAMBDA_LOG_LEVEL", "info");
    let rt = f.start(&api);
    let id = api.invoke("{}");
    api.wait_result(&id);
    let parse = |l: String| serde_json::from_str::<Value>(&l).unwrap();
    let info = parse(rt.stdout.wait_line("info", |l| l.contains("\"info 5\"")));
    assert_eq!(info["level"], "INFO");
    assert_eq!(info["requestId"], id.as_str());
    assert!(is_iso_millis(info["timestamp"].as_str().unwrap()));
    let warn = parse(rt.stdout.wait_line("warn", |l| l.contains("structured")));
    assert_eq!(warn["message"], json!({"structured": true}));
    let err = parse(rt.stdout.wait_line("error", |l| l.contains("\"failed:")));
    assert_eq!(err["level"], "ERROR");
    assert_eq!(err["errorType"], "TypeError");
    assert_eq!(err["errorMessage"], "bad");
    assert!(err["stackTrace"].is_array());
    assert!(!rt.stdout.lines().iter().any(|l| l.contains("not shown")));
}

#[test]
fn unicode_and_five_megabyte_payloads_round_trip_byte_exact() {
    let api = FakeApi::start();
    let f = Function::node("index.handler").file("index.js", "exports.handler = async (e) => e;\n");
    let _rt = f.start(&api);
    let small = "\"héllo wörld ✓ 日本語 😀\"".as_bytes().to_vec();
    assert_eq!(api.roundtrip(small.clone()).body, small);
    let compact = r#"{"k":"ü","list":[1,{"z":"日本"}]}"#.as_bytes().to_vec();
    assert_eq!(api.roundtrip(compact.clone()).body, compact);
    let big = big_unicode_json_string(5 * 1024 * 1024);
    let post = api.roundtrip(big.clone());
    assert_eq!(post.kind, PostKind::Response);
    assert_eq!(post.body.len(), big.len());
    assert!(post.body == big, "5 MB payload differs");
}

#[test]
fn response_streaming() {
    let api = FakeApi::start();
    let f = Function::node("index.handler").file(
        "index.js",
        r#"exports.handler = awslambda.streamifyResponse(async (event, responseStream, context) => {
  if (event.http) {
    responseStream = awslambda.HttpResponseStream.from(responseStream, { statusCode: 201, headers: { 'x-a': 'b' } });
  } else {
    responseStream.setContentType('text/plain');
  }
  responseStream.write('hello ');
  if (event.fail) throw new Error('mid-stream');
  await new Promise((r) => setTimeout(r, 5));
  responseStream.write(Buffer.from('wörld'));
  responseStream.end();
});
"#,
    );
    let _rt = f.start(&api);
    let post = api.roundtrip("{}");
    assert_eq!(post.kind, PostKind::Response);
    assert_eq!(
        post.header("lambda-runtime-function-response-mode"),
        Some("streaming")
    );
    assert_eq!(post.header("transfer-encoding"), Some("chunked"));
    assert_eq!(post.header("content-type"), Some("text/plain"));
    assert_eq!(post.text(), "hello wörld");
    assert_eq!(post.trailers, vec![]);

    let post = api.roundtrip(r#"{"http":true}"#);
    assert_eq!(
        post.header("content-type"),
        Some("application/vnd.awslambda.http-integration-response")
    );
    let mut expected = br#"{"statusCode":201,"headers":{"x-a":"b"}}"#.to_vec();
    expected.extend_from_slice(&[0; 8]);
    expected.extend_from_slice("hello wörld".as_bytes());
    assert_eq!(post.body, expected);

    let post = api.roundtrip(r#"{"fail":true}"#);
    assert_eq!(post.kind, PostKind::Response);
    assert_eq!(post.text(), "hello ");
    assert_eq!(
        post.trailer("lambda-runtime-function-error-type"),
        Some("Error")
    );
    let body = post.trailer("lambda-runtime-function-error-body").unwrap();
    let decoded = decode_base64(body);
    let v: Value = serde_json::from_slice(&decoded).unwrap();
    assert_eq!(v["errorType"], "Error");
    assert_eq!(v["errorMessage"], "mid-stream");
    // And the runtime carries on.
    assert_eq!(api.roundtrip("{}").text(), "hello wörld");
}

#[test]
fn response_stream_end_sends_its_chunk_and_the_prelude() {
    let api = FakeApi::start();
    let f = Function::node("index.handler").file(
        "index.js",
        r#"exports.handler = awslambda.streamifyResponse(async (event, responseStream) => {
  if (event.http) {
    responseStream = awslambda.HttpResponseStream.from(responseStream, { statusCode: 204 });
    responseStream.end();
  } else {
    responseStream.end('bye');
  }
});
"#,
    );
    let _rt = f.start(&api);
    assert_eq!(api.roundtrip("{}").text(), "bye");
    let post = api.roundtrip(r#"{"http":true}"#);
    let mut expected = br#"{"statusCode":204}"#.to_vec();
    expected.extend_from_slice(&[0; 8]);
    assert_eq!(post.body, expected);
}

fn decode_base64(s: &str) -> Vec<u8> {
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut bits = 0u32;
    let mut nbits = 0;
    let mut out = Vec::new();
    for c in s.bytes().filter(|&c| c != b'=') {
        let v = alphabet.iter().position(|&a| a == c).expect("base64") as u32;
        bits = (bits << 6) | v;
        nbits += 6;
        if nbits >= 8 {
            nbits -= 8;
            out.push((bits >> nbits) as u8);
            bits &= (1 << nbits) - 1;
        }
    }
    out
}

#[test]
fn chunked_events_and_server_closing_the_connection() {
    check_chunked_and_closed_connections(
        &Function::node("index.handler").file("index.js", "exports.handler = async (e) => e;\n"),
    );
}

#[test]
fn unhandled_rejection_during_invoke_reports_and_exits() {
    let api = FakeApi::start();
    let f = Function::node("index.handler").file(
        "index.js",
        "exports.handler = (e, c, cb) => { Promise.reject(new Error('rejected')); };\n",
    );
    let mut rt = f.start(&api);
    let v = error_json(&api.roundtrip("{}"));
    assert_eq!(v["errorType"], "Runtime.UnhandledPromiseRejection");
    assert_eq!(v["errorMessage"], "Error: rejected");
    assert_eq!(rt.wait_exit().code(), Some(128));
}
