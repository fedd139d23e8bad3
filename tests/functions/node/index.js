// Node test function, CommonJS: one export per behaviour the tests check.
'use strict';

let count = 0; // module state: survives between invocations of one warm environment

exports.echo = async (event) => event;

exports.contextInfo = async (event, context) => ({
  functionName: context.functionName,
  functionVersion: context.functionVersion,
  memoryLimitInMB: context.memoryLimitInMB,
  invokedFunctionArn: context.invokedFunctionArn,
  awsRequestId: context.awsRequestId,
  logGroupName: context.logGroupName,
  logStreamName: context.logStreamName,
  remainingMs: context.getRemainingTimeInMillis(),
  nowMs: Date.now(),
  env: process.env,
  cwd: process.cwd(),
  clientContext: context.clientContext === undefined ? null : context.clientContext,
  event,
});

exports.counter = async () => {
  count += 1;
  return { count, pid: process.pid };
};

// The old callback style (still accepted by nodejs20.x).
exports.callback = (event, context, callback) => {
  setTimeout(() => callback(null, { style: 'callback', event, requestId: context.awsRequestId }), 10);
};

exports.callbackError = (event, context, callback) => {
  callback(new Error('callback failure'));
};

class BoomError extends Error {
  constructor(message) {
    super(message);
    this.name = 'BoomError';
  }
}

exports.fail = async (event) => {
  throw new BoomError('boom: ' + (event.why || 'no reason'));
};

exports.sleep = async (event) => {
  const seconds = event.seconds ?? 3;
  await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
  return { slept: seconds };
};

exports.crash = async (event) => {
  process.exit(event.code ?? 3);
};

exports.log = async (event) => {
  console.log('console line ' + event.marker);
  return { logged: event.marker };
};
