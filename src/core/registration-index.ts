import type { Signal } from './events.ts';
import { type InstanceFacts, isLeavingOrGone, type Target } from './facts.ts';
import { showsSpotInterruption } from './plan.ts';
import { type HandoffDeps, targetKey } from './ports.ts';

/**
 * The drain at delivery. A warning leaves two minutes, and the full discovery of where an instance
 * serves (the target groups of its VPC, then each group's targets) takes several round trips
 * after the workflow is recorded. So the sweep keeps an index of where every managed instance
 * serves, and a batch drains from it in its second round trip:
 *   1. what EC2 says about the instances, beside the index entries of those warned (in parallel);
 *   2. `DeregisterTargets`, one per target group for the whole batch, for the instances EC2
 *      confirms are managed and not terminated, and only for their own targets
 *      (`instance` targets by their id, `ip` targets by the private IPs EC2 says they hold now).
 * The index is a hint, never the truth: each workflow's own discovery still runs and drains what
 * the index missed, and an instance without an entry is drained after discovery, as before.
 */

/** How long an entry holds without a sweep renewing it (the sweep runs every minute). */
export const REGISTRATION_INDEX_TTL_SECONDS = 15 * 60;
/** The sweep rewrites an unchanged entry once it has less than this left. */
const RENEW_BEFORE_SECONDS = 10 * 60;

/** Targets the batch deregistered at delivery for one instance; none when the call failed. */
export type DrainedAtDelivery = Promise<Target[]>;

/** A batch's first round trip, and the drain it leads to. */
export interface DescribedAndDraining {
  /** What EC2 says about the batch's instances (Elastic IPs included). */
  facts: Promise<Map<string, InstanceFacts>>;
  /** Per instance drained at delivery, what was deregistered; settles once the drain is answered. */
  drained: Promise<Map<string, DrainedAtDelivery>>;
}

/**
 * Describes the batch's instances beside reading the index entries of the candidates; as soon as
 * both have answered (before the Elastic IPs are looked up), drains the confirmed candidates.
 * A failed describe drains nothing; its failure is the caller's, through `facts`.
 */
export function describeAndDrain(
  signals: readonly Signal[],
  instanceIds: readonly string[],
  deps: HandoffDeps,
): DescribedAndDraining {
  const indexed = readRegistrationIndex(drainCandidates(signals), deps);
  let confirm: (facts: ReadonlyMap<string, InstanceFacts>) => void = () => {};
  const confirmed = new Promise<ReadonlyMap<string, InstanceFacts>>((resolve) => {
    confirm = resolve;
  });
  const facts = deps.compute.describeInstances(instanceIds, { described: confirm });
  // An adapter that describes in one step confirms with its whole answer.
  facts.then(confirm, () => confirm(new Map()));
  const drained = Promise.all([confirmed, indexed]).then(([described, entries]) =>
    deregisterConfirmed(signals, described, entries, deps),
  );
  return { facts, drained };
}

/**
 * The instances whose signal drains them whatever their workflow says, once EC2 confirms them: a
 * warning, or a state change (read with EC2's facts) showing EC2 reclaims a Spot instance. A
 * rebalance recommendation, an untimely event (a `sweep`) or a replace request never drains here.
 */
function drainCandidates(signals: readonly Signal[]): string[] {
  const kinds = new Set<Signal['kind']>(['warning', 'state-change']);
  return [...new Set(signals.filter((s) => kinds.has(s.kind)).map((s) => s.instanceId))];
}

/** The index entries of the candidates, or none: an unreadable index only costs the early drain. */
async function readRegistrationIndex(
  instanceIds: readonly string[],
  deps: HandoffDeps,
): Promise<Map<string, Target[]>> {
  if (!deps.registrations || instanceIds.length === 0) return new Map();
  try {
    const entries = await deps.registrations.read(instanceIds);
    return new Map([...entries].map(([instanceId, { targets }]) => [instanceId, targets]));
  } catch (error) {
    deps.log.warn('Registration index unreadable: these instances are drained after discovery.', {
      error: error instanceof Error ? `${error.name}: ${error.message}` : String(error),
    });
    return new Map();
  }
}

/**
 * Deregisters every confirmed candidate from its own indexed targets, in one request per target
 * group for the batch. Returns, per instance drained, what was deregistered (none when the call
 * failed: the workflow's drain covers it).
 */
function deregisterConfirmed(
  signals: readonly Signal[],
  facts: ReadonlyMap<string, InstanceFacts>,
  indexed: ReadonlyMap<string, readonly Target[]>,
  deps: HandoffDeps,
): Map<string, DrainedAtDelivery> {
  const drained = new Map<string, Target[]>();
  for (const signal of signals) {
    const instance = facts.get(signal.instanceId);
    const entry = indexed.get(signal.instanceId);
    if (!instance || !entry || drained.has(instance.instanceId)) continue;
    if (!drainsNow(signal, instance, deps)) continue;
    const own = ownTargets(instance, entry);
    if (own.length > 0) drained.set(instance.instanceId, own);
  }
  if (drained.size === 0) return new Map();
  const targets = [...drained.values()].flat();
  const sent = deps.loadBalancing.deregister(targets).then(
    ({ calls }) => {
      deps.metrics.count('ElbApiCalls', calls);
      deps.log.info('Drained at delivery from the registration index.', {
        instances: [...drained.keys()],
        targets: targets.length,
        calls,
      });
      return true;
    },
    (error: unknown) => {
      deps.log.warn('Drain at delivery failed: these instances are drained after discovery.', {
        instances: [...drained.keys()],
        error: error instanceof Error ? `${error.name}: ${error.message}` : String(error),
      });
      return false;
    },
  );
  return new Map(
    [...drained].map(([instanceId, own]) => [instanceId, sent.then((ok) => (ok ? own : []))] as const),
  );
}

/**
 * The signal drains its instance today, whatever its workflow holds: the instance is managed (a
 * replacement too: EC2 reclaiming it, it serves no more, whichever workflow replaces it), still
 * holds its IPs (a terminated instance's may be someone else's by now), and EC2 announced or began
 * its reclaim.
 */
function drainsNow(signal: Signal, instance: InstanceFacts, deps: HandoffDeps): boolean {
  const { tags } = deps.settings;
  if (instance.tags[tags.managed] !== 'true') return false;
  if (instance.state === 'terminated') return false;
  if (signal.kind === 'warning') return true;
  return signal.kind === 'state-change' && showsSpotInterruption(instance);
}

/** The entry's targets that are this instance's now: its id, or a private IP EC2 says it holds. */
function ownTargets(instance: InstanceFacts, entry: readonly Target[]): Target[] {
  const ips = new Set(
    instance.networkInterfaces.flatMap((n) => n.privateIps.map((ip) => ip.privateIpAddress)),
  );
  if (instance.privateIpAddress) ips.add(instance.privateIpAddress);
  return entry.filter((t) => (t.targetType === 'instance' ? t.id === instance.instanceId : ips.has(t.id)));
}

/**
 * The sweep's part: where every live managed instance serves now, in the index: replacements too
 * (after a round of interruptions most of a fleet is replacements, each one's warning handled by
 * its own workflow once its parent has finished). One discovery for all of them (the target group list, one `DescribeTargetHealth` per
 * group of their VPCs) beside one read of their entries; then only the entries that changed or
 * near their expiry are written. Returns how many were written.
 */
export async function keepRegistrationIndex(deps: HandoffDeps): Promise<number> {
  const { registrations, settings } = deps;
  if (!registrations) return 0;
  const { tags } = settings;
  const managed = await deps.compute.instancesTagged({ [tags.managed]: 'true' });
  const live = managed.filter((i) => !isLeavingOrGone(i.state));
  if (live.length === 0) return 0;
  const [{ byInstance }, entries] = await Promise.all([
    deps.loadBalancing.findTargets(live),
    registrations.read(live.map((i) => i.instanceId)),
  ]);
  const now = Math.floor(deps.clock.now().getTime() / 1000);
  const current = live.map((i) => [i.instanceId, byInstance.get(i.instanceId) ?? []] as const);
  const stale = new Map(
    current.filter(([instanceId, targets]) => {
      const entry = entries.get(instanceId);
      return !entry || entry.expiresAt - now < RENEW_BEFORE_SECONDS || !sameTargets(entry.targets, targets);
    }),
  );
  if (stale.size > 0) await registrations.write(stale, now + REGISTRATION_INDEX_TTL_SECONDS);
  deps.log.debug('Registration index kept.', { instances: live.length, written: stale.size });
  return stale.size;
}

const sameTargets = (a: readonly Target[], b: readonly Target[]): boolean => {
  const keys = new Set(a.map(targetKey));
  return a.length === b.length && b.every((t) => keys.has(targetKey(t)));
};
