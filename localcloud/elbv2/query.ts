/**
 * The AWS Query protocol as ELBv2 speaks it: `member` lists (`Targets.member.1.Id`), its wording
 * of malformed parameters, `Marker`/`PageSize` pages, and responses and errors in the
 * `2015-12-01` namespace.
 */
import { AwsError } from '../contracts.ts';
import { byKey, lowerCamel, type Page, type Params, paginate, type QueryDialect } from '../query.ts';
import { document, errorDocument, type XmlObject } from '../xml.ts';

export const ELBV2_NAMESPACE = 'http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/';

const MAX_PAGE_SIZE = 400;

export function validationError(message: string): AwsError {
  return new AwsError('ValidationError', message);
}

const constraint = (name: string, raw: string | null, rule: string) =>
  validationError(
    `1 validation error detected: Value ${raw === null ? 'null' : `'${raw}'`} at '${lowerCamel(name)}' failed to satisfy constraint: ${rule}`,
  );

export const ELBV2_DIALECT: QueryDialect = {
  listInfix: 'member.',
  missing: ({ name }) => constraint(name, null, 'Member must not be null'),
  notAnInteger: ({ name }, raw) =>
    validationError(`Value '${raw}' at '${lowerCamel(name)}' is not a valid integer`),
  outOfRange: ({ name }, raw, { min, max }) =>
    Number(raw) < min
      ? constraint(name, raw, `Member must have value greater than or equal to ${min}`)
      : constraint(name, raw, `Member must have value less than or equal to ${max}`),
  notABoolean: ({ name }, raw) =>
    validationError(`Value '${raw}' at '${lowerCamel(name)}' is not a valid boolean`),
};

/** One of `allowed`, or `fallback` when absent. */
export function oneOf<T extends string>(
  params: Params,
  name: string,
  allowed: readonly T[],
  fallback?: T,
): T | undefined {
  const raw = params.get(name);
  if (raw === undefined || raw === '') return fallback;
  if ((allowed as readonly string[]).includes(raw)) return raw as T;
  throw constraint(name, raw, `Member must satisfy enum value set: [${allowed.join(', ')}]`);
}

/**
 * One page for `Marker`/`PageSize` over items sorted by a unique key. The marker is the key of the
 * next item, so deleting items between pages neither skips nor repeats others.
 */
export function pageOf<T>(items: readonly T[], params: Params, keyOf: (item: T) => string): Page<T> {
  return paginate(
    items,
    {
      token: params.get('Marker') || undefined,
      size: params.int('PageSize', { min: 1, max: MAX_PAGE_SIZE }) ?? MAX_PAGE_SIZE,
    },
    byKey(keyOf, (marker) => validationError(`Invalid marker '${marker}'`)),
  );
}

export function renderResponse(action: string, result: XmlObject, requestId: string): string {
  return document(
    `${action}Response`,
    { [`${action}Result`]: result, ResponseMetadata: { RequestId: requestId } },
    ELBV2_NAMESPACE,
  );
}

export function renderErrorResponse(error: AwsError, requestId: string): string {
  return errorDocument(error, requestId, ELBV2_NAMESPACE);
}
