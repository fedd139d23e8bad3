// Node test function as an ES module (index.mjs style, `export const handler`).
import { platform } from 'node:os';

let count = 0;

export const handler = async (event, context) => {
  count += 1;
  return {
    module: 'esm',
    count,
    platform: platform(),
    event,
    awsRequestId: context.awsRequestId,
    functionName: context.functionName,
  };
};

export const echo = async (event) => event;
