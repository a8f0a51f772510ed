import * as z from 'zod';

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

/** A `{ min, max? }` range of whole numbers (EC2's `VCpuCount`, `MemoryMiB`); no max: no upper limit. */
const range = z
  .object({
    min: z.number().int().min(0, 'a whole number, 0 or more'),
    max: z.number().int().positive('a whole number above 0').optional(),
  })
  .strict()
  .refine((r) => r.max === undefined || r.max >= r.min, { message: 'max must not be below min' });

/** An instance family (`m6i`, `c7gn`), `*` standing for any characters (`c7*`); EC2 takes at most 400. */
const FAMILY = /^[a-z*][a-z0-9*-]*$/;
const families = z
  .array(z.string().regex(FAMILY, 'an instance family such as m6i, or c7* (no size: m6i, not m6i.large)'))
  .min(1, 'at least one family')
  .max(400, 'at most 400 families')
  .optional();

const groupPolicySchema = z
  .object({
    instanceTypes: z
      .array(
        z
          .object({
            type: z.string().regex(INSTANCE_TYPE, 'an EC2 instance type such as m6i.large'),
            weight: z.number().int().min(1).max(1000).optional(),
          })
          .strict(),
      )
      .min(1, 'at least one instance type')
      .optional(),
    instanceRequirements: z
      .object({
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
      .strict()
      .refine((r) => !(r.allowedFamilies && r.excludedFamilies), {
        message: 'give allowedFamilies or excludedFamilies, not both (EC2 takes one or the other)',
      })
      .optional(),
    subnets: z
      .array(z.string().regex(/^subnet-[0-9a-f]+$/, 'a subnet id such as subnet-0abc'))
      .min(1)
      .optional(),
    spotAllocationStrategy: z
      .enum(['price-capacity-optimized', 'capacity-optimized', 'lowest-price', 'diversified'])
      .default('price-capacity-optimized'),
    reservedFirst: z.boolean().default(true),
    onDemandFallback: z.boolean().default(true),
    revertToSpot: z
      .union([
        z.enum(['never', 'always']),
        z.object({ window: z.string().regex(WINDOW, 'a UTC window "HH:MM-HH:MM"') }).strict(),
      ])
      .default('always'),
    rebalance: z.enum(['ignore', 'prelaunch', 'replace']).default('prelaunch'),
    standby: z
      .object({
        maxAgeMinutes: z.number().int().min(5).max(10_080).default(60),
        end: z.enum(['promote', 'retire']).default('retire'),
      })
      .strict()
      .default({ maxAgeMinutes: 60, end: 'retire' }),
    churnBudgetPercent: z.number().int().min(1).max(100).default(20),
    poolReclaim: z
      .object({
        threshold: z.number().int().min(1).max(1000).default(3),
        windowMinutes: z.number().int().min(1).max(1440).default(10),
        avoidMinutes: z.number().int().min(1).max(10_080).default(30),
        replaceAhead: z.boolean().default(false),
      })
      .strict()
      .default({ threshold: 3, windowMinutes: 10, avoidMinutes: 30, replaceAhead: false }),
    /** On-Demand prices (USD/hour) by instance type, for the record and the report (EC2 has no price API). */
    onDemandPrices: z.record(z.string().regex(INSTANCE_TYPE), z.number().positive()).optional(),
  })
  .strict()
  .refine((g) => g.instanceTypes !== undefined || g.instanceRequirements !== undefined, {
    message: 'give instanceTypes (a list of { type, weight? }) or instanceRequirements',
  })
  .refine((g) => !(g.instanceTypes !== undefined && g.instanceRequirements !== undefined), {
    message: 'give instanceTypes or instanceRequirements, not both',
  });

const GROUP_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

const policySchema = z
  .object({
    groups: z.record(
      z.string().regex(GROUP_NAME, 'a group name: letters, digits, ".", "_" or "-", at most 128'),
      groupPolicySchema,
    ),
  })
  .strict();

export type Policy = z.infer<typeof policySchema>;
export type GroupPolicy = z.infer<typeof groupPolicySchema>;
/** A group policy as written (every defaulted field optional). */
export type GroupPolicyInput = z.input<typeof groupPolicySchema>;
/** A group's attribute requirements: EC2 expands them into instance types (`GetInstanceTypesFromInstanceRequirements`). */
export type InstanceRequirements = NonNullable<GroupPolicy['instanceRequirements']>;

/** The policy of a deployment without `policy.yml`: no groups, so every instance keeps today's behaviour. */
export const NO_GROUPS: Policy = { groups: {} };

/**
 * The policy, validated, with every default filled in. Throws a {@link PolicyError} naming every
 * bad field (`groups.web.spotAllocationStrategy: …`) with what is allowed.
 */
export function parsePolicy(raw: unknown): Policy {
  const parsed = policySchema.safeParse(raw ?? NO_GROUPS);
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
