/**
 * `handoff report`: where each replacement went and why, what it costs an hour against On-Demand,
 * and the estimated saving, per workflow, per group and in total. Pure: workflows in, a report
 * out; `formatCapacityReport` renders it for people, `--json` prints the report itself.
 */

/** Hours in a month, as AWS's own price pages and calculator count them. */
export const HOURS_PER_MONTH = 730;

export type CapacityType = 'reserved' | 'spot' | 'on-demand';

/** What the report reads of a workflow (the fields the launch records; see `Replacement` in workflow.ts). */
export interface ReportedWorkflow {
  workflowId: string;
  instanceId: string;
  status: string;
  outcome?: string;
  kind?: string;
  group?: string;
  replacement?: {
    instanceId?: string;
    pool?: { instanceType: string; availabilityZone: string; subnetId: string };
    capacityType?: CapacityType;
    choiceReason?: string;
    hourlyPrice?: number;
    onDemandPrice?: number;
  };
}

export interface CapacityLine {
  workflowId: string;
  instanceId: string;
  /** Why the workflow exists: `interruption` unless recorded otherwise. */
  kind: string;
  group?: string;
  status: string;
  outcome?: string;
  replacementId?: string;
  pool?: { instanceType: string; availabilityZone: string; subnetId: string };
  capacityType?: CapacityType;
  reason?: string;
  /** USD per hour of the replacement, and of the same type On-Demand. */
  hourlyPrice?: number;
  onDemandPrice?: number;
  /** On-Demand minus what it costs, USD per hour and per month of {@link HOURS_PER_MONTH} hours. */
  savingPerHour?: number;
  savingPerMonth?: number;
  /**
   * The workflow that replaced this replacement in turn (e.g. an On-Demand fallback reverted to
   * Spot): its cost is no longer being paid, so the totals leave it out.
   */
  supersededBy?: string;
}

export interface CapacityTotals {
  workflows: number;
  /** Replacements still running (not superseded by a later workflow). */
  replacements: number;
  byCapacityType: Record<CapacityType, number>;
  /** Replacements with both prices recorded: the sums below cover only these. */
  priced: number;
  hourlyCost: number;
  onDemandHourlyCost: number;
  savingPerHour: number;
  savingPerMonth: number;
  /** The saving as a share of the On-Demand cost, 0–100 (0 when nothing is priced). */
  savingPercent: number;
}

export interface CapacityReport {
  workflows: CapacityLine[];
  groups: ({ group: string } & CapacityTotals)[];
  total: CapacityTotals;
  hoursPerMonth: number;
}

/** Hourly amounts to a hundredth of a cent, monthly ones to the cent. */
const hourly = (usd: number) => Math.round(usd * 10_000) / 10_000;
const monthly = (usdPerHour: number) => Math.round(usdPerHour * HOURS_PER_MONTH * 100) / 100;

/**
 * The report over `workflows` (any order): one line each, oldest first as given, the totals over
 * the replacements still running. A workflow with no replacement (drained only, still launching)
 * is listed but not counted.
 *
 * @example
 * capacityReport([{ workflowId: 'wf-i-1', instanceId: 'i-1', status: 'completed',
 *   replacement: { instanceId: 'i-2', capacityType: 'spot', hourlyPrice: 0.04, onDemandPrice: 0.096 } }])
 *   .total.savingPerMonth; // 40.88
 */
export function capacityReport(workflows: readonly ReportedWorkflow[]): CapacityReport {
  const replacedBy = new Map<string, string>();
  for (const w of workflows) if (w.replacement?.instanceId) replacedBy.set(w.instanceId, w.workflowId);
  const lines = workflows.map((w): CapacityLine => {
    const r = w.replacement;
    const priced = r?.hourlyPrice !== undefined && r.onDemandPrice !== undefined;
    const savingPerHour = priced ? hourly(r.onDemandPrice! - r.hourlyPrice!) : undefined;
    return {
      workflowId: w.workflowId,
      instanceId: w.instanceId,
      kind: w.kind ?? 'interruption',
      group: w.group,
      status: w.status,
      outcome: w.outcome,
      replacementId: r?.instanceId,
      pool: r?.pool && { ...r.pool },
      capacityType: r?.capacityType,
      reason: r?.choiceReason,
      hourlyPrice: r?.hourlyPrice,
      onDemandPrice: r?.onDemandPrice,
      savingPerHour,
      savingPerMonth: savingPerHour === undefined ? undefined : monthly(savingPerHour),
      supersededBy: r?.instanceId ? replacedBy.get(r.instanceId) : undefined,
    };
  });
  const groups = [...new Set(lines.map((l) => l.group ?? '(no group)'))].sort();
  return {
    workflows: lines,
    groups: groups.map((group) => ({
      group,
      ...totalsOf(lines.filter((l) => (l.group ?? '(no group)') === group)),
    })),
    total: totalsOf(lines),
    hoursPerMonth: HOURS_PER_MONTH,
  };
}

function totalsOf(lines: readonly CapacityLine[]): CapacityTotals {
  const running = lines.filter((l) => l.replacementId !== undefined && l.supersededBy === undefined);
  const byCapacityType: Record<CapacityType, number> = { reserved: 0, spot: 0, 'on-demand': 0 };
  for (const l of running) if (l.capacityType) byCapacityType[l.capacityType] += 1;
  const priced = running.filter((l) => l.savingPerHour !== undefined);
  const hourlyCost = hourly(priced.reduce((sum, l) => sum + l.hourlyPrice!, 0));
  const onDemandHourlyCost = hourly(priced.reduce((sum, l) => sum + l.onDemandPrice!, 0));
  const savingPerHour = hourly(onDemandHourlyCost - hourlyCost);
  return {
    workflows: lines.length,
    replacements: running.length,
    byCapacityType,
    priced: priced.length,
    hourlyCost,
    onDemandHourlyCost,
    savingPerHour,
    savingPerMonth: monthly(savingPerHour),
    savingPercent: onDemandHourlyCost > 0 ? Math.round((savingPerHour / onDemandHourlyCost) * 1000) / 10 : 0,
  };
}

const usd = (value: number | undefined, digits = 4) =>
  value === undefined ? '-' : `$${value.toFixed(digits)}`;

const poolLabel = (pool: CapacityLine['pool']) =>
  pool ? `${pool.instanceType} in ${pool.availabilityZone}` : '-';

/** One line per workflow (and its reason beneath), then per group and in total. */
export function formatCapacityReport(report: CapacityReport): string[] {
  if (report.workflows.length === 0) return ['No workflows to report.'];
  const out: string[] = [];
  for (const l of report.workflows) {
    const cost =
      l.hourlyPrice === undefined
        ? 'price not recorded'
        : `${usd(l.hourlyPrice)}/h vs ${usd(l.onDemandPrice)}/h On-Demand, saving ${usd(l.savingPerHour)}/h (${usd(l.savingPerMonth, 2)}/month)`;
    const what = l.replacementId
      ? `→ ${l.replacementId} ${l.capacityType ?? 'capacity type not recorded'} ${poolLabel(l.pool)}, ${cost}`
      : `no replacement (${l.outcome ?? l.status})`;
    const group = l.group ? ` [${l.group}]` : '';
    const kind = l.kind === 'interruption' ? '' : ` (${l.kind})`;
    const superseded = l.supersededBy ? `; since replaced by ${l.supersededBy}` : '';
    out.push(`${l.workflowId}${group}${kind} ${what}${superseded}`);
    if (l.reason) out.push(`    why: ${l.reason}`);
  }
  const totals = (label: string, t: CapacityTotals) =>
    `${label}: ${t.replacements} running replacements (${t.byCapacityType.reserved} on Reserved Instances, ${t.byCapacityType.spot} Spot, ${t.byCapacityType['on-demand']} On-Demand); ${usd(t.hourlyCost)}/h against ${usd(t.onDemandHourlyCost)}/h On-Demand: saving ${usd(t.savingPerHour)}/h, ${usd(t.savingPerMonth, 2)}/month at ${report.hoursPerMonth} h (${t.savingPercent}%)${t.priced < t.replacements ? `; ${t.replacements - t.priced} without a recorded price left out` : ''}.`;
  out.push('');
  if (report.groups.length > 1) for (const g of report.groups) out.push(totals(`Group ${g.group}`, g));
  out.push(totals('Total', report.total));
  return out;
}
