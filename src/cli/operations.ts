import { createPlanLog, type PlanEntry } from '../aws/dry-run.ts';
import { awsHandoffDeps } from '../aws/handoff-deps.ts';
import { DynamoWorkflowStore } from '../aws/workflow-store.ts';
import type { InstanceOutcome } from '../core/handoff.ts';
import type { WorkflowStore } from '../core/ports.ts';
import { sweepOpenWorkflows } from '../core/sweep.ts';
import { type Workflow, type WorkflowStatus, workflowIdFor } from '../core/workflow.ts';
import { type CapacityReport, capacityReport } from './capacity-report.ts';
import { consoleLog, noMetrics } from './console-log.ts';
import { type Deployment, type DeploymentOptions, openDeployment } from './deployment.ts';
import { CliError } from './errors.ts';
import { describeWorkflow, outcomeOf, summarize, type WorkflowSummary } from './summary.ts';
import { type Timeline, timelineOf, writeTimelineSvg } from './timeline.ts';

/**
 * The commands on a deployment's workflows: `status`, `timeline`, `sweep` and `report`. Each reaches the
 * table of a stack (`--stack`, its output StateTableName) or of `HANDOFF_TABLE_NAME` with the SDK's
 * endpoints (an account, LocalStack, moto), in `--region` with `--profile`.
 */

export interface StatusFilter {
  status?: WorkflowStatus;
  /** The instance's group: its `spot-handoff:group` tag, its Auto Scaling group, or a target group's name. */
  group?: string;
  /** Only workflows started at or after this time. */
  since?: Date;
  limit: number;
}

export const GROUP_TAG = 'spot-handoff:group';

/** `90s`, `15m`, `2h`, `7d` in milliseconds; undefined for anything else. */
export function parseAge(text: string): number | undefined {
  const match = /^(\d+(?:\.\d+)?)([smhd])$/.exec(text.trim());
  if (!match) return undefined;
  const unit = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 }[match[2] as 's' | 'm' | 'h' | 'd'];
  return Number(match[1]) * unit;
}

/** The target group's name in its ARN (`…:targetgroup/web/0123…` → `web`). */
const targetGroupName = (arn: string) => /targetgroup\/([^/]+)\//.exec(arn)?.[1];

/** Whether the workflow's instance belongs to `group`. */
export function inGroup(workflow: Workflow, group: string): boolean {
  const instance = workflow.instance;
  const names = new Set([
    instance?.tags[GROUP_TAG],
    instance?.autoScalingGroup,
    ...(workflow.targets ?? []).map((t) => targetGroupName(t.targetGroupArn)),
  ]);
  return names.has(group);
}

export async function findWorkflow(store: WorkflowStore, id: string): Promise<Workflow | undefined> {
  if (id.startsWith('wf-')) return store.get(id);
  const own = await store.get(workflowIdFor(id));
  if (own) return own;
  const replaced = await store.workflowOfReplacement(id);
  return replaced ? store.get(replaced) : undefined;
}

/** Read-only: `status`, `timeline` and `report` need only read permissions (the sweep indexes old items). */
function storeOf(deployment: Deployment): WorkflowStore {
  return new DynamoWorkflowStore({
    client: deployment.clients.documentClient,
    tableName: deployment.config.tableName,
    readOnly: true,
  });
}

const where = (d: Deployment) => `table ${d.config.tableName} (${d.source}, ${d.region})`;

export interface StatusResult {
  table: string;
  workflows: WorkflowSummary[];
  /** Lines for a person. */
  lines: string[];
}

export async function runStatus(
  target: DeploymentOptions,
  id: string | undefined,
  filter: StatusFilter,
): Promise<StatusResult> {
  const deployment = await openDeployment(target);
  try {
    const store = storeOf(deployment);
    let workflows: Workflow[];
    if (id) {
      const found = await findWorkflow(store, id);
      if (!found) throw new CliError(`No workflow for ${id} in ${where(deployment)}.`);
      workflows = [found];
    } else {
      workflows = (await store.list(filter.status ? { status: filter.status } : {}))
        .filter((w) => filter.group === undefined || inGroup(w, filter.group))
        .filter((w) => filter.since === undefined || Date.parse(w.startedAt) >= filter.since.getTime())
        .slice(0, filter.limit);
    }
    const lines =
      workflows.length === 0
        ? [`No workflows in ${where(deployment)} match.`]
        : workflows.map(describeWorkflow);
    return { table: deployment.config.tableName, workflows: workflows.map(summarize), lines };
  } finally {
    deployment.clients.dynamodb.destroy();
  }
}

export interface ReportResult {
  table: string;
  capacity: CapacityReport;
}

/** `handoff report` on a deployment: every workflow of its table (a scan), oldest first, reported. */
export async function runReport(target: DeploymentOptions): Promise<ReportResult> {
  const deployment = await openDeployment(target);
  try {
    const workflows = await storeOf(deployment).list();
    return { table: deployment.config.tableName, capacity: capacityReport(workflows.reverse()) };
  } finally {
    deployment.clients.dynamodb.destroy();
  }
}

export interface TimelineResult {
  timeline: Timeline;
  /** Where the picture was written, with `--svg`. */
  svg?: string;
}

export async function runTimeline(
  target: DeploymentOptions,
  id: string,
  svgFile: string | undefined,
): Promise<TimelineResult> {
  const deployment = await openDeployment(target);
  try {
    const workflow = await findWorkflow(storeOf(deployment), id);
    if (!workflow) throw new CliError(`No workflow for ${id} in ${where(deployment)}.`);
    const timeline = timelineOf(workflow);
    if (svgFile) await writeTimelineSvg(svgFile, timeline);
    return { timeline, svg: svgFile };
  } finally {
    deployment.clients.dynamodb.destroy();
  }
}

export interface SweepResult {
  table: string;
  dryRun: boolean;
  outcomes: { instanceId: string; result: string; reason?: string }[];
  plan: PlanEntry[];
}

/** The sweep, now: the same pass the scheduled function makes (with `dryRun`, only planned). */
export async function runSweep(
  target: DeploymentOptions,
  dryRun: boolean,
  print: (line: string) => void,
): Promise<SweepResult> {
  const deployment = await openDeployment(target);
  const plan = dryRun ? createPlanLog() : undefined;
  try {
    const deps = awsHandoffDeps({
      config: deployment.config,
      clients: deployment.clients,
      log: consoleLog(print),
      metrics: noMetrics,
      dryRunPlan: plan,
    });
    const outcomes: InstanceOutcome[] = await sweepOpenWorkflows(deps);
    return {
      table: deployment.config.tableName,
      dryRun,
      outcomes: outcomes.map(outcomeOf),
      plan: plan?.entries() ?? [],
    };
  } finally {
    deployment.clients.dynamodb.destroy();
  }
}
