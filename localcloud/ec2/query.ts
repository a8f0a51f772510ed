import { AwsError } from '../contracts.ts';
import { byPosition, lowerCamel, type Page, type Params, paginate, type QueryDialect } from '../query.ts';
import { invalidParameterValue, missingParameter } from './errors.ts';

/** EC2's lists (`InstanceId.1`, `Filter.1.Value.2`) and its wording of malformed parameters. */
export const EC2_DIALECT: QueryDialect = {
  listInfix: '',
  missing: ({ key }) => missingParameter(key),
  notAnInteger: ({ key }, raw) => invalidParameterValue(`Invalid value '${raw}' for ${key}`),
  outOfRange: ({ name }, raw, { min, max }) =>
    invalidParameterValue(
      `Value ( ${Number(raw)} ) for parameter ${lowerCamel(name)} is invalid. Expecting a value between ${min} and ${max}.`,
    ),
  notABoolean: ({ key }, raw) =>
    invalidParameterValue(`Invalid value '${raw}' for ${key}: expecting true or false`),
};

export function isDryRun(params: Params): boolean {
  return params.bool('DryRun') ?? false;
}

interface Filter {
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

/** `Filter.N.Name` and `Filter.N.Value.M`. */
function filtersOf(params: Params): Filter[] {
  return params.structs('Filter').map((f) => ({ name: f.required('Name'), values: f.strings('Value') }));
}

/**
 * Keeps the items that pass every filter of the request (values of one filter are ORed, filters
 * are ANDed).
 */
export function applyFilters<T>(
  items: readonly T[],
  params: Params,
  fields: FilterFields<T>,
  tags: (item: T) => ReadonlyMap<string, string>,
): T[] {
  const filters = filtersOf(params);
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

const BY_POSITION = byPosition<never>(
  () => new AwsError('InvalidPaginationToken', 'The specified pagination token is not valid or is expired.'),
);

/** One page of `items` for `MaxResults`/`NextToken`; without `MaxResults`, everything from the token on. */
export function pageOf<T>(
  items: readonly T[],
  params: Params,
  limits: { min: number; max: number } = { min: 5, max: 1000 },
): Page<T> {
  return paginate(
    items,
    { token: params.get('NextToken'), size: params.int('MaxResults', limits) },
    BY_POSITION,
  );
}
