/**
 * Reading the AWS Query protocol's form parameters and paging through results, for every service
 * of the local cloud. The services differ in how they number lists and word their errors; each
 * says so once in a {@link QueryDialect}.
 *
 * @example
 * const params = new Params({ 'Targets.member.1.Id': 'i-0abc', 'Targets.member.1.Port': '80' }, ELBV2_DIALECT);
 * params.structs('Targets').map((target) => target.int('Port', { min: 1, max: 65535 })); // [80]
 */
import type { AwsError } from './contracts.ts';

/** A parameter as the request names it: `name` relative to the struct read, `key` the whole form key. */
export interface ParamName {
  name: string;
  key: string;
}

export interface IntRange {
  min: number;
  max: number;
}

/** AWS names parameters in lower camel case in its messages (`targetGroupArn`, `maxResults`). */
export function lowerCamel(name: string): string {
  return name.charAt(0).toLowerCase() + name.slice(1);
}

/** How one service numbers the entries of a list and words a malformed parameter. */
export interface QueryDialect {
  /** Between a list's name and an entry's number: `''` for EC2 (`InstanceId.1`), `'member.'` for ELBv2. */
  readonly listInfix: string;
  missing(param: ParamName): AwsError;
  notAnInteger(param: ParamName, raw: string): AwsError;
  outOfRange(param: ParamName, raw: string, range: IntRange): AwsError;
  notABoolean(param: ParamName, raw: string): AwsError;
}

/**
 * The flat form parameters of one request, read by name. A `Params` may be scoped to a prefix
 * (`LaunchTemplateData.`, `Targets.member.1.`) so the same reader parses a struct and a request.
 * An empty value counts as absent.
 */
export class Params {
  constructor(
    private readonly raw: Readonly<Record<string, string>>,
    readonly dialect: QueryDialect,
    private readonly prefix = '',
  ) {}

  private param(name: string): ParamName {
    return { name, key: this.prefix + name };
  }

  get(name: string): string | undefined {
    return this.raw[this.prefix + name];
  }

  required(name: string): string {
    const value = this.get(name);
    if (value === undefined || value === '') throw this.dialect.missing(this.param(name));
    return value;
  }

  /** An integer parameter, within `range` when one is given. */
  int(name: string, range?: IntRange): number | undefined {
    const raw = this.get(name);
    if (raw === undefined || raw === '') return undefined;
    const value = Number(raw);
    if (!Number.isInteger(value)) throw this.dialect.notAnInteger(this.param(name), raw);
    if (range && (value < range.min || value > range.max)) {
      throw this.dialect.outOfRange(this.param(name), raw, range);
    }
    return value;
  }

  bool(name: string): boolean | undefined {
    const raw = this.get(name);
    if (raw === undefined || raw === '') return undefined;
    if (raw === 'true') return true;
    if (raw === 'false') return false;
    throw this.dialect.notABoolean(this.param(name), raw);
  }

  /** True when `name` or any `name.…` parameter is present. */
  has(name: string): boolean {
    const key = this.prefix + name;
    return Object.keys(this.raw).some((k) => k === key || k.startsWith(`${key}.`));
  }

  /** True when any parameter lies under this reader's prefix. */
  present(): boolean {
    return Object.keys(this.raw).some((k) => k.startsWith(this.prefix));
  }

  /** The numbers of a list's entries present under `name`, in order. */
  private indexes(name: string): number[] {
    const head = `${this.prefix}${name}.${this.dialect.listInfix}`;
    const found = new Set<number>();
    for (const k of Object.keys(this.raw)) {
      if (!k.startsWith(head)) continue;
      const index = k.slice(head.length).split('.')[0]!;
      if (/^\d+$/.test(index) && Number(index) > 0) found.add(Number(index));
    }
    return [...found].sort((a, b) => a - b);
  }

  private entryName(name: string, index: number): string {
    return `${name}.${this.dialect.listInfix}${index}`;
  }

  /** A list of strings (`name.1`, `name.2`, … or `name.member.1`, …), in order. */
  strings(name: string): string[] {
    return this.indexes(name)
      .map((i) => this.get(this.entryName(name, i)))
      .filter((value): value is string => value !== undefined);
  }

  /** A list of structs (`name.1.Field`, … or `name.member.1.Field`, …) as scoped readers, in order. */
  structs(name: string): Params[] {
    return this.indexes(name).map((i) => this.scope(this.entryName(name, i)));
  }

  scope(name: string): Params {
    return new Params(this.raw, this.dialect, `${this.prefix}${name}.`);
  }

  /** The flat parameters, for fingerprinting a request. */
  entries(): [string, string][] {
    return Object.entries(this.raw).filter(([k]) => k.startsWith(this.prefix));
  }
}

/** What a describe call asked for: the token of the previous page and how many items a page holds. */
export interface PageRequest {
  /** `NextToken`, `Marker`: absent for the first page. */
  token?: string;
  /** Absent: the page holds every item left. */
  size?: number;
}

export interface Page<T> {
  items: T[];
  /** The token of the following page; absent on the last. */
  next?: string;
}

/**
 * Where a page starts and how the token names the next one. A token is base64url text of the
 * cursor's own making; `start` throws the service's error for one it did not make.
 */
export interface Cursor<T> {
  start(items: readonly T[], token: string, encoded: string): number;
  tokenAt(items: readonly T[], index: number): string;
}

/** Pages named by position. Simple, but deleting items between pages shifts the following ones. */
export function byPosition<T>(invalid: (encoded: string) => AwsError): Cursor<T> {
  return {
    start(_items, token, encoded) {
      const offset = Number(token.replace(/^offset:/, ''));
      if (!Number.isInteger(offset) || offset < 0) throw invalid(encoded);
      return offset;
    },
    tokenAt: (_items, index) => `offset:${index}`,
  };
}

/**
 * Pages named by the key of their first item, over items sorted by that unique key (code-unit
 * order, see {@link compareKeys}): deleting items between pages neither skips nor repeats others.
 */
export function byKey<T>(keyOf: (item: T) => string, invalid: (encoded: string) => AwsError): Cursor<T> {
  return {
    start(items, token, encoded) {
      if (!token.startsWith('v1:')) throw invalid(encoded);
      const key = token.slice(3);
      const start = items.findIndex((item) => keyOf(item) >= key);
      return start < 0 ? items.length : start;
    },
    tokenAt: (items, index) => `v1:${keyOf(items[index]!)}`,
  };
}

/** Code-unit order, the order {@link byKey} compares keys in. */
export function compareKeys(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** One page of `items` for a describe call. */
export function paginate<T>(items: readonly T[], request: PageRequest, cursor: Cursor<T>): Page<T> {
  const start =
    request.token === undefined
      ? 0
      : cursor.start(items, Buffer.from(request.token, 'base64url').toString('utf8'), request.token);
  if (request.size === undefined) return { items: items.slice(start) };
  const end = start + request.size;
  const page = items.slice(start, end);
  return end < items.length
    ? { items: page, next: Buffer.from(cursor.tokenAt(items, end), 'utf8').toString('base64url') }
    : { items: page };
}
