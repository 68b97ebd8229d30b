// The JavaScript side of a session: one persistent `vm` context, driven by the worker.
//
// Started by js_ops.py as `node js_driver.js REQUEST_FD REPLY_FD`. Requests and replies are
// one JSON object per line on those two descriptors, so nothing the session's code writes
// (console.log goes to fd 1 and 2, which the worker captures) can corrupt the protocol.
// Request: {code, count, timeout_ms}. Reply: {value, json, has_json, truncated, error}.
'use strict';

const fs = require('fs');
const util = require('util');
const vm = require('vm');

const REQUEST_FD = Number(process.argv[2]);
const REPLY_FD = Number(process.argv[3]);
const VALUE_CAP = Number(process.argv[4]) || 65536;
const JSON_MAX_DEPTH = 64;
const DECLARATION = /^(?:let|const|var)\s+([A-Za-z_$][\w$]*)\s*=/;
const STATEMENT_START =
  /^(?:(?:let|const|var|function|async\s+function|class|if|for|while|do|switch|try|return|throw|import|export|break|continue)\b|[}{)\]])/;

const context = vm.createContext({
  console,
  process,
  require,
  Buffer,
  URL,
  URLSearchParams,
  TextEncoder,
  TextDecoder,
  AbortController,
  structuredClone,
  fetch: globalThis.fetch,
  setTimeout,
  clearTimeout,
  setInterval,
  clearInterval,
  setImmediate,
  clearImmediate,
  queueMicrotask,
});

// Errors of callbacks that outlive their run must not end the context.
process.on('uncaughtException', (error) => console.error('Uncaught', error));
process.on('unhandledRejection', (reason) => console.error('Unhandled promise rejection:', reason));

// `await` at the top level: run the cell as an async function. Top-level declarations
// become assignments to the context's globals, so they persist like in a plain cell,
// and a last line that is an expression is returned.
function asAsync(code) {
  const lines = code.split('\n').map((line) => line.replace(DECLARATION, '$1 ='));
  let last = lines.length - 1;
  while (last >= 0 && lines[last].trim() === '') last -= 1;
  if (last >= 0 && !/^\s/.test(lines[last]) && !STATEMENT_START.test(lines[last].trim())) {
    lines[last] = `return (${lines[last].replace(/;\s*$/, '')});`;
  }
  return `(async () => {\n${lines.join('\n')}\n})()`;
}

function isJson(value, depth) {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return true;
  if (typeof value === 'number') return Number.isFinite(value);
  if (typeof value !== 'object' || depth > JSON_MAX_DEPTH) return false;
  if (Array.isArray(value)) return value.every((item) => isJson(item, depth + 1));
  const proto = Object.getPrototypeOf(value);
  const plain = proto === null || (proto.constructor && proto.constructor.name === 'Object');
  return plain && Object.values(value).every((item) => isJson(item, depth + 1));
}

function errorOf(error) {
  if (error && typeof error === 'object' && 'message' in error) {
    const timedOut = error.code === 'ERR_SCRIPT_EXECUTION_TIMEOUT';
    return {
      type: timedOut ? 'TimeoutError' : String(error.name || 'Error'),
      message: String(error.message),
      traceback: String(error.stack || ''),
    };
  }
  return { type: 'Uncaught', message: util.inspect(error), traceback: '' };
}

function withDeadline(promise, ms) {
  if (!ms) return promise;
  let timer;
  const deadline = new Promise((_, reject) => {
    timer = setTimeout(() => {
      const error = new Error(`the awaited code did not finish within ${ms} ms (it may still run in the background)`);
      error.name = 'TimeoutError';
      reject(error);
    }, ms);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

function compile(code, filename) {
  try {
    return { script: new vm.Script(code, { filename }), async: false };
  } catch (error) {
    if (!(error instanceof SyntaxError) || !/await/.test(error.message)) throw error;
    return { script: new vm.Script(asAsync(code), { filename }), async: true };
  }
}

async function evaluate(request) {
  const options = { breakOnSigint: true };
  if (request.timeout_ms) options.timeout = request.timeout_ms;
  try {
    const { script, async } = compile(request.code, `<js-cell-${request.count}>`);
    let value = script.runInContext(context, options);
    if (async) value = await withDeadline(value, request.timeout_ms);
    if (value === undefined) return { value: null, json: null, has_json: false, error: null };
    const shown = util.inspect(value, { depth: 6, maxArrayLength: 200, breakLength: 120 });
    const json = isJson(value, 0) && JSON.stringify(value).length <= VALUE_CAP ? value : null;
    const truncated = shown.length > VALUE_CAP;
    return { value: shown.slice(0, VALUE_CAP), json, has_json: json !== null || value === null, truncated, error: null };
  } catch (error) {
    return { value: null, json: null, has_json: false, error: errorOf(error) };
  }
}

let pending = '';
let queue = Promise.resolve();
const requests = fs.createReadStream(null, { fd: REQUEST_FD });
requests.on('data', (chunk) => {
  pending += chunk.toString('utf8');
  let newline;
  while ((newline = pending.indexOf('\n')) >= 0) {
    const line = pending.slice(0, newline);
    pending = pending.slice(newline + 1);
    const request = JSON.parse(line);
    queue = queue.then(async () => {
      const reply = await evaluate(request);
      fs.writeSync(REPLY_FD, JSON.stringify(reply) + '\n');
    });
  }
});
requests.on('end', () => process.exit(0));
