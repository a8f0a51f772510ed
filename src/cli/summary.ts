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
  steps: { name: string; status: string; at: string; elapsedMs: number; detail?: string }[];
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
    steps: workflow.steps.map(({ name, status, at, elapsedMs, detail }) => ({
      name,
      status,
      at,
      elapsedMs,
      detail,
    })),
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
