import { handoffTags } from '../../src/config.ts';
import { DEFAULT_CAREFUL_POLICY } from '../../src/core/group-policy.ts';
import {
  type Compute,
  type FleetRequest,
  type FleetResult,
  type HandoffDeps,
  type HandoffSettings,
  type HandoffTags,
  type InstanceFacts,
  type InstanceState,
  type LaunchRequest,
  type LaunchResult,
  type LoadBalancing,
  type Log,
  type MetricName,
  type Metrics,
  type StatefulResources,
  type Target,
  type TargetHealthState,
  targetKey,
  type WorkflowStore,
} from '../../src/core/ports.ts';
import {
  isOnDemandFallback,
  type OrphanRecord,
  type Workflow,
  type WorkflowStatus,
} from '../../src/core/workflow.ts';

/**
 * Stateful fakes of the ports: they keep instances, registrations and records, obey the rules the
 * core relies on (ClientToken idempotency, conditional writes, running-only registration) and can
 * inject faults a number of times. Tests assert what exists afterwards.
 */

/** The default opt-in tag keys (`HANDOFF_MANAGED_TAG_KEY`, `HANDOFF_STATEFUL_TAG_KEY`). */
export const MANAGED_TAG = 'spot-handoff:managed';
export const STATEFUL_TAG = 'spot-handoff:stateful';
/** Every tag key, as a deployment with the defaults has them. */
export const TAGS: HandoffTags = handoffTags({ managedTagKey: MANAGED_TAG, statefulTagKey: STATEFUL_TAG });

let counter = 0;
const hex = (n: number) => n.toString(16).padStart(17, '0');

export class FakeEc2 implements Compute {
  readonly instances = new Map<string, InstanceFacts>();
  private readonly tokens = new Map<string, string>();
  noCapacity = false;
  failures = 0;

  add(partial: Partial<InstanceFacts> & { tags?: Record<string, string> } = {}): InstanceFacts {
    const instanceId = partial.instanceId ?? `i-${hex(++counter)}`;
    const ip = partial.privateIpAddress ?? `10.0.1.${(counter % 250) + 2}`;
    const instance: InstanceFacts = {
      instanceId,
      state: 'running',
      instanceType: 'm5.large',
      availabilityZone: 'us-east-1a',
      subnetId: 'subnet-a',
      vpcId: 'vpc-1',
      privateIpAddress: ip,
      lifecycle: 'spot',
      launchTemplate: { id: 'lt-1', version: '1' },
      volumes: [],
      networkInterfaces: [
        {
          networkInterfaceId: `eni-${hex(counter)}`,
          deviceIndex: 0,
          attachmentId: `eni-attach-${hex(counter)}`,
          deleteOnTermination: true,
          subnetId: partial.subnetId ?? 'subnet-a',
          status: 'attached',
          privateIps: [{ privateIpAddress: ip, primary: true }],
        },
      ],
      ...partial,
      tags: { 'spot-handoff:managed': 'true', Name: 'web', ...partial.tags },
    };
    this.instances.set(instanceId, instance);
    return instance;
  }

  async describeInstances(ids: readonly string[]): Promise<Map<string, InstanceFacts>> {
    const found = new Map<string, InstanceFacts>();
    for (const id of ids) {
      const instance = this.instances.get(id);
      if (instance) found.set(id, structuredClone(instance));
    }
    return found;
  }

  async instancesTagged(tags: Record<string, string>): Promise<InstanceFacts[]> {
    const live = ['pending', 'running', 'stopping', 'stopped'];
    return [...this.instances.values()]
      .filter((i) => live.includes(i.state) && Object.entries(tags).every(([k, v]) => i.tags[k] === v))
      .map((i) => structuredClone(i));
  }

  async launch(request: LaunchRequest): Promise<LaunchResult> {
    const existing = this.tokens.get(request.clientToken);
    if (existing) return { ok: true, instanceId: existing };
    if (this.failures > 0) {
      this.failures -= 1;
      throw Object.assign(new Error('We currently do not have sufficient capacity'), {
        name: 'InternalError',
      });
    }
    if (this.noCapacity) {
      return {
        ok: false,
        reason: 'capacity',
        code: 'InsufficientInstanceCapacity',
        message: 'No Spot capacity',
      };
    }
    const instance = this.add({
      state: 'pending',
      subnetId: request.subnetId,
      launchTemplate: request.launchTemplate,
      clientToken: request.clientToken,
      tags: request.tags,
    });
    this.tokens.set(request.clientToken, instance.instanceId);
    return { ok: true, instanceId: instance.instanceId };
  }

  /** A fleet as the fake has capacity: none when `noCapacity`, else every instance in the first override. */
  async launchFleet(request: FleetRequest): Promise<FleetResult> {
    const first = request.overrides[0]!;
    if (this.noCapacity) {
      return {
        instances: [],
        errors: [{ ...first, lifecycle: 'on-demand', code: 'InsufficientInstanceCapacity', message: 'none' }],
      };
    }
    const instances = Array.from({ length: request.total }, (_, i) => {
      const token = `${request.clientToken}#${i}`;
      const instanceId =
        this.tokens.get(token) ??
        this.add({
          state: 'pending',
          subnetId: first.subnetId,
          instanceType: first.instanceType,
          availabilityZone: first.availabilityZone,
          launchTemplate: request.launchTemplate,
          tags: request.tags,
        }).instanceId;
      this.tokens.set(token, instanceId);
      const lifecycle = i < request.onDemand ? ('on-demand' as const) : ('spot' as const);
      return { instanceId, lifecycle, ...first };
    });
    return { instances, errors: [] };
  }

  async terminate(instanceId: string, managedTag: { key: string; value: string }): Promise<boolean> {
    const instance = this.instances.get(instanceId);
    if (!instance || ['shutting-down', 'terminated'].includes(instance.state)) return false;
    if (instance.tags[managedTag.key] !== managedTag.value) throw new Error(`${instanceId} is not managed`);
    instance.state = 'shutting-down';
    this.terminated.push(instanceId);
    return true;
  }

  /** Instances terminated through {@link terminate}, in order. */
  readonly terminated: string[] = [];

  setState(id: string, state: InstanceState, reason?: string): void {
    const instance = this.instances.get(id);
    if (!instance) throw new Error(`no instance ${id}`);
    instance.state = state;
    instance.stateReason = reason;
  }

  /** Instances launched as replacements of `oldId`. */
  replacementsOf(oldId: string): InstanceFacts[] {
    return [...this.instances.values()].filter((i) => i.tags['spot-handoff:replaces'] === oldId);
  }
}

interface Registration {
  target: Target;
  state: 'initial' | 'healthy' | 'unhealthy' | 'draining';
}

export class FakeElb implements LoadBalancing {
  readonly groups = new Map<
    string,
    { type: 'instance' | 'ip'; vpcId: string; registrations: Registration[] }
  >();

  constructor(private readonly ec2: FakeEc2) {}

  addGroup(arn: string, type: 'instance' | 'ip' = 'instance', vpcId = 'vpc-1'): void {
    this.groups.set(arn, { type, vpcId, registrations: [] });
  }

  async findTargets(instances: readonly InstanceFacts[]) {
    const byInstance = new Map<string, Target[]>();
    let calls = 1;
    for (const [arn, group] of this.groups) {
      if (!instances.some((i) => i.vpcId === group.vpcId)) continue;
      calls += 1;
      for (const { target } of group.registrations) {
        for (const instance of instances) {
          const ips = instance.networkInterfaces.flatMap((e) => e.privateIps.map((p) => p.privateIpAddress));
          const matches = target.id === instance.instanceId || ips.includes(target.id);
          if (matches && target.targetGroupArn === arn) {
            byInstance.set(instance.instanceId, [...(byInstance.get(instance.instanceId) ?? []), target]);
          }
        }
      }
    }
    return { byInstance, calls };
  }

  async deregister(targets: readonly Target[]) {
    const arns = new Set(targets.map((t) => t.targetGroupArn));
    for (const target of targets) {
      const registration = this.groups
        .get(target.targetGroupArn)
        ?.registrations.find((r) => same(r.target, target));
      if (registration) registration.state = 'draining';
    }
    return { calls: arns.size };
  }

  async register(targets: readonly Target[]) {
    for (const target of targets) {
      const group = this.groups.get(target.targetGroupArn);
      if (!group) throw Object.assign(new Error('no such group'), { name: 'TargetGroupNotFound' });
      if (target.targetType === 'instance' && this.ec2.instances.get(target.id)?.state !== 'running') {
        throw Object.assign(new Error(`${target.id} is not running`), { name: 'InvalidTarget' });
      }
      const existing = group.registrations.find((r) => same(r.target, target));
      if (existing) existing.state = 'healthy';
      else group.registrations.push({ target: { ...target }, state: 'healthy' });
    }
    return { calls: new Set(targets.map((t) => t.targetGroupArn)).size };
  }

  async targetHealth(targets: readonly Target[]) {
    const health = new Map<string, TargetHealthState>();
    for (const target of targets) {
      const registration = this.groups
        .get(target.targetGroupArn)
        ?.registrations.find((r) => same(r.target, target));
      health.set(targetKey(target), registration?.state ?? 'unused');
    }
    return { health, calls: new Set(targets.map((t) => t.targetGroupArn)).size };
  }

  async targetGroupHealth(suffix: string) {
    const found = [...this.groups].find(([arn]) => arn.endsWith(`:${suffix}`));
    if (!found) return undefined;
    const [targetGroupArn, group] = found;
    return {
      targetGroupArn,
      targetType: group.type,
      targets: group.registrations.map((r) => ({ id: r.target.id, port: r.target.port, state: r.state })),
    };
  }

  /** Sets the health of every registration of `id` (e.g. `unhealthy`, or `initial` for a new one). */
  setHealth(id: string, state: Registration['state']): void {
    for (const group of this.groups.values())
      for (const r of group.registrations) if (r.target.id === id) r.state = state;
  }

  /** The deregistration delay is over: draining targets are gone. */
  finishDraining(): void {
    for (const group of this.groups.values())
      group.registrations = group.registrations.filter((r) => r.state !== 'draining');
  }

  /** Targets serving (not draining) in a group. */
  serving(arn: string): string[] {
    return (this.groups.get(arn)?.registrations ?? [])
      .filter((r) => r.state === 'healthy')
      .map((r) => r.target.id);
  }
}

const same = (a: Target, b: Target) =>
  a.targetGroupArn === b.targetGroupArn && a.id === b.id && a.port === b.port;

/** Conditional writes exactly as the DynamoDB store makes them; `crashAfterWrites` throws after N writes. */
export class MemoryStore implements WorkflowStore {
  readonly items = new Map<string, Workflow>();
  readonly links = new Map<string, string>();
  writes = 0;
  crashAfterWrites = Number.POSITIVE_INFINITY;

  readonly orphanRecords = new Map<string, OrphanRecord>();

  async recordOrphan(orphan: OrphanRecord): Promise<void> {
    this.orphanRecords.set(orphan.instanceId, structuredClone(orphan));
  }

  async orphans(): Promise<OrphanRecord[]> {
    return [...this.orphanRecords.values()];
  }

  private write(): void {
    this.writes += 1;
    if (this.writes > this.crashAfterWrites) {
      this.crashAfterWrites = Number.POSITIVE_INFINITY;
      throw Object.assign(new Error('simulated crash before write'), { name: 'SimulatedCrash' });
    }
  }

  async get(id: string) {
    const item = this.items.get(id);
    return item ? structuredClone(item) : undefined;
  }
  async create(workflow: Workflow) {
    this.write();
    if (this.items.has(workflow.workflowId)) return false;
    this.items.set(workflow.workflowId, structuredClone(workflow));
    return true;
  }
  async update(workflow: Workflow) {
    this.write();
    if (this.items.get(workflow.workflowId)?.version !== workflow.version - 1) return false;
    this.items.set(workflow.workflowId, structuredClone(workflow));
    return true;
  }
  async linkReplacement(replacementId: string, workflowId: string, _expiresAt: number) {
    const existing = this.links.get(replacementId);
    if (existing && existing !== workflowId) throw new Error(`${replacementId} is linked to ${existing}`);
    this.links.set(replacementId, workflowId);
  }
  async workflowOfReplacement(replacementId: string) {
    return this.links.get(replacementId);
  }
  readonly heals = new Map<string, number>();
  async claimHeal(instanceId: string, heal: { at: Date; cooldownMs: number }) {
    const last = this.heals.get(instanceId);
    if (last !== undefined && heal.at.getTime() - last < heal.cooldownMs) return false;
    this.heals.set(instanceId, heal.at.getTime());
    return true;
  }
  async list(options: { status?: WorkflowStatus; limit?: number } = {}) {
    return [...this.items.values()]
      .filter((w) => !options.status || w.status === options.status)
      .sort((a, b) => b.startedAt.localeCompare(a.startedAt))
      .slice(0, options.limit ?? 100);
  }
  async onDemandFallbacks() {
    return (await this.list({ status: 'completed', limit: Number.POSITIVE_INFINITY })).filter(
      isOnDemandFallback,
    );
  }
  async *openWorkflows(pageSize = 100) {
    const open = [...this.items.values()]
      .filter((w) => w.status === 'in-progress')
      .sort((a, b) => a.startedAt.localeCompare(b.startedAt))
      .map((w) => structuredClone(w));
    for (let start = 0; start < open.length; start += pageSize) yield open.slice(start, start + pageSize);
  }
}

export const silentLog: Log = {
  debug: () => {},
  info: () => {},
  warn: () => {},
  error: () => {},
  with: () => silentLog,
};

export class CountingMetrics implements Metrics {
  readonly counts = new Map<string, number>();
  /** Every duration published, by name. */
  readonly durations = new Map<string, number[]>();
  count(name: MetricName, value = 1): void {
    this.counts.set(name, (this.counts.get(name) ?? 0) + value);
  }
  seconds(name: MetricName, seconds: number): void {
    this.durations.set(name, [...(this.durations.get(name) ?? []), seconds]);
  }
}

/** For unit tests of stateless instances: the stateful handoff is tested through the local cloud. */
const unsupported = async (): Promise<never> => {
  throw new Error(
    'the unit-test fakes have no stateful resources; test the stateful handoff through the local cloud',
  );
};
export const noStatefulResources: StatefulResources = {
  describeVolumes: async () => new Map(),
  describeInterfaces: async () => new Map(),
  describeSnapshots: async () => new Map(),
  subnetsOf: async () => [],
  keepOnTermination: unsupported,
  tag: unsupported,
  attachVolume: unsupported,
  detachVolume: unsupported,
  attachInterface: unsupported,
  detachInterface: unsupported,
  movePrivateIps: unsupported,
  moveElasticIp: unsupported,
  snapshotFor: unsupported,
  restoreVolume: unsupported,
};

export interface FakeWorld {
  ec2: FakeEc2;
  elb: FakeElb;
  store: MemoryStore;
  metrics: CountingMetrics;
  clock: { now(): Date; advance(ms: number): void; sleep(ms: number): Promise<void> };
  deps: HandoffDeps;
}

/** Settings for a fake world: the defaults, with any of them (and any tag key) replaced. */
export type FakeSettings = Partial<Omit<HandoffSettings, 'tags'>> & { tags?: Partial<HandoffTags> };

export function fakeWorld({ tags, ...settings }: FakeSettings = {}): FakeWorld {
  const ec2 = new FakeEc2();
  const elb = new FakeElb(ec2);
  const store = new MemoryStore();
  const metrics = new CountingMetrics();
  let time = Date.parse('2026-01-01T12:00:00Z');
  const clock = {
    now: () => new Date(time),
    advance: (ms: number) => {
      time += ms;
    },
    sleep: async (ms: number) => {
      time += ms;
    },
  };
  const deps: HandoffDeps = {
    compute: ec2,
    loadBalancing: elb,
    store,
    clock,
    log: silentLog,
    metrics,
    stateful: noStatefulResources,
    settings: {
      tags: { ...TAGS, ...tags },
      policies: { groups: {}, ungrouped: DEFAULT_CAREFUL_POLICY },
      healing: { alarmPrefix: 'spot-handoff-heal-', cooldownMs: 30 * 60_000, budgetPercent: 25 },
      retentionDays: 30,
      attachWaitMs: 10_000,
      handoverTimeoutMs: 600_000,
      events: {
        accountId: '123456789012',
        region: 'us-east-1',
        trustedAccounts: [],
        maxAgeMs: 600_000,
        maxFutureMs: 60_000,
      },
      ...settings,
    },
  };
  return { ec2, elb, store, metrics, clock, deps };
}
