/**
 * The AWS Query protocol as ELBv2 speaks it: reading form parameters (`Targets.member.1.Id`) and
 * writing XML responses and errors in the `2015-12-01` namespace.
 */
import { AwsError } from '../contracts.ts';

export const ELBV2_NAMESPACE = 'http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/';

export type Params = Record<string, string>;

/** `Prefix.member.N` values, in N order. */
export function memberList(params: Params, prefix: string): string[] {
  const found: Array<[number, string]> = [];
  const head = `${prefix}.member.`;
  for (const [key, value] of Object.entries(params)) {
    if (!key.startsWith(head)) continue;
    const index = key.slice(head.length);
    if (/^\d+$/.test(index)) found.push([Number(index), value]);
  }
  return found.sort((a, b) => a[0] - b[0]).map(([, value]) => value);
}

/** `Prefix.member.N.Field…` as one record per N, keyed by what follows `N.`, in N order. */
export function memberStructs(params: Params, prefix: string): Params[] {
  const byIndex = new Map<number, Params>();
  const head = `${prefix}.member.`;
  for (const [key, value] of Object.entries(params)) {
    if (!key.startsWith(head)) continue;
    const rest = key.slice(head.length);
    const dot = rest.indexOf('.');
    if (dot <= 0) continue;
    const index = rest.slice(0, dot);
    if (!/^\d+$/.test(index)) continue;
    const struct = byIndex.get(Number(index)) ?? {};
    struct[rest.slice(dot + 1)] = value;
    byIndex.set(Number(index), struct);
  }
  return [...byIndex.entries()].sort((a, b) => a[0] - b[0]).map(([, struct]) => struct);
}

/** AWS names members in validation messages in lower camel case (`targetGroupArn`). */
function memberName(param: string): string {
  return param.charAt(0).toLowerCase() + param.slice(1);
}

export function validationError(message: string): AwsError {
  return new AwsError('ValidationError', message);
}

export function required(params: Params, name: string): string {
  const value = params[name];
  if (value === undefined || value === '') {
    throw validationError(
      `1 validation error detected: Value null at '${memberName(name)}' failed to satisfy constraint: Member must not be null`,
    );
  }
  return value;
}

/** An optional integer parameter within [min, max]; `undefined` when absent. */
export function optionalInt(params: Params, name: string, min: number, max: number): number | undefined {
  const raw = params[name];
  if (raw === undefined || raw === '') return undefined;
  const value = Number(raw);
  if (!Number.isInteger(value)) {
    throw validationError(`Value '${raw}' at '${memberName(name)}' is not a valid integer`);
  }
  if (value < min) {
    throw validationError(
      `1 validation error detected: Value '${raw}' at '${memberName(name)}' failed to satisfy constraint: Member must have value greater than or equal to ${min}`,
    );
  }
  if (value > max) {
    throw validationError(
      `1 validation error detected: Value '${raw}' at '${memberName(name)}' failed to satisfy constraint: Member must have value less than or equal to ${max}`,
    );
  }
  return value;
}

export function optionalBool(params: Params, name: string): boolean | undefined {
  const raw = params[name];
  if (raw === undefined || raw === '') return undefined;
  if (raw === 'true') return true;
  if (raw === 'false') return false;
  throw validationError(`Value '${raw}' at '${memberName(name)}' is not a valid boolean`);
}

export function oneOf<T extends string>(
  params: Params,
  name: string,
  allowed: readonly T[],
  fallback?: T,
): T | undefined {
  const raw = params[name];
  if (raw === undefined || raw === '') return fallback;
  if ((allowed as readonly string[]).includes(raw)) return raw as T;
  throw validationError(
    `1 validation error detected: Value '${raw}' at '${memberName(name)}' failed to satisfy constraint: Member must satisfy enum value set: [${allowed.join(', ')}]`,
  );
}

export function escapeXml(text: string): string {
  return text
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;');
}

/** `<Name>value</Name>`, or nothing when the value is absent. */
export function leaf(name: string, value: string | number | boolean | Date | undefined): string {
  if (value === undefined) return '';
  const text = value instanceof Date ? value.toISOString() : String(value);
  return `<${name}>${escapeXml(text)}</${name}>`;
}

/** `<Name>…children…</Name>`. */
export function node(name: string, ...children: string[]): string {
  return `<${name}>${children.join('')}</${name}>`;
}

/** A list of already-rendered members: `<Name><member>…</member>…</Name>`. */
export function members(name: string, items: readonly string[]): string {
  if (items.length === 0) return `<${name}/>`;
  return `<${name}>${items.map((item) => `<member>${item}</member>`).join('')}</${name}>`;
}

/** A list of plain strings. */
export function stringMembers(name: string, items: readonly string[]): string {
  return members(name, items.map(escapeXml));
}

export function renderResponse(action: string, result: string, requestId: string): string {
  return (
    `<${action}Response xmlns="${ELBV2_NAMESPACE}">` +
    (result === '' ? `<${action}Result/>` : `<${action}Result>${result}</${action}Result>`) +
    `<ResponseMetadata><RequestId>${escapeXml(requestId)}</RequestId></ResponseMetadata>` +
    `</${action}Response>`
  );
}

export function renderErrorResponse(error: AwsError, requestId: string): string {
  const type = error.httpStatus >= 500 ? 'Receiver' : 'Sender';
  return (
    `<ErrorResponse xmlns="${ELBV2_NAMESPACE}">` +
    `<Error><Type>${type}</Type>${leaf('Code', error.code)}${leaf('Message', error.message)}</Error>` +
    `<RequestId>${escapeXml(requestId)}</RequestId>` +
    `</ErrorResponse>`
  );
}
