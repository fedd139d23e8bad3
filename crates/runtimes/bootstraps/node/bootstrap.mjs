// Lambent's Node.js runtime: the loop Lambda's managed nodejsN.x runtime runs.
//
// Started inside the sandbox as
//
//     /usr/bin/node --expose-gc --max-http-header-size=81920 /var/runtime/node/bootstrap.mjs
//
// with the working directory /var/task. Standard library only (Node 20+). It talks to the
// Runtime API (2018-06-01) at $AWS_LAMBDA_RUNTIME_API over a keep-alive connection, loads the
// handler named by $_HANDLER and serves invocations until the sandbox is torn down. Handler
// resolution, the context object, error bodies and log lines follow the official runtime
// interface client (aws-lambda-ric) so that code and tools see what they would see on AWS.

import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import util from 'node:util';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';

const require = createRequire(import.meta.url);
const RUNTIME_PATH = '/2018-06-01/runtime';
const ERROR_TYPE_HEADER = 'Lambda-Runtime-Function-Error-Type';
const ERROR_BODY_TRAILER = 'Lambda-Runtime-Function-Error-Body';
const REQUEST_ID_SYMBOL = Symbol.for('aws.lambda.runtime.requestId');
const HANDLER_STREAMING = Symbol.for('aws.lambda.runtime.handler.streaming');
const HANDLER_HIGHWATERMARK = Symbol.for('aws.lambda.runtime.handler.streaming.highWaterMark');
const STREAM_RESPONSE = 'response';

// ---------------------------------------------------------------------------------------------
// Errors the runtime itself raises. Their `name` is "Runtime.<Class>", which becomes errorType.

function runtimeError(name) {
  const cls = class extends Error {};
  Object.defineProperty(cls, 'name', { value: name });
  cls.prototype.name = `Runtime.${name}`;
  return cls;
}

const ImportModuleError = runtimeError('ImportModuleError');
const HandlerNotFound = runtimeError('HandlerNotFound');
const MalformedHandlerName = runtimeError('MalformedHandlerName');
const UserCodeSyntaxError = runtimeError('UserCodeSyntaxError');
const MalformedStreamingHandler = runtimeError('MalformedStreamingHandler');
const InvalidStreamingOperation = runtimeError('InvalidStreamingOperation');
const CallbackHandlerDeprecated = runtimeError('CallbackHandlerDeprecated');
const NodeJsExit = runtimeError('NodeJsExit');
const UnhandledPromiseRejection = runtimeError('UnhandledPromiseRejection');

function isErrorLike(obj) {
  return (
    obj &&
    typeof obj.name === 'string' &&
    obj.name &&
    typeof obj.message === 'string' &&
    obj.message &&
    typeof obj.stack === 'string' &&
    obj.stack
  );
}

// The body posted to /invocation/{id}/error and /init/error.
function toRapidResponse(error) {
  try {
    if (util.types.isNativeError(error) || isErrorLike(error)) {
      return { errorType: error.name, errorMessage: error.message, trace: error.stack.split('\n') };
    }
    return { errorType: typeof error, errorMessage: String(error), trace: [] };
  } catch (_) {
    return {
      errorType: 'handled',
      errorMessage:
        'callback called with Error argument, but there was a problem while retrieving one or more of its message, name, and stack',
    };
  }
}

function intoError(err) {
  return err instanceof Error ? err : new Error(err);
}

function withEnumerableProperties(value) {
  if (value instanceof Error) {
    const out = Object.assign(
      { errorType: value.name, errorMessage: value.message, code: value.code },
      value,
    );
    if (typeof value.stack === 'string') out.stack = value.stack.split('\n');
    return out;
  }
  return value;
}

// "\t{json}" as the text log format prints an error after its label.
function formattedError(error) {
  try {
    return '\t' + JSON.stringify(error, (_k, v) => withEnumerableProperties(v));
  } catch (_) {
    return '\t' + JSON.stringify(toRapidResponse(error));
  }
}

// ---------------------------------------------------------------------------------------------
// Logging: console.* patched to Lambda's line format on stdout.

const LEVELS = Object.freeze({
  TRACE: { name: 'TRACE', priority: 1 },
  DEBUG: { name: 'DEBUG', priority: 2 },
  INFO: { name: 'INFO', priority: 3 },
  WARN: { name: 'WARN', priority: 4 },
  ERROR: { name: 'ERROR', priority: 5 },
  FATAL: { name: 'FATAL', priority: 6 },
});
// Read from the environment when the runtime starts serving a function (see awaitFunction).
let JSON_FORMAT = false;

function currentRequestId() {
  return globalThis[REQUEST_ID_SYMBOL];
}

function setCurrentRequestId(id) {
  globalThis[REQUEST_ID_SYMBOL] = id;
}

function jsonErrorReplacer(_key, value) {
  if (value instanceof Error) {
    return Object.assign(
      {
        errorType: value?.constructor?.name ?? 'UnknownError',
        errorMessage: value.message,
        stackTrace: typeof value.stack === 'string' ? value.stack.split('\n') : value.stack,
      },
      value,
    );
  }
  return value;
}

function jsonLine(level, params) {
  const out = { timestamp: new Date().toISOString(), level: level.name, requestId: currentRequestId() };
  if (params.length === 1) {
    out.message = params[0];
    try {
      return JSON.stringify(out, jsonErrorReplacer);
    } catch (_) {
      out.message = util.format(out.message);
      return JSON.stringify(out);
    }
  }
  out.message = util.format(...params);
  for (const param of params) {
    if (param instanceof Error) {
      out.errorType = param?.constructor?.name ?? 'UnknownError';
      out.errorMessage = param.message;
      out.stackTrace = typeof param.stack === 'string' ? param.stack.split('\n') : [];
      break;
    }
  }
  return JSON.stringify(out);
}

function textLine(level, params) {
  return `${new Date().toISOString()}\t${currentRequestId()}\t${level.name}\t${util.format(...params)}`;
}

function writeLog(level, params) {
  const line = JSON_FORMAT ? jsonLine(level, params) : textLine(level, params);
  process.stdout.write(line.replace(/\n/g, '\r') + '\n');
}

function patchConsole() {
  const threshold = LEVELS[(process.env.AWS_LAMBDA_LOG_LEVEL || '').toUpperCase()] ?? LEVELS.TRACE;
  const nop = () => {};
  const make = (level) =>
    level.priority >= threshold.priority ? (...params) => writeLog(level, params) : nop;
  console.trace = make(LEVELS.TRACE);
  console.debug = make(LEVELS.DEBUG);
  console.info = make(LEVELS.INFO);
  console.log = console.info;
  console.warn = make(LEVELS.WARN);
  console.error = make(LEVELS.ERROR);
  console.fatal = (...params) => writeLog(LEVELS.FATAL, params);
}

function logError(label, err) {
  if (JSON_FORMAT) {
    console.error(intoError(err));
  } else {
    console.error(label, formattedError(intoError(err)));
  }
}

// ---------------------------------------------------------------------------------------------
// Runtime API client over a keep-alive agent.

class RuntimeClient {
  constructor(address) {
    const colon = address.lastIndexOf(':');
    this.host = address.slice(0, colon);
    this.port = Number(address.slice(colon + 1));
    if (colon <= 0 || !Number.isInteger(this.port)) {
      throw new Error(`AWS_LAMBDA_RUNTIME_API is not host:port: ${address}`);
    }
    this.agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    this.userAgent = `aws-lambda-nodejs/${process.version}-lambent`;
  }

  options(method, urlPath, headers) {
    return {
      host: this.host,
      port: this.port,
      method,
      path: urlPath,
      agent: this.agent,
      headers: { 'User-Agent': this.userAgent, ...headers },
    };
  }

  request(method, urlPath, body, headers, retried = false) {
    return new Promise((resolve, reject) => {
      const req = http.request(this.options(method, urlPath, headers), (res) => {
        const chunks = [];
        res.on('data', (chunk) => chunks.push(chunk));
        res.on('end', () =>
          resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }),
        );
        res.on('error', reject);
      });
      req.on('error', (err) => {
        // A kept-alive connection the server closed meanwhile: retry once on a new one.
        if (req.reusedSocket && !retried && err.code === 'ECONNRESET') {
          this.request(method, urlPath, body, headers, true).then(resolve, reject);
        } else {
          reject(err);
        }
      });
      req.end(body);
    });
  }

  async next() {
    const res = await this.request('GET', `${RUNTIME_PATH}/invocation/next`);
    if (res.status !== 200) {
      throw new Error(`Runtime API /invocation/next answered ${res.status}: ${res.body.toString()}`);
    }
    return res;
  }

  postJson(urlPath, json, extraHeaders) {
    const body = Buffer.from(json, 'utf8');
    return this.request('POST', urlPath, body, {
      'Content-Type': 'application/json',
      'Content-Length': body.length,
      ...extraHeaders,
    });
  }

  postResponse(id, json) {
    return this.postJson(`${RUNTIME_PATH}/invocation/${encodeURIComponent(id)}/response`, json);
  }

  // Like the official clients: no Lambda-Runtime-Function-Error-Type header on invocation
  // errors; the platform reads errorType from the body.
  postError(id, error) {
    return this.postJson(
      `${RUNTIME_PATH}/invocation/${encodeURIComponent(id)}/error`,
      serialize(toRapidResponse(error)),
    );
  }

  postInitError(error) {
    const body = toRapidResponse(error);
    return this.postJson(`${RUNTIME_PATH}/init/error`, serialize(body), {
      [ERROR_TYPE_HEADER]: body.errorType,
    });
  }

  // A chunked POST /response in streaming mode; errors travel as trailers.
  responseStream(id, contentType) {
    let started = false;
    let resolveDone;
    let rejectDone;
    const done = new Promise((resolve, reject) => {
      resolveDone = resolve;
      rejectDone = reject;
    });
    done.catch(() => {});
    const req = http.request(
      this.options('POST', `${RUNTIME_PATH}/invocation/${encodeURIComponent(id)}/response`, {
        'Lambda-Runtime-Function-Response-Mode': 'streaming',
        'Transfer-Encoding': 'chunked',
        Trailer: `${ERROR_TYPE_HEADER}, ${ERROR_BODY_TRAILER}`,
        'Content-Type': contentType || 'application/octet-stream',
      }),
      (res) => {
        res.on('data', () => {});
        res.on('end', () => resolveDone(res.statusCode));
        res.on('error', rejectDone);
      },
    );
    req.on('error', (err) => rejectDone(err));
    const write = req.write.bind(req);
    req.setContentType = (type) => {
      if (started) throw new InvalidStreamingOperation('Cannot set content-type, too late.');
      req.setHeader('Content-Type', type);
    };
    req.write = function (chunk, encoding, callback) {
      if (typeof chunk !== 'string' && !Buffer.isBuffer(chunk) && !(chunk instanceof Uint8Array)) {
        chunk = JSON.stringify(chunk);
      }
      if (!started && typeof this._onBeforeFirstWrite === 'function') {
        this._onBeforeFirstWrite((c) => write(c));
      }
      started = true;
      return write(chunk, encoding, callback);
    };
    // end(chunk) and an end() with nothing written go through write() too, so that the
    // HttpResponseStream prelude is always sent and objects are serialised as by write().
    const end = req.end.bind(req);
    req.end = function (chunk, encoding, callback) {
      if (typeof chunk === 'function') {
        callback = chunk;
        chunk = undefined;
      } else if (typeof encoding === 'function') {
        callback = encoding;
        encoding = undefined;
      }
      if (chunk !== undefined && chunk !== null) {
        this.write(chunk, encoding);
      } else if (!started && typeof this._onBeforeFirstWrite === 'function') {
        this.write('');
      }
      return end(callback);
    };
    const fail = (err) => {
      if (req.writableEnded) return;
      const body = toRapidResponse(err);
      req.addTrailers({
        [ERROR_TYPE_HEADER]: body.errorType,
        [ERROR_BODY_TRAILER]: Buffer.from(serialize(body)).toString('base64'),
      });
      req.end();
    };
    return { stream: req, done, fail };
  }
}

function serialize(value) {
  try {
    return JSON.stringify(value === undefined ? null : value);
  } catch (_) {
    throw new Error('Unable to stringify response body');
  }
}

// ---------------------------------------------------------------------------------------------
// Handler loading: [path/]module.export[.nested], module tried extensionless, .js, .mjs, .cjs.

const awslambdaGlobal = {
  streamifyResponse(handler, options) {
    handler[HANDLER_STREAMING] = STREAM_RESPONSE;
    if (typeof options?.highWaterMark === 'number') {
      handler[HANDLER_HIGHWATERMARK] = parseInt(options.highWaterMark);
    }
    return handler;
  },
  HttpResponseStream: class HttpResponseStream {
    static from(stream, prelude) {
      stream.setContentType('application/vnd.awslambda.http-integration-response');
      const json = JSON.stringify(prelude);
      stream._onBeforeFirstWrite = (write) => {
        write(json);
        write(new Uint8Array(8));
      };
      return stream;
    }
  },
};

function folderIsTypeModule(folder) {
  if (folder.endsWith('/node_modules')) return false;
  const pj = path.join(folder, 'package.json');
  if (fs.existsSync(pj)) {
    try {
      const pkg = JSON.parse(fs.readFileSync(pj));
      if (pkg) return pkg.type === 'module';
    } catch (e) {
      console.warn(`${pj} cannot be read, it will be ignored for ES module detection purposes.`, e);
      return false;
    }
  }
  if (folder === '/') return false;
  return folderIsTypeModule(path.resolve(folder, '..'));
}

function requireIfExists(file) {
  return fs.existsSync(file) ? require(file) : undefined;
}

async function importIfExists(file) {
  return fs.existsSync(file) ? await import(pathToFileURL(file).href) : undefined;
}

async function loadModule(appRoot, moduleRoot, moduleName) {
  const base = path.resolve(appRoot, moduleRoot, moduleName);
  const extensionless = requireIfExists(base);
  if (extensionless) return extensionless;
  const typeModule = folderIsTypeModule(path.dirname(base));
  if (!typeModule) {
    const cjs = requireIfExists(base + '.js');
    if (cjs) return cjs;
  }
  const loaded =
    (typeModule && (await importIfExists(base + '.js'))) ||
    (await importIfExists(base + '.mjs')) ||
    requireIfExists(base + '.cjs');
  if (loaded) return loaded;
  // Node-style resolution relative to the task root (node_modules packages, directories).
  return require(require.resolve(moduleName, { paths: [appRoot, moduleRoot] }));
}

async function loadHandler(appRoot, fullHandler) {
  if (fullHandler.includes('..')) {
    throw new MalformedHandlerName(
      `'${fullHandler}' is not a valid handler name. Use absolute paths when specifying root directories in handler names.`,
    );
  }
  const moduleAndHandler = path.basename(fullHandler);
  const moduleRoot = fullHandler.substring(0, fullHandler.indexOf(moduleAndHandler));
  const match = moduleAndHandler.match(/^([^.]*)\.(.*)$/);
  if (!match) throw new MalformedHandlerName('Bad handler');
  const [, moduleName, handlerPath] = match;

  const noGlobal = process.env.AWS_LAMBDA_NODEJS_NO_GLOBAL_AWSLAMBDA;
  if (noGlobal !== '1' && noGlobal !== 'true') globalThis.awslambda = awslambdaGlobal;

  let userModule;
  try {
    userModule = await loadModule(appRoot, moduleRoot, moduleName);
  } catch (e) {
    if (e instanceof SyntaxError) throw new UserCodeSyntaxError(e);
    if (e && e.code === 'MODULE_NOT_FOUND') throw new ImportModuleError(e);
    throw e;
  }
  const handler = handlerPath.split('.').reduce((obj, key) => obj && obj[key], userModule);
  if (!handler) throw new HandlerNotFound(`${fullHandler} is undefined or not exported`);
  if (typeof handler !== 'function') throw new HandlerNotFound(`${fullHandler} is not a function`);
  return handler;
}

function handlerMetadata(handler) {
  const mode = handler[HANDLER_STREAMING];
  if (mode !== undefined && mode !== null && mode !== false && mode !== STREAM_RESPONSE) {
    throw new MalformedStreamingHandler('Only response streaming is supported.');
  }
  return {
    streaming: mode === STREAM_RESPONSE,
    isAsync: handler?.constructor?.name === 'AsyncFunction',
    argsNum: handler.length,
  };
}

// nodejs24.x and later refuse callback-style handlers, as Lambda does.
function rejectDeprecatedCallback(meta) {
  const m = /^AWS_Lambda_nodejs(\d+)\.x$/.exec(process.env.AWS_EXECUTION_ENV || '');
  if (m && Number(m[1]) >= 24 && meta.argsNum >= 3 && !meta.streaming) {
    throw new CallbackHandlerDeprecated(
      'ERROR: AWS Lambda has removed support for callback-based function handlers starting with Node.js 24. ' +
        'You need to modify this function to use a supported handler signature to use Node.js 24 or later. ' +
        'For more information see https://docs.aws.amazon.com/lambda/latest/dg/nodejs-handler.html.',
    );
  }
}

// ---------------------------------------------------------------------------------------------
// Invocations

let beforeExitAction = () => {};
const onBeforeExit = (fn) => {
  beforeExitAction = fn;
};

// Process-level failures are reported against the current phase: init, then each invocation.
let reportFatal = (error, code) => {
  client.postInitError(error).finally(() => process.exit(code));
};

function parseJsonHeader(value, name) {
  if (value === undefined) return undefined;
  try {
    return JSON.parse(value);
  } catch (err) {
    throw new Error(`Cannot parse ${name} as json: ${err.toString()}`);
  }
}

function contextData(headers) {
  const traceId = headers['lambda-runtime-trace-id'];
  if (traceId) {
    process.env._X_AMZN_TRACE_ID = traceId;
  } else {
    delete process.env._X_AMZN_TRACE_ID;
  }
  const deadline = headers['lambda-runtime-deadline-ms'];
  return {
    functionVersion: process.env.AWS_LAMBDA_FUNCTION_VERSION,
    functionName: process.env.AWS_LAMBDA_FUNCTION_NAME,
    memoryLimitInMB: process.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
    logGroupName: process.env.AWS_LAMBDA_LOG_GROUP_NAME,
    logStreamName: process.env.AWS_LAMBDA_LOG_STREAM_NAME,
    clientContext: parseJsonHeader(headers['lambda-runtime-client-context'], 'ClientContext'),
    identity: parseJsonHeader(headers['lambda-runtime-cognito-identity'], 'CognitoIdentity'),
    invokedFunctionArn: headers['lambda-runtime-invoked-function-arn'],
    awsRequestId: headers['lambda-runtime-aws-request-id'],
    tenantId: headers['lambda-runtime-aws-tenant-id'],
    getRemainingTimeInMillis() {
      return deadline - Date.now();
    },
  };
}

function isPromise(value) {
  return value && typeof value.then === 'function';
}

// Resolves once the invocation's result or error has been posted and the next invocation may
// be fetched.
function invokeBuffered(handler, meta, id, headers, body) {
  return new Promise((next) => {
    const fatal = (err) => reportFatal(err, 1);
    let completed = false;
    let waitForEmptyEventLoop = true;

    const postError = (err) => {
      logError('Invoke Error', err);
      client.postError(id, err).then(() => next(), fatal);
    };
    const complete = (result) => {
      if (completed) {
        console.error(
          'Invocation has already been reported as done. Cannot call complete more than once per invocation.',
        );
        return;
      }
      completed = true;
      client.postResponse(id, serialize(result)).then(() => next(), fatal);
    };
    const rawCallback = (err, result) => {
      onBeforeExit(() => {});
      if (err !== undefined && err !== null) {
        postError(err);
      } else if (!waitForEmptyEventLoop) {
        complete(result);
      } else {
        onBeforeExit(() => setImmediate(() => complete(result)));
      }
    };
    const done = (err, result) => {
      onBeforeExit(() => {});
      if (err !== undefined && err !== null) postError(err);
      else complete(result);
    };

    // Only the first call of callback/done/succeed/fail counts.
    let finished = false;
    const once =
      (fn) =>
      (...args) => {
        if (!finished) {
          fn(...args);
          finished = true;
        }
      };
    const callback = once(rawCallback);
    const context = {
      get callbackWaitsForEmptyEventLoop() {
        return waitForEmptyEventLoop;
      },
      set callbackWaitsForEmptyEventLoop(value) {
        waitForEmptyEventLoop = value;
      },
      succeed: once((result) => done(null, result)),
      fail: once((err) => done(err === undefined || err === null ? 'handled' : err, null)),
      done: once(done),
    };

    reportFatal = (err, code) => {
      client.postError(id, err).finally(() => process.exit(code));
    };
    // The event loop ran empty without the handler reporting anything.
    onBeforeExit(() => {
      completed = true;
      if (meta.isAsync) {
        const err = new NodeJsExit(
          'The Lambda runtime client detected an unexpected Node.js exit code. This is most commonly caused by a Promise that was never settled. For more information, see https://nodejs.org/docs/latest/api/process.html#exit-codes',
        );
        logError('Invoke Error', err);
        client.postError(id, err).then(() => next(), fatal);
      } else {
        client.postResponse(id, 'null').then(() => next(), fatal);
      }
    });

    try {
      const result = handler(
        JSON.parse(body),
        Object.assign(context, contextData(headers)),
        callback,
      );
      if (isPromise(result)) {
        result.then(context.succeed, context.fail).catch(context.fail);
      }
    } catch (err) {
      callback(err);
    }
  });
}

async function invokeStreaming(handler, id, headers, body) {
  let waitForEmptyEventLoop = true;
  const { stream, done, fail: failStream } = client.responseStream(id);
  const fail = (err) => {
    logError('Invoke Error', err);
    failStream(err);
  };
  reportFatal = (err, code) => {
    failStream(err);
    const exit = () => process.exit(code);
    done.then(exit, exit);
  };
  onBeforeExit(() => {});
  try {
    const context = Object.assign(
      {
        get callbackWaitsForEmptyEventLoop() {
          return waitForEmptyEventLoop;
        },
        set callbackWaitsForEmptyEventLoop(value) {
          waitForEmptyEventLoop = value;
        },
      },
      contextData(headers),
    );
    const result = handler(JSON.parse(body), stream, context);
    if (!isPromise(result)) {
      fail('Streaming does not support non-async handlers.');
    } else {
      if ((await result) !== undefined) console.warn('Streaming handlers ignore return values.');
      if (!stream.writableEnded) fail('Response stream is not finished.');
    }
  } catch (err) {
    fail(err);
  }
  try {
    await done;
  } catch (_) {
    // The platform saw the stream break; nothing more to report.
  }
  if (waitForEmptyEventLoop) {
    await new Promise((resolve) => onBeforeExit(() => setImmediate(resolve)));
  }
}

let client;

// A pre-started runtime (LAMBENT_PRESTART=1) runs this far before any function exists: Node
// started and this module loaded. It then waits for the function's environment, which the host
// sends once the function's code is mounted, and becomes exactly the process an ordinary start
// would have made: same environment, same working directory.
async function awaitFunction() {
  const res = await client.request('GET', `${RUNTIME_PATH}/lambent/environment`);
  if (res.status !== 200) {
    throw new Error(`Runtime API /lambent/environment answered ${res.status}: ${res.body.toString()}`);
  }
  const environment = JSON.parse(res.body.toString('utf8'));
  for (const key of Object.keys(process.env)) delete process.env[key];
  Object.assign(process.env, environment);
  process.chdir(process.env.LAMBDA_TASK_ROOT || '/var/task');
}

async function main() {
  const address = process.env.AWS_LAMBDA_RUNTIME_API;
  if (!address) {
    process.stderr.write('AWS_LAMBDA_RUNTIME_API is not set\n');
    process.exit(2);
  }
  client = new RuntimeClient(address);
  if (process.env.LAMBENT_PRESTART === '1') await awaitFunction();
  JSON_FORMAT = (process.env.AWS_LAMBDA_LOG_FORMAT || '').toUpperCase() === 'JSON';
  patchConsole();

  process.on('uncaughtException', (error) => {
    logError('Uncaught Exception', error);
    reportFatal(error, 129);
  });
  process.on('unhandledRejection', (reason, promise) => {
    const error = new UnhandledPromiseRejection(reason);
    error.reason = reason;
    error.promise = promise;
    logError('Unhandled Promise Rejection', error);
    reportFatal(error, 128);
  });
  process.on('beforeExit', () => beforeExitAction());

  const appRoot = process.env.LAMBDA_TASK_ROOT || process.cwd();
  const handlerName = process.env._HANDLER || process.argv[2] || '';
  let handler;
  let meta;
  try {
    handler = await loadHandler(appRoot, handlerName);
    meta = handlerMetadata(handler);
    rejectDeprecatedCallback(meta);
  } catch (err) {
    logError('Uncaught Exception', err);
    client.postInitError(err).finally(() => process.exit(129));
    return;
  }

  for (;;) {
    const { headers, body } = await client.next();
    const id = headers['lambda-runtime-aws-request-id'];
    if (!id) throw new Error('Runtime API /invocation/next answered without Lambda-Runtime-Aws-Request-Id');
    setCurrentRequestId(id);
    const event = body.toString('utf8');
    if (meta.streaming) {
      await invokeStreaming(handler, id, headers, event);
    } else {
      await invokeBuffered(handler, meta, id, headers, event);
    }
  }
}

main().catch((err) => {
  process.stderr.write(`lambent node runtime: ${err && err.stack ? err.stack : err}\n`);
  process.exit(1);
});
