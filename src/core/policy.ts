import * as z from 'zod/mini';
import { builtOnFirstUse } from './schema-messages.ts';

/**
 * Replacement policies: per group of managed instances (the instances carrying the same group tag),
 * where their replacements may go and how they are chosen. Read from `policy.yml`, validated when
 * the deployment is packaged and again when a function starts; every bad field is named, with
 * what is allowed.
 *
 * @example
 * const policy = parsePolicy({ groups: { web: { instanceTypes: [{ type: 'm6i.large' }, { type: 'm5.large' }] } } });
 * policy.groups.web.spotAllocationStrategy; // 'price-capacity-optimized'
 */

export class PolicyError extends Error {
  override name = 'PolicyError';
  constructor(
    /** One line per bad field: its path and what is allowed. */
    readonly problems: string[],
  ) {
    super(`The replacement policy is not valid:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  }
}

const INSTANCE_TYPE = /^[a-z][a-z0-9-]*\d[a-z0-9-]*\.[a-z0-9]+$/;
const WINDOW = /^([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-3]):[0-5]\d$/;

/** The policy's schemas, built on first use (a deployment without policy.yml never builds them). */
const policySchemas = builtOnFirstUse(() => {
  /** A `{ min, max? }` range of whole numbers (EC2's `VCpuCount`, `MemoryMiB`); no max: no upper limit. */
  const range = z
    .strictObject({
      min: z.number().check(z.int(), z.gte(0, 'a whole number, 0 or more')),
      max: z.optional(z.number().check(z.int(), z.positive('a whole number above 0'))),
    })
    .check(z.refine((r) => r.max === undefined || r.max >= r.min, { message: 'max must not be below min' }));

  /** A whole number from `min` to `max`. */
  const wholeNumber = (min: number, max: number) => z.number().check(z.int(), z.gte(min), z.lte(max));

  /** An instance family (`m6i`, `c7gn`), `*` standing for any characters (`c7*`); EC2 takes at most 400. */
  const FAMILY = /^[a-z*][a-z0-9*-]*$/;
  const families = z.optional(
    z
      .array(
        z
          .string()
          .check(z.regex(FAMILY, 'an instance family such as m6i, or c7* (no size: m6i, not m6i.large)')),
      )
      .check(z.minLength(1, 'at least one family'), z.maxLength(400, 'at most 400 families')),
  );

  const groupPolicy = z
    .strictObject({
      instanceTypes: z.optional(
        z
          .array(
            z.strictObject({
              type: z.string().check(z.regex(INSTANCE_TYPE, 'an EC2 instance type such as m6i.large')),
              weight: z.optional(wholeNumber(1, 1000)),
            }),
          )
          .check(z.minLength(1, 'at least one instance type')),
      ),
      instanceRequirements: z.optional(
        z
          .strictObject({
            vCpu: range,
            memoryMiB: range,
            architecture: z.enum(['x86_64', 'arm64'], {
              error: (issue) =>
                issue.input === undefined
                  ? 'required: "x86_64" or "arm64", the architecture of the launch template\'s AMI'
                  : undefined,
            }),
            allowedFamilies: families,
            excludedFamilies: families,
          })
          .check(
            z.refine((r) => !(r.allowedFamilies && r.excludedFamilies), {
              message: 'give allowedFamilies or excludedFamilies, not both (EC2 takes one or the other)',
            }),
          ),
      ),
      subnets: z.optional(
        z
          .array(z.string().check(z.regex(/^subnet-[0-9a-f]+$/, 'a subnet id such as subnet-0abc')))
          .check(z.minLength(1)),
      ),
      spotAllocationStrategy: z._default(
        z.enum(['price-capacity-optimized', 'capacity-optimized', 'lowest-price', 'diversified']),
        'price-capacity-optimized',
      ),
      reservedFirst: z._default(z.boolean(), true),
      onDemandFallback: z._default(z.boolean(), true),
      revertToSpot: z._default(
        z.union([
          z.enum(['never', 'always']),
          z.strictObject({ window: z.string().check(z.regex(WINDOW, 'a UTC window "HH:MM-HH:MM"')) }),
        ]),
        'always',
      ),
      rebalance: z._default(z.enum(['ignore', 'prelaunch', 'replace']), 'prelaunch'),
      standby: z._default(
        z.strictObject({
          maxAgeMinutes: z._default(wholeNumber(5, 10_080), 60),
          end: z._default(z.enum(['promote', 'retire']), 'retire'),
        }),
        { maxAgeMinutes: 60, end: 'retire' },
      ),
      churnBudgetPercent: z._default(wholeNumber(1, 100), 20),
      poolReclaim: z._default(
        z.strictObject({
          threshold: z._default(wholeNumber(1, 1000), 3),
          windowMinutes: z._default(wholeNumber(1, 1440), 10),
          avoidMinutes: z._default(wholeNumber(1, 10_080), 30),
          replaceAhead: z._default(z.boolean(), false),
        }),
        { threshold: 3, windowMinutes: 10, avoidMinutes: 30, replaceAhead: false },
      ),
      /** On-Demand prices (USD/hour) by instance type, for the record and the report (EC2 has no price API). */
      onDemandPrices: z.optional(
        z.record(z.string().check(z.regex(INSTANCE_TYPE)), z.number().check(z.positive())),
      ),
    })
    .check(
      z.refine((g) => g.instanceTypes !== undefined || g.instanceRequirements !== undefined, {
        message: 'give instanceTypes (a list of { type, weight? }) or instanceRequirements',
      }),
      z.refine((g) => !(g.instanceTypes !== undefined && g.instanceRequirements !== undefined), {
        message: 'give instanceTypes or instanceRequirements, not both',
      }),
    );

  const GROUP_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

  const policy = z.strictObject({
    groups: z.record(
      z.string().check(z.regex(GROUP_NAME, 'a group name: letters, digits, ".", "_" or "-", at most 128')),
      groupPolicy,
    ),
  });
  return { policy, groupPolicy };
});

export type Policy = z.infer<ReturnType<typeof policySchemas>['policy']>;
export type GroupPolicy = z.infer<ReturnType<typeof policySchemas>['groupPolicy']>;
/** A group policy as written (every defaulted field optional). */
export type GroupPolicyInput = z.input<ReturnType<typeof policySchemas>['groupPolicy']>;
/** A group's attribute requirements: EC2 expands them into instance types (`GetInstanceTypesFromInstanceRequirements`). */
export type InstanceRequirements = NonNullable<GroupPolicy['instanceRequirements']>;

/** The policy of a deployment without `policy.yml`: no groups, so every instance keeps today's behaviour. */
export const NO_GROUPS: Policy = { groups: {} };

/**
 * The policy, validated, with every default filled in. Throws a {@link PolicyError} naming every
 * bad field (`groups.web.spotAllocationStrategy: …`) with what is allowed.
 */
export function parsePolicy(raw: unknown): Policy {
  const parsed = policySchemas().policy.safeParse(raw ?? NO_GROUPS);
  if (parsed.success) return parsed.data;
  throw new PolicyError(
    parsed.error.issues.map((issue) => {
      const path = issue.path.map(String).join('.') || '(the policy)';
      return `${path}: ${describeIssue(issue)}`;
    }),
  );
}

function describeIssue(issue: z.core.$ZodIssue): string {
  switch (issue.code) {
    case 'invalid_value':
      return issue.message.startsWith('required')
        ? issue.message
        : `must be one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`;
    case 'unrecognized_keys':
      return `unknown field(s) ${issue.keys.join(', ')}; see the README's "Replacement policy" for the fields allowed`;
    case 'invalid_type':
      return `expected ${issue.expected}${issue.message.includes('received') ? ` (${issue.message.replace(/^.*received/, 'got')})` : ''}`;
    default:
      return issue.message;
  }
}

/** The group an instance belongs to: its group tag's value, when the policy has that group. */
export function groupOf(
  tags: Record<string, string>,
  groupTagKey: string,
  policy: Policy,
): { name: string; policy: GroupPolicy } | undefined {
  const name = tags[groupTagKey];
  const found = name === undefined ? undefined : policy.groups[name];
  return name !== undefined && found ? { name, policy: found } : undefined;
}
