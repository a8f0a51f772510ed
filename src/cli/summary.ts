import type { InstanceOutcome } from '../core/handoff.ts';
import { resourceLabel } from '../core/stateful.ts';
import type { Workflow } from '../core/workflow.ts';

/** The machine-readable view of a workflow (`--json`). */
export interface WorkflowSummary {
  workflowId: string;
  instanceId: string;
  status: string;
  outcome?: string;
  reason?: string;
  replacementId?: string;
  drained: boolean;
  targets: { targetGroupArn: string; id: string; port: number }[];
  registered: { targetGroupArn: string; id: string; port: number }[];
  eventIds: string[];
  steps: { name: string; status: string; at: string; elapsedMs: number; detail?: string; late?: boolean }[];
  /** An open workflow: what it waits for, in words. */
  waitingFor?: string;
  /** The stateful handoff, when the instance asked for it. */
  handover?: {
    availabilityZone: string;
    migratedTo?: string;
    readyAt?: string;
    resources: { kind: string; id: string; status: string; movedAt?: string; reason?: string }[];
  };
}

export function summarize(workflow: Workflow): WorkflowSummary {
  const target = (t: { targetGroupArn: string; id: string; port: number }) => ({
    targetGroupArn: t.targetGroupArn,
    id: t.id,
    port: t.port,
  });
  return {
    workflowId: workflow.workflowId,
    instanceId: workflow.instanceId,
    status: workflow.status,
    outcome: workflow.outcome,
    reason: workflow.reason,
    replacementId: workflow.replacement?.instanceId,
    drained: workflow.drained,
    targets: (workflow.targets ?? []).map(target),
    registered: (workflow.registered ?? []).map(target),
    eventIds: workflow.eventIds,
    steps: workflow.steps.map(({ name, status, at, elapsedMs, detail, late }) => ({
      name,
      status,
      at,
      elapsedMs,
      detail,
      ...(late ? { late } : {}),
    })),
    waitingFor: waitingFor(workflow),
    handover: workflow.handover && {
      availabilityZone: workflow.handover.availabilityZone,
      migratedTo: workflow.handover.migration?.availabilityZone,
      readyAt: workflow.handover.readyAt,
      resources: workflow.handover.resources.map((r) => ({
        kind: r.kind,
        id: resourceLabel(r),
        status: r.status,
        movedAt: r.movedAt,
        reason: r.reason,
      })),
    },
  };
}

/** A short human line for a workflow. */
export function describeWorkflow(w: Workflow): string {
  const replacement = w.replacement?.instanceId ? ` → ${w.replacement.instanceId}` : '';
  return `${w.workflowId}  ${w.status}${w.outcome ? ` (${w.outcome})` : ''}${replacement}  ${w.reason ?? ''}`.trimEnd();
}

/** What a pass did for one instance, in a line's worth. */
export function outcomeOf(o: InstanceOutcome): { instanceId: string; result: string; reason?: string } {
  return o.result === 'workflow'
    ? { instanceId: o.instanceId, result: `workflow ${o.workflow.status}`, reason: o.workflow.reason }
    : { instanceId: o.instanceId, result: o.result, reason: o.reason };
}

/**
 * What an open workflow waits for. A stateful one whose resources are still `protected` waits for
 * the old instance to stop: EC2 frees its volumes and interfaces only then.
 */
export function waitingFor(workflow: Workflow): string | undefined {
  if (workflow.status === 'completed') return undefined;
  const kept = (workflow.handover?.resources ?? []).filter((r) => r.status === 'protected');
  const oldState = workflow.oldInstanceState ?? 'running';
  const oldRuns = oldState === 'running' || oldState === 'pending';
  if (kept.length > 0 && oldRuns) {
    const reclaim = workflow.deadlines?.reclaimAt;
    return `the old instance ${workflow.instanceId} to stop (it is ${oldState}${reclaim ? `; EC2 reclaims it at ${reclaim}` : ''}): ${kept.map(resourceLabel).join(', ')} are kept on termination and move to ${workflow.replacement?.instanceId ?? 'the replacement'} then, on its state-change event or the next sweep.`;
  }
  return workflow.reason;
}
