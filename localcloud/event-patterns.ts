/**
 * EventBridge event patterns, matched the way EventBridge matches them, and the patterns
 * `serverless.yml` routes events by. The local cloud's event bus delivers an event to every
 * function whose pattern matches it; the packaging test checks the sample events against the
 * same patterns, so what is deployed and what runs locally cannot drift apart.
 *
 * Supported, per the EventBridge user guide ("Event patterns", "Content filtering"):
 * - exact values in arrays (`["a", 1, null, true]`), any element matching; an event array matches
 *   when any of its elements matches;
 * - nested objects; arrays of objects in the event match when one element matches as a whole;
 * - `prefix` and `suffix` (a string or `{ "equals-ignore-case": "…" }`), `equals-ignore-case`,
 *   `wildcard` (`*`, escaped with `\`), `anything-but` (a value, a list of values, or
 *   `prefix`/`suffix`/`equals-ignore-case`/`wildcard`), `numeric`, `cidr`, `exists`;
 * - `$or` at any level.
 *
 * A field the event does not have matches only `{ "exists": false }`. Objects are not leaves: an
 * intermediate node neither satisfies `{ "exists": true }` nor any value matcher.
 *
 * @example
 * matchesPattern({ source: ['aws.ec2'], detail: { state: [{ 'anything-but': 'pending' }] } }, event);
 */

import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parse } from 'yaml';

/** A pattern as EventBridge takes it: fields mapping to arrays of matchers or to nested patterns. */
export type EventPattern = { [field: string]: unknown };

/** A pattern EventBridge would reject; `path` names the offending field. */
export class EventPatternError extends Error {
  override name = 'EventPatternError';
  constructor(
    /** What is wrong, without the location. */
    readonly reason: string,
    readonly path: string,
    options?: { cause?: unknown },
  ) {
    super(`Invalid event pattern at "${path || '(root)'}": ${reason}`, options);
  }
}

/** A compiled pattern: call it with an event. */
export type EventMatcher = (event: unknown) => boolean;

type Leaf = string | number | boolean | null;
type ValueTest = (values: readonly Leaf[]) => boolean;
type NodeTest = (node: unknown) => boolean;

const MISSING = Symbol('missing');

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isLeaf(value: unknown): value is Leaf {
  return value === null || ['string', 'number', 'boolean'].includes(typeof value);
}

function join(path: string, key: string): string {
  if (!key) return path;
  return path ? `${path}.${key}` : key;
}

/** The leaf values at a field: nothing when missing, the scalar elements of an array, or the scalar. */
function leafValues(value: unknown): Leaf[] {
  if (value === MISSING) return [];
  if (Array.isArray(value)) return value.flat(Number.POSITIVE_INFINITY).filter(isLeaf);
  return isLeaf(value) ? [value] : [];
}

function sameLiteral(expected: Leaf, actual: Leaf): boolean {
  return typeof expected === typeof actual && expected === actual;
}

function requireString(value: unknown, path: string, what: string): string {
  if (typeof value !== 'string') throw new EventPatternError(`${what} takes a string`, path);
  return value;
}

function requireStrings(value: unknown, path: string, what: string): string[] {
  const list = Array.isArray(value) ? value : [value];
  if (list.length === 0 || !list.every((item) => typeof item === 'string')) {
    throw new EventPatternError(`${what} takes a string or a non-empty list of strings`, path);
  }
  return list as string[];
}

/** `prefix`/`suffix` take a string or `{ "equals-ignore-case": "…" }`. */
function affixTest(kind: 'prefix' | 'suffix', operand: unknown, path: string): (value: string) => boolean {
  let affix: string;
  let ignoreCase = false;
  if (isPlainObject(operand)) {
    const keys = Object.keys(operand);
    if (keys.length !== 1 || keys[0] !== 'equals-ignore-case') {
      throw new EventPatternError(`"${kind}" takes a string or { "equals-ignore-case": "…" }`, path);
    }
    affix = requireString(operand['equals-ignore-case'], path, `"${kind}" with "equals-ignore-case"`);
    ignoreCase = true;
  } else {
    affix = requireString(operand, path, `"${kind}"`);
  }
  const wanted = ignoreCase ? affix.toLowerCase() : affix;
  return (value) => {
    const subject = ignoreCase ? value.toLowerCase() : value;
    return kind === 'prefix' ? subject.startsWith(wanted) : subject.endsWith(wanted);
  };
}

/** `*` matches any run of characters; `\*` is a literal star and `\\` a literal backslash. */
function wildcardTest(wildcard: string, path: string): (value: string) => boolean {
  let source = '';
  for (let i = 0; i < wildcard.length; i++) {
    const char = wildcard[i]!;
    if (char === '\\') {
      const next = wildcard[i + 1];
      if (next !== '*' && next !== '\\') {
        throw new EventPatternError('"wildcard" allows "\\" only before "*" or "\\"', path);
      }
      source += `\\${next}`;
      i++;
    } else if (char === '*') {
      if (wildcard[i + 1] === '*') throw new EventPatternError('"wildcard" does not allow "**"', path);
      source += '[\\s\\S]*';
    } else {
      source += char.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
    }
  }
  const regex = new RegExp(`^${source}$`);
  return (value) => regex.test(value);
}

const NUMERIC_OPERATORS: Record<string, (a: number, b: number) => boolean> = {
  '=': (a, b) => a === b,
  '<': (a, b) => a < b,
  '<=': (a, b) => a <= b,
  '>': (a, b) => a > b,
  '>=': (a, b) => a >= b,
};

function numericTest(operand: unknown, path: string): (value: number) => boolean {
  if (!Array.isArray(operand) || operand.length === 0 || operand.length % 2 !== 0 || operand.length > 4) {
    throw new EventPatternError(
      '"numeric" takes [operator, number] or [operator, number, operator, number]',
      path,
    );
  }
  if (operand.length === 4) {
    const directions = [operand[0], operand[2]].map((operator) => String(operator).charAt(0)).sort();
    if (directions.join('') !== '<>') {
      throw new EventPatternError(
        'a "numeric" range needs one lower bound (">", ">=") and one upper bound ("<", "<=")',
        path,
      );
    }
  }
  const checks: Array<(value: number) => boolean> = [];
  for (let i = 0; i < operand.length; i += 2) {
    const operator = operand[i];
    const bound = operand[i + 1];
    const compare = typeof operator === 'string' ? NUMERIC_OPERATORS[operator] : undefined;
    if (!compare || typeof bound !== 'number' || !Number.isFinite(bound)) {
      throw new EventPatternError(
        `"numeric" needs operators among ${Object.keys(NUMERIC_OPERATORS).join(' ')} each followed by a number`,
        path,
      );
    }
    checks.push((value) => compare(value, bound));
  }
  return (value) => checks.every((check) => check(value));
}

/** An IP address as a bigint with its width in bits, or undefined when `text` is not one. */
function parseIp(text: string): { bits: 32 | 128; value: bigint } | undefined {
  const v4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  if (v4) {
    const octets = v4.slice(1).map(Number);
    if (octets.some((octet) => octet > 255)) return undefined;
    return { bits: 32, value: octets.reduce((acc, octet) => (acc << 8n) | BigInt(octet), 0n) };
  }
  if (!text.includes(':') || !/^[0-9a-fA-F:]+$/.test(text)) return undefined;
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const groups = (half: string | undefined) => (half ? half.split(':') : []);
  const head = groups(halves[0]);
  const tail = groups(halves[1]);
  const missing = 8 - head.length - tail.length;
  if ((halves.length === 1 && missing !== 0) || (halves.length === 2 && missing < 1)) return undefined;
  const all = [...head, ...Array<string>(halves.length === 2 ? missing : 0).fill('0'), ...tail];
  if (!all.every((group) => /^[0-9a-fA-F]{1,4}$/.test(group))) return undefined;
  return {
    bits: 128,
    value: all.reduce((acc, group) => (acc << 16n) | BigInt(Number.parseInt(group, 16)), 0n),
  };
}

function cidrTest(operand: unknown, path: string): (value: string) => boolean {
  const text = requireString(operand, path, '"cidr"');
  const [address, lengthText] = text.split('/');
  const network = address === undefined ? undefined : parseIp(address);
  const length = Number(lengthText);
  if (
    !network ||
    !Number.isInteger(length) ||
    length < 0 ||
    length > network.bits ||
    !/^\d+$/.test(lengthText ?? '')
  ) {
    throw new EventPatternError(
      `"cidr" takes an IPv4 or IPv6 block such as 10.0.0.0/16, not ${JSON.stringify(text)}`,
      path,
    );
  }
  const shift = BigInt(network.bits - length);
  return (value) => {
    const ip = parseIp(value);
    return ip !== undefined && ip.bits === network.bits && ip.value >> shift === network.value >> shift;
  };
}

function equalsIgnoreCaseTest(operand: unknown, path: string): (value: string) => boolean {
  const wanted = requireStrings(operand, path, '"equals-ignore-case"').map((item) => item.toLowerCase());
  return (value) => wanted.includes(value.toLowerCase());
}

/** `anything-but`: true for a value the inner test rejects. Only values of the inner test's type count. */
function anythingButTest(operand: unknown, path: string): ValueTest {
  if (isPlainObject(operand)) {
    const keys = Object.keys(operand);
    const kind = keys[0];
    if (keys.length !== 1) throw new EventPatternError('"anything-but" takes one matcher', path);
    let excluded: (value: string) => boolean;
    if (kind === 'prefix' || kind === 'suffix') {
      excluded = affixTest(kind, operand[kind], join(path, kind));
    } else if (kind === 'equals-ignore-case') {
      excluded = equalsIgnoreCaseTest(operand[kind], join(path, kind));
    } else if (kind === 'wildcard') {
      const tests = requireStrings(operand[kind], join(path, kind), '"wildcard"').map((w) =>
        wildcardTest(w, path),
      );
      excluded = (value) => tests.some((test) => test(value));
    } else {
      throw new EventPatternError(
        `"anything-but" supports prefix, suffix, equals-ignore-case and wildcard, not ${JSON.stringify(kind)}`,
        path,
      );
    }
    return (values) => values.some((value) => typeof value === 'string' && !excluded(value));
  }
  const list = Array.isArray(operand) ? operand : [operand];
  if (list.length === 0 || !list.every((item) => typeof item === 'string' || typeof item === 'number')) {
    throw new EventPatternError(
      '"anything-but" takes a string, a number, a list of either, or a matcher',
      path,
    );
  }
  const excluded = list as Array<string | number>;
  return (values) => values.some((value) => !excluded.some((item) => sameLiteral(item, value)));
}

function onStrings(test: (value: string) => boolean): ValueTest {
  return (values) => values.some((value) => typeof value === 'string' && test(value));
}

/** One element of a leaf array: a literal or a one-key matcher object. */
function compileMatcher(matcher: unknown, path: string): ValueTest {
  if (isLeaf(matcher)) {
    return (values) => values.some((value) => sameLiteral(matcher, value));
  }
  if (!isPlainObject(matcher))
    throw new EventPatternError('matchers are values or objects such as { "prefix": "…" }', path);
  const keys = Object.keys(matcher);
  if (keys.length !== 1) {
    throw new EventPatternError(`a matcher object has exactly one key, not ${JSON.stringify(keys)}`, path);
  }
  const kind = keys[0]!;
  const operand = matcher[kind];
  switch (kind) {
    case 'exists': {
      if (typeof operand !== 'boolean') throw new EventPatternError('"exists" takes true or false', path);
      return (values) => values.length > 0 === operand;
    }
    case 'prefix':
    case 'suffix':
      return onStrings(affixTest(kind, operand, path));
    case 'equals-ignore-case':
      return onStrings(equalsIgnoreCaseTest(requireString(operand, path, '"equals-ignore-case"'), path));
    case 'wildcard':
      return onStrings(wildcardTest(requireString(operand, path, '"wildcard"'), path));
    case 'anything-but':
      return anythingButTest(operand, path);
    case 'numeric': {
      const test = numericTest(operand, path);
      return (values) => values.some((value) => typeof value === 'number' && test(value));
    }
    case 'cidr':
      return onStrings(cidrTest(operand, path));
    default:
      throw new EventPatternError(`unknown matcher ${JSON.stringify(kind)}`, path);
  }
}

function compileLeaf(matchers: unknown[], path: string): NodeTest {
  if (matchers.length === 0) throw new EventPatternError('a list of matchers cannot be empty', path);
  const compiled = matchers.map((matcher, index) => compileMatcher(matcher, `${path}[${index}]`));
  return (node) => {
    const values = leafValues(node);
    return compiled.some((test) => test(values));
  };
}

function compileObject(pattern: Record<string, unknown>, path: string): NodeTest {
  const keys = Object.keys(pattern);
  if (keys.length === 0) throw new EventPatternError('a pattern object needs at least one field', path);
  const tests = keys.map((key): NodeTest => {
    const rule = pattern[key];
    const at = join(path, key);
    if (key === '$or') {
      if (!Array.isArray(rule) || rule.length < 2 || !rule.every(isPlainObject)) {
        throw new EventPatternError('"$or" takes a list of at least two pattern objects', at);
      }
      const alternatives = rule.map((alternative, index) => compileObject(alternative, `${at}[${index}]`));
      return (node) => alternatives.some((alternative) => alternative(node));
    }
    if (Array.isArray(rule)) {
      const leaf = compileLeaf(rule, at);
      return (node) => leaf(fieldOf(node, key));
    }
    if (isPlainObject(rule)) {
      const nested = compileObject(rule, at);
      return (node) => {
        const child = fieldOf(node, key);
        if (Array.isArray(child)) {
          const objects = child.filter(isPlainObject);
          return objects.length > 0 ? objects.some((element) => nested(element)) : nested(MISSING);
        }
        return nested(isPlainObject(child) ? child : MISSING);
      };
    }
    throw new EventPatternError(
      'each field must map to a list of matchers or to a nested pattern object',
      at,
    );
  });
  return (node) => tests.every((test) => test(node));
}

function fieldOf(node: unknown, key: string): unknown {
  if (!isPlainObject(node) || !Object.hasOwn(node, key)) return MISSING;
  return node[key];
}

/**
 * Validates `pattern` and returns a function that tells whether an event matches it.
 * Throws {@link EventPatternError} for a pattern EventBridge would reject. Compile once, match often.
 */
export function compilePattern(pattern: unknown): EventMatcher {
  if (!isPlainObject(pattern)) throw new EventPatternError('a pattern is a JSON object', '');
  const test = compileObject(pattern, '');
  return (event) => test(event);
}

/** Whether `event` matches `pattern`, as EventBridge decides it. */
export function matchesPattern(pattern: EventPattern, event: unknown): boolean {
  return compilePattern(pattern)(event);
}

/** An EventBridge rule of `serverless.yml`: which function receives the events matching `pattern`. */
export interface FunctionPattern {
  /** The function's key under `functions:` (e.g. `interruption`). */
  functionName: string;
  /** The handler, e.g. `functions/interruption/handler.handler`. */
  handler: string;
  pattern: EventPattern;
}

function assertResolved(value: unknown, path: string): void {
  if (typeof value === 'string' && value.includes('${')) {
    throw new EventPatternError(
      `contains the Serverless variable ${JSON.stringify(value)}; write patterns literally`,
      path,
    );
  }
  if (Array.isArray(value)) {
    for (const [index, item] of value.entries()) assertResolved(item, `${path}[${index}]`);
  } else if (isPlainObject(value)) {
    for (const [key, item] of Object.entries(value)) assertResolved(item, join(path, key));
  }
}

/**
 * The `eventBridge` patterns of every function in a Serverless file, one entry per rule, in file
 * order. Patterns are validated, so a bad pattern fails here rather than at deploy. A relative
 * `path` resolves from the current directory. CloudFormation intrinsics must be in long form
 * (`Ref:`), which is how `serverless.yml` writes them.
 *
 * @example
 * const routes = loadFunctionPatterns();
 * const targets = routes.filter((route) => matchesPattern(route.pattern, event)).map((r) => r.handler);
 */
export function loadFunctionPatterns(path = 'serverless.yml'): FunctionPattern[] {
  const document: unknown = parse(readFileSync(resolve(path), 'utf8'));
  const functions = isPlainObject(document) ? document['functions'] : undefined;
  if (!isPlainObject(functions)) throw new Error(`${path} has no "functions" section.`);
  const routes: FunctionPattern[] = [];
  for (const [functionName, definition] of Object.entries(functions)) {
    if (!isPlainObject(definition)) continue;
    const handler = definition['handler'];
    const events = definition['events'];
    if (typeof handler !== 'string' || !Array.isArray(events)) continue;
    events.forEach((event, index) => {
      const eventBridge = isPlainObject(event) ? event['eventBridge'] : undefined;
      if (!isPlainObject(eventBridge) || eventBridge['pattern'] === undefined) return;
      const pattern = eventBridge['pattern'];
      const at = `functions.${functionName}.events[${index}].eventBridge.pattern`;
      assertResolved(pattern, at);
      try {
        compilePattern(pattern);
      } catch (error) {
        if (error instanceof EventPatternError) {
          throw new EventPatternError(error.reason, join(at, error.path), { cause: error });
        }
        throw error;
      }
      routes.push({ functionName, handler, pattern: pattern as EventPattern });
    });
  }
  return routes;
}
