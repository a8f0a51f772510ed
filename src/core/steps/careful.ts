import type { InstanceFacts, Target } from '../facts.ts';
import { policyOf } from '../group-policy.ts';
import { standbyEndDue, withinBudget } from '../plan.ts';
import { type HandoffDeps, type Log, type TargetHealthState, targetKey } from '../ports.ts';
import type { Workflow } from '../workflow.ts';
import type { Pass } from './pass.ts';

/**
 * The actions of a careful replace and of a standby's end. The replacement goes in before the old
 * instance goes out: launched, running, registered, healthy in every target group of the old
 * instance; only then is the old instance drained and, once its targets finished draining,
 * terminated. A retiring standby goes out the same way. Each action records itself as a step.
 */
export class CarefulSteps {
  constructor(
    private readonly workflow: Workflow,
    private readonly pass: Pass,
    private readonly deps: HandoffDeps,
    private readonly log: Log,
  ) {}

  /**
   * A careful replace not yet admitted: a `rebalance-replace` waits while its group's churn budget
   * is spent (recorded and counted; the sweep retries); every other kind is admitted at once.
   */
  async admit(): Promise<void> {
    const { workflow, deps } = this;
    const careful = workflow.careful;
    if (!careful || careful.admittedAt) return;
    const now = deps.clock.now().toISOString();
    if (workflow.kind === 'rebalance-replace') {
      const { churnBudgetPercent } = policyOf(deps.settings.policies, workflow.group);
      const { busy, size } = await this.groupInRebalance();
      if (!withinBudget(busy, size, churnBudgetPercent)) {
        const first = careful.overBudgetSince === undefined;
        careful.overBudgetSince ??= now;
        deps.metrics.count('ChurnBudgetExceeded');
        if (first)
          this.pass.step(
            'launch',
            'skipped',
            `churn budget: ${busy} of ${size} instances of group ${workflow.group ?? '(none)'} already in rebalance (at most ${churnBudgetPercent}%); the sweep retries`,
          );
        return;
      }
    }
    careful.admittedAt = now;
  }

  /** Has the registered replacement passed health checks in every target group? */
  async checkHealthy(): Promise<void> {
    const registered = this.workflow.registered ?? [];
    const { states, calls } = await this.health(registered);
    if (states.some((s) => s !== 'healthy')) {
      this.log.info('Replacement not yet healthy everywhere.', { health: states, elbCalls: calls });
      return;
    }
    this.workflow.careful!.healthyAt = this.deps.clock.now().toISOString();
    this.pass.step('healthy', 'done', `${registered.length} registrations healthy`);
  }

  /** Terminates the old instance once its targets finished draining (managed instances only). */
  async terminateOld(old: InstanceFacts): Promise<void> {
    const { workflow, deps } = this;
    const careful = workflow.careful!;
    if (!(await this.drained(workflow.targets ?? []))) return;
    careful.drainedAt ??= deps.clock.now().toISOString();
    const { managed } = deps.settings.tags;
    if (old.tags[managed] !== 'true') {
      throw new Error(
        `Refusing to terminate ${old.instanceId}: it no longer carries ${managed}=true. Tag it again or terminate it yourself; workflow ${workflow.workflowId} waits.`,
      );
    }
    await deps.compute.terminateManaged(old.instanceId, { key: managed, value: 'true' });
    careful.terminatedOldAt = deps.clock.now().toISOString();
    deps.metrics.count('OldInstancesTerminated');
    this.pass.step('terminated-old', 'done', `${old.instanceId} terminated after draining`);
  }

  /** Ends a standby that has served long enough without a warning, by its group's policy. */
  endStandbyIfDue(): void {
    const { workflow, deps } = this;
    const due = standbyEndDue(workflow, policyOf(deps.settings.policies, workflow.group), deps.clock.now());
    if (!due) return;
    const at = deps.clock.now().toISOString();
    workflow.standbyEnd = { ...due, at };
    if (due.action === 'promote') {
      workflow.careful = { reason: due.reason, requestedAt: at, admittedAt: at };
      deps.metrics.count('StandbysPromoted');
    } else {
      deps.metrics.count('StandbysRetired');
    }
    this.pass.step('standby-end', 'done', due.reason);
  }

  /** Drains the retiring standby, then terminates it once drained. */
  async retireStandby(replacement: InstanceFacts): Promise<void> {
    const { workflow, deps } = this;
    const end = workflow.standbyEnd!;
    const registered = workflow.registered ?? [];
    if (!end.deregisteredAt) {
      if (registered.length > 0) await deps.loadBalancing.deregister(registered);
      end.deregisteredAt = deps.clock.now().toISOString();
      this.pass.step(
        'drain',
        'done',
        `standby ${replacement.instanceId} deregistered from ${registered.length} registrations`,
      );
    }
    if (!(await this.drained(registered))) return;
    end.drainedAt ??= deps.clock.now().toISOString();
    const { managed } = deps.settings.tags;
    await deps.compute.terminateManaged(replacement.instanceId, { key: managed, value: 'true' });
    end.terminatedAt = deps.clock.now().toISOString();
    end.terminatedReplacementId = replacement.instanceId;
    // The old instance may still be interrupted later: its next replacement is a new launch.
    const attempt = (workflow.replacement?.attempt ?? 1) + 1;
    workflow.replacement = { attempt, clientToken: `${workflow.workflowId}-${attempt}` };
    delete workflow.registered;
    workflow.signals.rebalance = false;
    this.pass.step('terminated-replacement', 'done', `${replacement.instanceId} terminated after draining`);
  }

  /** None of the targets is still draining (deregistration delay over). */
  private async drained(targets: readonly Target[]): Promise<boolean> {
    const { states } = await this.health(targets);
    return !states.includes('draining');
  }

  private async health(targets: readonly Target[]): Promise<{ states: TargetHealthState[]; calls: number }> {
    if (targets.length === 0) return { states: [], calls: 0 };
    const { health, calls } = await this.deps.loadBalancing.targetHealth(targets);
    this.workflow.elbCalls += calls;
    this.deps.metrics.count('ElbApiCalls', calls);
    return { states: targets.map((t) => health.get(targetKey(t)) ?? 'unused'), calls };
  }

  /** The group's managed instances, and how many of the others are in a rebalance replace now. */
  private async groupInRebalance(): Promise<{ busy: number; size: number }> {
    const { workflow, deps } = this;
    const { tags } = deps.settings;
    const members = await deps.compute.instancesTagged({
      [tags.managed]: 'true',
      ...(workflow.group ? { [tags.group]: workflow.group } : {}),
    });
    const inGroup = members.filter((m) => workflow.group !== undefined || !m.tags[tags.group]);
    const running = new Set(inGroup.map((m) => m.instanceId));
    // A replacement beside the instance it replaces is not one more member.
    const ids = new Set(
      inGroup.filter((m) => !running.has(m.tags[tags.replaces] ?? '')).map((m) => m.instanceId),
    );
    const open = await deps.store.list({ status: 'in-progress' });
    const busy = open.filter(
      (w) =>
        w.workflowId !== workflow.workflowId &&
        w.kind === 'rebalance-replace' &&
        w.careful?.admittedAt !== undefined &&
        ids.has(w.instanceId),
    ).length;
    return { busy, size: ids.size };
  }
}
