import { AwsError } from '../contracts.ts';
import { invalidParameterValue, missingParameter } from './errors.ts';

/**
 * Reads EC2 Query parameters (`InstanceId.1`, `Filter.1.Value.2`, `LaunchTemplate.Version`, …).
 * A `Params` may be scoped to a prefix (`LaunchTemplateData.`) so the same reader parses a launch
 * template's data and a RunInstances request.
 */
export class Params {
  constructor(
    private readonly raw: Readonly<Record<string, string>>,
    private readonly prefix = '',
  ) {}

  private key(name: string) {
    return this.prefix + name;
  }

  get(name: string): string | undefined {
    return this.raw[this.key(name)];
  }

  required(name: string): string {
    const value = this.get(name);
    if (value === undefined || value === '') throw missingParameter(this.key(name));
    return value;
  }

  int(name: string): number | undefined {
    const value = this.get(name);
    if (value === undefined) return undefined;
    const parsed = Number(value);
    if (!Number.isInteger(parsed))
      throw invalidParameterValue(`Invalid value '${value}' for ${this.key(name)}`);
    return parsed;
  }

  bool(name: string): boolean | undefined {
    const value = this.get(name);
    if (value === undefined) return undefined;
    if (value === 'true') return true;
    if (value === 'false') return false;
    throw invalidParameterValue(`Invalid value '${value}' for ${this.key(name)}: expecting true or false`);
  }

  /** True when `name` or any `name.…` parameter is present. */
  has(name: string): boolean {
    const key = this.key(name);
    return Object.keys(this.raw).some((k) => k === key || k.startsWith(`${key}.`));
  }

  /** True when any parameter lies under this reader's prefix. */
  present(): boolean {
    return Object.keys(this.raw).some((k) => k.startsWith(this.prefix));
  }

  /** The numbered indexes present under `name` (`name.1…`), in order. */
  private indexes(name: string): number[] {
    const key = `${this.key(name)}.`;
    const found = new Set<number>();
    for (const k of Object.keys(this.raw)) {
      if (!k.startsWith(key)) continue;
      const index = Number(k.slice(key.length).split('.')[0]);
      if (Number.isInteger(index) && index > 0) found.add(index);
    }
    return [...found].sort((a, b) => a - b);
  }

  /** `name.1`, `name.2`, … as strings. */
  strings(name: string): string[] {
    return this.indexes(name)
      .map((i) => this.get(`${name}.${i}`))
      .filter((value): value is string => value !== undefined);
  }

  /** `name.1.*`, `name.2.*`, … as scoped readers. */
  structs(name: string): Params[] {
    return this.indexes(name).map((i) => this.scope(`${name}.${i}`));
  }

  scope(name: string): Params {
    return new Params(this.raw, `${this.key(name)}.`);
  }

  /** The flat parameters, for fingerprinting a request. */
  entries(): [string, string][] {
    return Object.entries(this.raw).filter(([k]) => k.startsWith(this.prefix));
  }

  filters(): Filter[] {
    return this.structs('Filter').map((f) => ({ name: f.required('Name'), values: f.strings('Value') }));
  }

  get dryRun(): boolean {
    return this.bool('DryRun') ?? false;
  }
}

export interface Filter {
  name: string;
  values: string[];
}

/** EC2 filter values may use `*` (any run of characters) and `?` (one character). */
function glob(pattern: string): RegExp {
  const source = pattern.replace(/[.+^${}()|[\]\\*?]/g, (c) =>
    c === '*' ? '.*' : c === '?' ? '.' : `\\${c}`,
  );
  return new RegExp(`^${source}$`, 's');
}

function matchesAny(values: readonly string[], actual: string | readonly (string | undefined)[] | undefined) {
  const candidates = (Array.isArray(actual) ? actual : [actual]).filter((a): a is string => a !== undefined);
  return values.some((value) => {
    const pattern = glob(value);
    return candidates.some((candidate) => pattern.test(candidate));
  });
}

/**
 * What a filter name means for one kind of resource: a function from the resource to the value(s)
 * the filter compares with. `tag:<key>`, `tag-key` and `tag-value` come from `tags`.
 */
export type FilterFields<T> = Record<
  string,
  (item: T) => string | readonly (string | undefined)[] | undefined
>;

/** Keeps the items that pass every filter (values of one filter are ORed, filters are ANDed). */
export function applyFilters<T>(
  items: readonly T[],
  filters: readonly Filter[],
  fields: FilterFields<T>,
  tags: (item: T) => ReadonlyMap<string, string>,
): T[] {
  for (const filter of filters) {
    const known =
      filter.name in fields ||
      filter.name.startsWith('tag:') ||
      filter.name === 'tag-key' ||
      filter.name === 'tag-value';
    if (!known) throw invalidParameterValue(`The filter '${filter.name}' is invalid`);
  }
  return items.filter((item) =>
    filters.every((filter) => {
      const field = fields[filter.name];
      if (field) return matchesAny(filter.values, field(item));
      const itemTags = tags(item);
      if (filter.name.startsWith('tag:'))
        return matchesAny(filter.values, itemTags.get(filter.name.slice(4)));
      if (filter.name === 'tag-key') return matchesAny(filter.values, [...itemTags.keys()]);
      return matchesAny(filter.values, [...itemTags.values()]);
    }),
  );
}

/** One page of `items` for `MaxResults`/`NextToken`; the token is the offset of the next page. */
export function paginate<T>(
  items: readonly T[],
  params: Params,
  limits: { min: number; max: number } = { min: 5, max: 1000 },
): { page: T[]; nextToken?: string } {
  const maxResults = params.int('MaxResults');
  const token = params.get('NextToken');
  let offset = 0;
  if (token !== undefined) {
    const decoded = Number(
      Buffer.from(token, 'base64url')
        .toString('utf8')
        .replace(/^offset:/, ''),
    );
    if (!Number.isInteger(decoded) || decoded < 0) {
      throw new AwsError(
        'InvalidPaginationToken',
        'The specified pagination token is not valid or is expired.',
      );
    }
    offset = decoded;
  }
  if (maxResults === undefined) return { page: items.slice(offset) };
  if (maxResults < limits.min || maxResults > limits.max) {
    throw invalidParameterValue(
      `Value ( ${maxResults} ) for parameter maxResults is invalid. Expecting a value between ${limits.min} and ${limits.max}.`,
    );
  }
  const end = offset + maxResults;
  const page = items.slice(offset, end);
  return end < items.length
    ? { page, nextToken: Buffer.from(`offset:${end}`).toString('base64url') }
    : { page };
}
