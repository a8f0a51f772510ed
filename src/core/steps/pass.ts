import { assignmentOrder, type CapacityRecord, describeLaunches, type FleetStage } from '../capacity.ts';
import {
  type ElbCallCount,
  type InstanceFacts,
  isLeavingOrGone,
  type LaunchRequest,
  type PoolFacts,
} from '../facts.ts';
import { chooseForGroup, type FleetGroup } from '../fleet-launch.ts';
import {
  bookkeepingTags,
  clientTokenFor,
  deadlineOf,
  keptPrimaryIp,
  replaceability,
  replacementTags,
  replacementTargets,
  updateStatus,
} from '../plan.ts';
import { groupOf } from '../policy.ts';
import { type DurationMetricName, type HandoffDeps, type Log, poolKey, targetKey } from '../ports.ts';
import type { DrainedAtDelivery } from '../registration-index.ts';
import {
  everyResourceAccountedFor,
  launchSubnet,
  migrate,
  migrationTarget,
  rootSnapshotOf,
} from '../stateful.ts';
import type { PoolLaunch, StepName, Workflow } from '../workflow.ts';
import { handOverPass } from './handover.ts';
import { protect, snapshotRoot } from './protect.ts';

/**
 * The actions of the handoff's steps. Each is idempotent, records itself as a step of the workflow
 * (with its deadline, if it has one), and counts itself in the metrics.
 */

/** The actions of one pass over a workflow, each recorded as a step of it. */
export class Pass {
  constructor(
    private readonly workflow: Workflow,
    private readonly deps: HandoffDeps,
    private readonly log: Log,
  ) {}

  /** Records a step; returns whether it was late. */
  step(name: StepName, status: 'done' | 'failed' | 'skipped', detail?: string): boolean {
    const now = this.deps.clock.now();
    const deadline = deadlineOf(this.workflow, name);
    const late = deadline !== undefined && now.getTime() > Date.parse(deadline);
    this.workflow.steps.push({
      name,
      status,
      at: now.toISOString(),
      elapsedMs: now.getTime() - Date.parse(this.workflow.startedAt),
      detail,
      ...(deadline ? { deadline } : {}),
      ...(late ? { late } : {}),
    });
    if (late) this.deps.metrics.count('StepsLate');
    const message = `${name}: ${status}${detail ? ` (${detail})` : ''}${late ? ` — late, was due ${deadline}` : ''}`;
    if (late) this.log.warn(message, { step: name, status, deadline });
    else this.log.info(message, { step: name, status });
    return late;
  }

  /** Seconds from the first signal's EventBridge time to now, published as `name` (once per step done). */
  private sinceEvent(name: DurationMetricName): void {
    const first = this.workflow.signals.firstEventAt;
    if (first === undefined) return;
    this.deps.metrics.seconds(name, Math.max(0, this.deps.clock.now().getTime() - Date.parse(first)) / 1000);
  }

  countStart(): void {
    const { metrics } = this.deps;
    metrics.count('WorkflowsStarted');
    if (this.workflow.signals.warning) metrics.count('InterruptionWarnings');
    if (this.workflow.signals.rebalance) metrics.count('RebalanceRecommendations');
  }

  observeOld(oldNow: InstanceFacts | undefined): void {
    const state = oldNow?.state ?? 'gone';
    if (state === this.workflow.oldInstanceState || !this.workflow.instance) return;
    this.workflow.oldInstanceState = state;
    if (!isLeavingOrGone(state)) return;
    const handoverBy = new Date(
      this.deps.clock.now().getTime() + this.deps.settings.handoverTimeoutMs,
    ).toISOString();
    this.workflow.deadlines = {
      ...this.workflow.deadlines,
      handoverBy: this.workflow.deadlines?.handoverBy ?? handoverBy,
    };
    this.step('old-instance-stopped', 'done', `old instance ${state}`);
  }

  /** Only a replacement the workflow launched counts: its id comes from our own ClientToken. */
  async describeReplacement(): Promise<InstanceFacts | undefined> {
    const r = this.workflow.replacement;
    const found = r?.instanceId
      ? (await this.deps.compute.describeInstances([r.instanceId])).get(r.instanceId)
      : undefined;
    if (found && r && found.state !== r.state) {
      r.state = found.state;
      r.availabilityZone = found.availabilityZone;
      r.privateIpAddress = found.privateIpAddress;
      if (found.state === 'running') {
        this.step('replacement-running', 'done', found.instanceId);
        // The capacity type is known from the running instance (EC2 marks Spot ones).
        this.deps.metrics.count(
          found.lifecycle === 'spot' ? 'SpotReplacementsLaunched' : 'OnDemandReplacementsLaunched',
        );
      }
    }
    return found;
  }

  /**
   * Where the old instance serves. A target drained at delivery that discovery no longer lists (a
   * deregistration delay of 0 removes it at once) served all the same: its replacement takes it.
   */
  async findTargets(old: InstanceFacts, drainedAtDelivery?: DrainedAtDelivery): Promise<void> {
    const [found, early = []] = await Promise.all([
      this.deps.loadBalancing.findTargets([old]),
      drainedAtDelivery,
    ]);
    const discovered = found.byInstance.get(old.instanceId) ?? [];
    const listed = new Set(discovered.map(targetKey));
    const looked = found.targetGroups && new Set(found.targetGroups);
    const gone = early.filter((t) => !listed.has(targetKey(t)) && (looked?.has(t.targetGroupArn) ?? true));
    this.workflow.targets = [...discovered, ...gone];
    const calls = this.countElb(found);
    this.step('targets-found', 'done', `${this.workflow.targets.length} registrations, ${calls}`);
  }

  async protect(old: InstanceFacts): Promise<void> {
    const handover = this.workflow.handover!;
    if (old.state === 'shutting-down' || old.state === 'terminated') {
      handover.protectedAt = this.deps.clock.now().toISOString();
      this.step(
        'protect',
        'skipped',
        `old instance already ${old.state}: EC2 keeps what was set to survive termination`,
      );
      return;
    }
    const detail = await protect(this.workflow, old, this.deps.stateful, this.deps.settings.tags);
    handover.protectedAt = this.deps.clock.now().toISOString();
    this.step('protect', 'done', detail);
  }

  async snapshotRoot(): Promise<void> {
    const detail = await snapshotRoot(this.workflow, this.deps.stateful, this.deps.settings.tags);
    if (detail) this.step('root-snapshot', 'done', detail);
  }

  /** Deregisters every registration found but those the batch already deregistered at delivery. */
  async drain(drainedAtDelivery?: DrainedAtDelivery): Promise<void> {
    const targets = this.workflow.targets ?? [];
    const early = new Set(((await drainedAtDelivery) ?? []).map(targetKey));
    const rest = targets.filter((t) => !early.has(targetKey(t)));
    const count = rest.length > 0 ? await this.deps.loadBalancing.deregister(rest) : { calls: 0 };
    this.workflow.drained = true;
    const calls = this.countElb(count);
    this.deps.metrics.count('TargetsDeregistered', targets.length);
    const atDelivery = early.size > 0 ? ` (${targets.length - rest.length} at delivery, from the index)` : '';
    const late = this.step(
      'drain',
      'done',
      `deregistered from ${targets.length} registrations${atDelivery}, ${calls}`,
    );
    if (late) this.deps.metrics.count('DrainsLate');
    this.sinceEvent('EventToDrainSeconds');
  }

  /**
   * Launches the replacement. An instance of a group (its group tag names a group of the policy)
   * gets it from the group's fleet of this batch, or — when the launch needs what a fleet cannot
   * give — from the group's ranked pools where it is bound, one RunInstances each; any other keeps
   * its own type and subnet, with an On-Demand fallback of its type when Spot has no capacity. A
   * stateful one that finds no capacity in its AZ (its group's pools there included) migrates
   * once at once. Returns its id.
   */
  async launch(save: () => Promise<boolean>): Promise<string | undefined> {
    const grouped = this.groupLaunch();
    const launched = !grouped
      ? await this.tryLaunch()
      : grouped.inFleet
        ? await this.launchInFleet(grouped.group, save)
        : await this.launchInGroupPools(grouped.group, save);
    if (launched || this.superseded || !this.workflow.handover || !this.workflow.instance?.vpcId)
      return launched;
    // A fleet that may still be launching is claimed, not launched around.
    if (this.workflow.replacement?.fleet) return undefined;
    const target = migrationTarget(
      this.workflow,
      await this.deps.stateful.subnetsOf(this.workflow.instance.vpcId),
    );
    if (!target) return undefined;
    const error = this.workflow.replacement?.lastError;
    migrate(this.workflow, target, `no capacity in ${launchAz(this.workflow)} (${error?.code})`);
    this.step(
      'launch',
      'skipped',
      `migrating to ${target.availabilityZone} (${target.subnetId}); volumes follow by snapshot`,
    );
    const migrating = this.groupLaunch();
    return migrating ? this.launchInGroupPools(migrating.group, save) : this.tryLaunch();
  }

  /** A concurrent writer saved the workflow first: this pass launches nothing more. */
  private superseded = false;

  /**
   * The group whose choice launches this replacement, if any (the policy has the instance's group),
   * and how: in the group's fleet of this batch, or — when the launch needs what a fleet cannot
   * give (a kept primary IP, a root volume from a snapshot, a migration) — pool by pool, bound to
   * the kept IP's subnet or the volumes' AZ.
   */
  private groupLaunch(): { group: FleetGroup; inFleet: boolean } | undefined {
    const { workflow, deps } = this;
    const { policy, groupTagKey } = deps.settings;
    const instance = workflow.instance;
    if (!policy || !groupTagKey || !instance?.launchTemplate || !instance.vpcId) return undefined;
    const found = groupOf(instance.tags, groupTagKey, policy);
    if (!found) return undefined;
    workflow.group = found.name;
    const keptIp = keptPrimaryIp(workflow);
    const bound =
      keptIp !== undefined || rootSnapshotOf(workflow) !== undefined || !!workflow.handover?.migration;
    if (!bound && !deps.fleets) return undefined;
    // A revert to Spot launches Spot only: an RI or On-Demand would not be the point.
    const spotOnly = workflow.kind === 'revert-to-spot';
    const group: FleetGroup = {
      name: found.name,
      policy: spotOnly ? { ...found.policy, reservedFirst: false, onDemandFallback: false } : found.policy,
      ...(spotOnly ? { spotOnly } : {}),
      launchTemplate: instance.launchTemplate,
      vpcId: instance.vpcId,
    };
    if (bound)
      return {
        group: {
          ...group,
          availabilityZone: launchAz(workflow)!,
          ...(keptIp !== undefined ? { subnetId: launchSubnet(workflow)! } : {}),
        },
        inFleet: false,
      };
    return {
      group: {
        ...group,
        ...(workflow.handover ? { availabilityZone: workflow.handover.availabilityZone } : {}),
      },
      inFleet: true,
    };
  }

  /**
   * A grouped launch a fleet cannot carry: the group's ranked pools where the launch is bound (the
   * kept IP's subnet, the volumes' AZ), in the choice's order — unused RIs, Spot (at most
   * {@link SPOT_POOLS_PER_PASS}), then On-Demand if the policy falls back to it (at most
   * {@link ON_DEMAND_POOLS_PER_PASS}); never the pool being reclaimed nor an avoided one. Each is
   * one RunInstances with its own ClientToken, recorded before the call.
   */
  private async launchInGroupPools(
    group: FleetGroup,
    save: () => Promise<boolean>,
  ): Promise<string | undefined> {
    const { workflow, deps } = this;
    const instance = workflow.instance!;
    workflow.replacement ??= { attempt: 1, clientToken: clientTokenFor(workflow.workflowId, 1) };
    const r = workflow.replacement;
    const choice = await chooseForGroup(deps, group, [workflow]);
    const poolOf = (p: PoolFacts) => ({
      instanceType: p.instanceType,
      availabilityZone: p.availabilityZone,
      subnetId: p.subnetId,
    });
    const planned: Omit<PoolLaunch, 'clientToken'>[] = [
      ...choice.reserved.map((p) => ({ pool: poolOf(p), market: 'reserved' as const })),
      ...choice.spot.slice(0, SPOT_POOLS_PER_PASS).map((p) => ({ pool: poolOf(p), market: 'spot' as const })),
      ...(group.policy.onDemandFallback
        ? choice.onDemand
            .slice(0, ON_DEMAND_POOLS_PER_PASS)
            .map((p) => ({ pool: poolOf(p), market: 'on-demand' as const }))
        : []),
    ];
    const recorded = r.launching;
    const same = (a: Omit<PoolLaunch, 'clientToken'>) =>
      recorded !== undefined &&
      a.market === recorded.market &&
      a.pool.instanceType === recorded.pool.instanceType &&
      a.pool.subnetId === recorded.pool.subnetId;
    // A launch recorded before a crash goes first, exactly as it was sent.
    const attempts: (PoolLaunch | Omit<PoolLaunch, 'clientToken'>)[] = recorded
      ? [recorded, ...planned.filter((a) => !same(a))]
      : planned;
    const keptIp = keptPrimaryIp(workflow);
    const boundBy =
      keptIp !== undefined
        ? `its kept primary IP ${keptIp} binds it to ${group.subnetId}`
        : workflow.handover?.migration
          ? `migrating to ${group.availabilityZone}`
          : `its volumes bind it to ${group.availabilityZone}`;
    let spotFailures = 0;
    let last: { code: string; message: string } | undefined;
    for (const next of attempts) {
      const launch: PoolLaunch = 'clientToken' in next ? next : { ...next, clientToken: r.clientToken };
      if (launch !== recorded) {
        r.launching = launch;
        if (!(await save())) {
          this.superseded = true;
          return undefined;
        }
      }
      const result = await deps.compute.launch({
        clientToken: launch.clientToken,
        launchTemplate: instance.launchTemplate!,
        subnetId: launch.pool.subnetId,
        instanceType: launch.pool.instanceType,
        privateIpAddress: keptIp,
        rootSnapshot: rootSnapshotOf(workflow),
        // The old instance was Spot: its template (or launch) asks for Spot already.
        spot: launch.market === 'spot' && instance.lifecycle !== 'spot',
        tags: replacementTags(workflow, deps.settings.tags),
      });
      if (result.ok) {
        const stage: FleetStage =
          launch.market === 'on-demand' ? 'on-demand-fallback' : spotFailures > 0 ? 'spot-retry' : 'first';
        const lifecycle = result.lifecycle ?? (launch.market === 'spot' ? 'spot' : 'on-demand');
        const launched = { instanceId: result.instanceId, ...launch.pool, lifecycle, stage };
        const record = describeLaunches([launched], choice, spotFailures).get(result.instanceId)!;
        if (record.capacityType === 'reserved') {
          const ri = choice.reserved.find((p) => poolKey(p) === poolKey(launch.pool));
          if (ri) deps.capacity?.reservationsUsed?.(ri.reservedInstancesId, 1);
        }
        delete r.launching;
        this.recordLaunch(launched, {
          ...record,
          choiceReason: `${record.choiceReason}; ${boundBy} (ClientToken ${launch.clientToken})`,
        });
        this.sinceEvent('EventToLaunchSeconds');
        return result.instanceId;
      }
      if (launch.market === 'spot') spotFailures += 1;
      last = result;
      delete r.launching;
      r.attempt += 1;
      r.clientToken = clientTokenFor(workflow.workflowId, r.attempt);
    }
    const where = group.subnetId ?? group.availabilityZone;
    return this.launchFailed(
      last?.code ?? 'InsufficientInstanceCapacity',
      attempts.length === 0
        ? `no allowed pool of group ${group.name} in ${where} outside the pools being reclaimed or avoided (${boundBy})`
        : `${attempts.length} pools of group ${group.name} in ${where} had no capacity (${boundBy}); last error: ${last?.message}`,
      { advance: false },
    );
  }

  private async launchInFleet(group: FleetGroup, save: () => Promise<boolean>): Promise<string | undefined> {
    const { workflow, deps } = this;
    workflow.replacement ??= { attempt: 1, clientToken: clientTokenFor(workflow.workflowId, 1) };
    const r = workflow.replacement;
    if (r.fleet) {
      const claimed = await this.claimFromFleet(r.fleet);
      if (claimed) return claimed;
      const age = deps.clock.now().getTime() - Date.parse(r.fleet.requestedAt);
      if (age < (deps.settings.fleetClaimAfterMs ?? 15 * 60_000)) {
        this.step(
          'launch',
          'skipped',
          `fleet ${r.fleet.token} may still be launching; its instances are claimed by tag`,
        );
        return undefined;
      }
      delete r.fleet;
      r.attempt += 1;
      r.clientToken = clientTokenFor(workflow.workflowId, r.attempt);
    }
    const share = await deps.fleets!.join(group, { workflow, save });
    if (!share.ok) {
      // The fleet recorded itself on a new replacement record: clear it there, so the next pass
      // launches anew rather than waiting to claim from a fleet that launched nothing for it.
      delete workflow.replacement!.fleet;
      return this.launchFailed(share.code, share.message);
    }
    await this.adopt(share.instance.instanceId);
    this.recordLaunch(share.instance, share.record);
    return share.instance.instanceId;
  }

  /** A retry's share of a fleet recorded before a crash: the instance at this member's place among those tagged with its token. */
  private async claimFromFleet(fleet: { token: string; members: string[] }): Promise<string | undefined> {
    const { workflow, deps } = this;
    const tagged = await deps.compute.instancesTagged({ [deps.settings.tags.fleetToken]: fleet.token });
    const ordered = assignmentOrder(
      tagged.map((i) => ({
        ...i,
        lifecycle: i.lifecycle === 'spot' ? ('spot' as const) : ('on-demand' as const),
      })),
    );
    const mine = ordered[fleet.members.indexOf(workflow.workflowId)];
    if (!mine?.subnetId) return undefined;
    await this.adopt(mine.instanceId);
    const market = mine.lifecycle === 'spot' ? 'Spot' : 'On-Demand';
    this.recordLaunch(
      { ...mine, subnetId: mine.subnetId },
      {
        capacityType: mine.lifecycle,
        choiceReason: `claimed from fleet ${fleet.token} on a retry (${market} ${mine.instanceType} in ${mine.availabilityZone})`,
      },
    );
    return mine.instanceId;
  }

  /**
   * Tags a fleet's instance as this workflow's replacement. A fleet tags its instances alike at
   * launch; afterwards only the handoff's bookkeeping keys may be written.
   */
  private async adopt(instanceId: string): Promise<void> {
    await this.deps.stateful.tag([instanceId], bookkeepingTags(this.workflow, this.deps.settings.tags));
  }

  private recordLaunch(
    instance: { instanceId: string; instanceType: string; availabilityZone: string; subnetId: string },
    record: CapacityRecord,
  ): void {
    const r = this.workflow.replacement!;
    r.instanceId = instance.instanceId;
    r.state = 'pending';
    r.subnetId = instance.subnetId;
    r.pool = {
      instanceType: instance.instanceType,
      availabilityZone: instance.availabilityZone,
      subnetId: instance.subnetId,
    };
    Object.assign(r, record);
    delete r.lastError;
    this.deps.metrics.count('ReplacementsLaunched');
    this.step('launch', 'done', `${instance.instanceId}: ${record.choiceReason}`);
  }

  /** Records a failed launch; with `advance` (default) the next try takes the next attempt's token. */
  private launchFailed(code: string, message: string, { advance = true } = {}): undefined {
    const { workflow, deps } = this;
    const r = workflow.replacement!;
    r.lastError = { code, message, at: deps.clock.now().toISOString() };
    if (advance) {
      r.attempt += 1;
      r.clientToken = clientTokenFor(workflow.workflowId, r.attempt);
    }
    deps.metrics.count('ReplacementLaunchFailures');
    this.step('launch', 'failed', `${code}: ${message}`);
    return undefined;
  }

  private async tryLaunch(): Promise<string | undefined> {
    const { workflow, deps } = this;
    const instance = workflow.instance!;
    workflow.replacement ??= { attempt: 1, clientToken: clientTokenFor(workflow.workflowId, 1) };
    const r = workflow.replacement;
    const subnetId = launchSubnet(workflow)!;
    const request: LaunchRequest = {
      clientToken: r.clientToken,
      launchTemplate: instance.launchTemplate!,
      subnetId,
      privateIpAddress: keptPrimaryIp(workflow),
      rootSnapshot: rootSnapshotOf(workflow),
      tags: replacementTags(workflow, deps.settings.tags),
    };
    const result = await deps.compute.launch(request);
    if (result.ok) {
      r.instanceId = result.instanceId;
      r.state = 'pending';
      r.subnetId = subnetId;
      delete r.lastError;
      deps.metrics.count('ReplacementsLaunched');
      this.step('launch', 'done', `${result.instanceId} in ${subnetId} (ClientToken ${r.clientToken})`);
      this.sinceEvent('EventToLaunchSeconds');
      return result.instanceId;
    }
    const fallback = await this.onDemandOfOwnType(request, result.code);
    return fallback ?? this.launchFailed(result.code, result.message);
  }

  /**
   * An instance with no group: when Spot has no capacity for its own type in its subnet, the same
   * type On-Demand there (one fleet request; not when the launch needs a kept IP or a root snapshot).
   */
  private async onDemandOfOwnType(request: LaunchRequest, spotError: string): Promise<string | undefined> {
    const { workflow, deps } = this;
    const instance = workflow.instance!;
    if (request.privateIpAddress || request.rootSnapshot || workflow.kind === 'revert-to-spot')
      return undefined;
    const availabilityZone = launchAz(workflow)!;
    const result = await deps.compute.launchFleet({
      clientToken: `${request.clientToken}-od`,
      launchTemplate: request.launchTemplate,
      overrides: [{ instanceType: instance.instanceType, availabilityZone, subnetId: request.subnetId }],
      total: 1,
      onDemand: 1,
      spotStrategy: 'price-capacity-optimized',
      onDemandStrategy: 'lowest-price',
      tags: request.tags,
    });
    const launched = result.instances[0];
    if (!launched) return undefined;
    this.recordLaunch(launched, {
      capacityType: 'on-demand',
      choiceReason: `Spot ${instance.instanceType} in ${availabilityZone} had no capacity (${spotError}); On-Demand fallback of its own type`,
    });
    return launched.instanceId;
  }

  /**
   * Moves what is ready, then verifies the moves: address moves take effect at once, attachments
   * within seconds (waited for up to `attachWaitMs`; after that the sweep verifies them). Tags the
   * replacement ready when every resource is accounted for.
   */
  async handOver(replacement: InstanceFacts): Promise<InstanceFacts> {
    const { workflow, deps } = this;
    const handover = workflow.handover!;
    let current = replacement;
    const waitUntil = deps.clock.now().getTime() + deps.settings.attachWaitMs;
    for (let round = 0; !everyResourceAccountedFor(handover); round++) {
      if (round >= 2) {
        if (deps.clock.now().getTime() >= waitUntil) break;
        await deps.clock.sleep(1_000);
      }
      const moved = await handOverPass({
        workflow,
        replacement: current,
        oldState: workflow.oldInstanceState ?? 'gone',
        stateful: deps.stateful,
        tags: deps.settings.tags,
        now: () => deps.clock.now(),
      });
      for (const line of moved) this.log.info(`handover: ${line}`, { step: 'handover' });
      if (!handover.resources.some((r) => r.status === 'moving')) break;
      current =
        (await deps.compute.describeInstances([current.instanceId])).get(current.instanceId) ?? current;
    }
    if (everyResourceAccountedFor(handover)) {
      const ready = deps.settings.tags.ready;
      await deps.stateful.tag([current.instanceId], { [ready]: 'ready' });
      handover.readyAt = deps.clock.now().toISOString();
      const left = handover.resources.filter((r) => r.status === 'left-available').length;
      this.step(
        'handover',
        'done',
        `${handover.resources.length - left} resources moved${left ? `, ${left} left available` : ''}; tagged ${ready}=ready`,
      );
    }
    return current;
  }

  async register(replacement: InstanceFacts): Promise<void> {
    const { workflow, deps } = this;
    // A replacement's own workflow also registers where its parent meant it to serve.
    const inherited = workflow.parent?.inheritedTargets ?? [];
    const { targets, notCarried } = replacementTargets(
      { ...workflow, targets: [...(workflow.targets ?? []), ...inherited] },
      replacement,
    );
    const count = targets.length > 0 ? await deps.loadBalancing.register(targets) : { calls: 0 };
    workflow.registered = targets;
    const calls = this.countElb(count);
    deps.metrics.count('TargetsRegistered', targets.length);
    const lost =
      notCarried.length > 0
        ? `; not carried over: ${notCarried.map((t) => `${t.id}:${t.port}`).join(', ')}`
        : '';
    this.step('register', 'done', `${targets.length} registrations, ${calls}${lost}`);
    deps.metrics.seconds(
      'HandoffSeconds',
      (deps.clock.now().getTime() - Date.parse(workflow.startedAt)) / 1000,
    );
    this.sinceEvent('EventToRegistrationSeconds');
  }

  /** Sets the workflow's status from what it now shows; records its completion once. */
  /** The replacement is being reclaimed: registered nowhere; its own workflow takes the registrations. */
  leaveRegistrations(reclaimedBy: string): void {
    this.workflow.replacement!.reclaimedBy = reclaimedBy;
    this.workflow.registered = [];
    this.step(
      'register',
      'skipped',
      `replacement is being reclaimed; ${reclaimedBy} registers its replacement here`,
    );
  }

  updateStatus(): void {
    const { workflow, deps } = this;
    const before = workflow.status;
    updateStatus(workflow, deps.clock.now(), deps.settings.retentionDays);
    if (workflow.status === 'completed' && before !== 'completed') {
      this.step('completed', 'done', `${workflow.outcome}: ${workflow.reason}`);
      deps.metrics.count('WorkflowsCompleted');
    }
    const failure = missedHandover(workflow, deps.clock.now());
    if (failure) {
      this.step('register', 'failed', failure);
      deps.metrics.count('WorkflowsFailed');
    }
  }

  /**
   * Records the ELB calls a step took part in; a call merged for a batch counts for each workflow
   * in its share, so the metric adds up to the calls made. Returns them in words.
   */
  private countElb({ calls, sharedBy = 1 }: ElbCallCount): string {
    this.workflow.elbCalls += calls;
    this.deps.metrics.count('ElbApiCalls', calls / sharedBy);
    return `${calls} ELB calls${sharedBy > 1 ? ` shared by ${sharedBy} workflows` : ''}`;
  }
}

/**
 * Why the workflow has failed, the first time it is seen so: its replacement was due to serve by the
 * handover deadline (the handover timeout after the old instance stopped) and does not. The
 * workflow stays open and keeps trying; the failure is recorded (and counted) once.
 */
function missedHandover(workflow: Workflow, now: Date): string | undefined {
  const by = workflow.deadlines?.handoverBy;
  if (workflow.status !== 'in-progress' || workflow.registered !== undefined || by === undefined)
    return undefined;
  if (!workflow.instance || !replaceability(workflow.instance).replaceable) return undefined;
  if (Date.parse(by) >= now.getTime()) return undefined;
  if (workflow.steps.some((s) => s.name === 'register' && s.status === 'failed')) return undefined;
  return `the replacement does not serve by ${by}: ${workflow.reason ?? 'see the workflow'}`;
}

/** Pools a grouped launch a fleet cannot carry tries in one pass, per market; the next pass tries again. */
const SPOT_POOLS_PER_PASS = 5;
const ON_DEMAND_POOLS_PER_PASS = 3;

const launchAz = (workflow: Workflow) =>
  workflow.handover?.migration?.availabilityZone ?? workflow.instance?.availabilityZone;
