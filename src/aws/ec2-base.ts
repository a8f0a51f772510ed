import { createHash } from 'node:crypto';
import type { EC2Client, Tag } from '@aws-sdk/client-ec2';
import { inBatches } from './batching.ts';
import type { PlanLog } from './dry-run.ts';
import { errorCode, isDryRunSuccess, UnexpectedResponseError } from './errors.ts';

/**
 * EC2 accepts at most 200 values in one filter (`FilterLimitExceeded` above that), so ids are
 * described 200 to a call. The 1000-id limit applies only to the `InstanceIds`-style parameters,
 * which fail the whole call when one id is unknown.
 */
export const FILTER_VALUES_PER_CALL = 200;

export interface Ec2AdapterOptions {
  /** One client per container, built at cold start. */
  client: EC2Client;
  /** Mutations go with `DryRun: true`: nothing changes, the plan records what would. Reads are real. */
  dryRun?: boolean;
  plan?: PlanLog;
  /** Aborts calls in flight, e.g. shortly before the Lambda timeout. */
  abortSignal?: AbortSignal;
}

/** What a mutating call came to: EC2's answer, or in a dry run `planned` (it would have succeeded). */
export type Sent<O> = { planned: false; output: O } | { planned: true };

/**
 * What every EC2 adapter shares: the client and the options of each call, the dry run, and
 * pagination over ids and pages.
 */
export abstract class Ec2Adapter {
  protected readonly client: EC2Client;
  protected readonly dryRun: boolean;
  /** The options of every `client.send`: the abort signal. */
  protected readonly call: { abortSignal: AbortSignal | undefined };
  readonly #plan: PlanLog | undefined;

  constructor(options: Ec2AdapterOptions) {
    this.client = options.client;
    this.dryRun = options.dryRun ?? false;
    this.#plan = options.plan;
    this.call = { abortSignal: options.abortSignal };
  }

  /**
   * Sends a mutation. In a dry run it goes with `DryRun: true`: `DryRunOperation` means it would
   * succeed, which the plan records; any other error is thrown as is. `I` must be an input with a
   * `DryRun` member: the SDK drops members the action does not have, so a `DryRun` it does not know
   * would act for real (see {@link skipInDryRun} for those actions).
   */
  protected async mutate<I extends { DryRun?: boolean | undefined }, O>(
    action: string,
    input: I,
    send: (input: I) => Promise<O>,
  ): Promise<Sent<O>> {
    if (!this.dryRun) return { planned: false, output: await send(input) };
    try {
      await send({ ...input, DryRun: true });
    } catch (error) {
      // Refused to the caller's credentials: a dry run needs only read permissions, so the plan
      // says so and goes on as if it had succeeded (the functions' role has its own permissions).
      if (errorCode(error) === 'UnauthorizedOperation') {
        this.#plan?.record({ service: 'ec2', action, params: input, outcome: 'denied-to-caller' });
        return { planned: true };
      }
      if (!isDryRunSuccess(error)) throw error;
      this.#plan?.record({ service: 'ec2', action, params: input, outcome: 'would-succeed' });
      return { planned: true };
    }
    throw new UnexpectedResponseError(
      `${action} with DryRun took effect instead of answering DryRunOperation: the EC2 endpoint ignores ` +
        'DryRun and the call may have changed resources; check AWS_ENDPOINT_URL_EC2.',
    );
  }

  /**
   * True in a dry run, after planning the call as `skipped`: for an action without `DryRun`, which
   * the dry run must not send at all.
   */
  protected skipInDryRun(action: string, params: unknown): boolean {
    if (!this.dryRun) return false;
    this.#plan?.record({ service: 'ec2', action, params, outcome: 'skipped' });
    return true;
  }
}

/** Every item of every page: `fetchPage` is called with the previous page's token until there is none. */
export async function allPages<T>(
  fetchPage: (
    nextToken: string | undefined,
  ) => Promise<{ items: T[] | undefined; nextToken: string | undefined }>,
): Promise<T[]> {
  const items: T[] = [];
  let nextToken: string | undefined;
  do {
    const page = await fetchPage(nextToken);
    items.push(...(page.items ?? []));
    nextToken = page.nextToken || undefined;
  } while (nextToken !== undefined);
  return items;
}

/** `describe` over the distinct ids, at most one filter's worth (200) per call; no call for no ids. */
export async function byIds<T>(
  ids: Iterable<string>,
  describe: (batch: string[]) => Promise<T[]>,
): Promise<T[]> {
  const distinct = [...new Set(ids)];
  if (distinct.length === 0) return [];
  const batches = await Promise.all(inBatches(distinct, FILTER_VALUES_PER_CALL).map(describe));
  return batches.flat();
}

/** EC2 rejects tags with the reserved `aws:` prefix: they are left out. */
export function toTagList(tags: Record<string, string>): Tag[] {
  return Object.entries(tags)
    .filter(([key]) => !key.startsWith('aws:'))
    .map(([Key, Value]) => ({ Key, Value }));
}

export function fromTagList(tags: readonly Tag[] | undefined): Record<string, string> {
  const record: Record<string, string> = {};
  for (const tag of tags ?? []) if (tag.Key !== undefined) record[tag.Key] = tag.Value ?? '';
  return record;
}

/** `value`, or an {@link UnexpectedResponseError} naming the action, the resource and what it lacked. */
export function required<T>(value: T | undefined, what: string, action: string, id: string | undefined): T {
  if (value === undefined || value === '') {
    throw new UnexpectedResponseError(`${action} returned ${id ?? 'a resource'} without ${what}.`);
  }
  return value;
}

/**
 * The instance id a dry-run launch reports: `i-dryrun` and 9 hex digits of the token's hash, so the
 * same token always gives the same id and no real instance id looks like it.
 */
export function dryRunInstanceId(clientToken: string): string {
  return `i-dryrun${shortHash(clientToken)}`;
}

/**
 * The snapshot id a dry-run `snapshotFor` reports: `snap-dryrun` and 9 hex digits of a hash of the
 * volume and tags, so the same request always gives the same id and no real snapshot id looks like it.
 */
export function dryRunSnapshotId(volumeId: string, tags: Record<string, string>): string {
  const sortedTags = Object.entries(tags).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `snap-dryrun${shortHash(JSON.stringify([volumeId, sortedTags]))}`;
}

/** The volume id a dry-run `restoreVolume` reports: `vol-dryrun` and 9 hex digits of the token's hash. */
export function dryRunVolumeId(clientToken: string): string {
  return `vol-dryrun${shortHash(clientToken)}`;
}

function shortHash(text: string): string {
  return createHash('sha256').update(text).digest('hex').slice(0, 9);
}
