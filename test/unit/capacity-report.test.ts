import { describe, expect, it } from 'vitest';
import {
  type CapacityReport,
  capacityReport,
  formatCapacityReport,
  HOURS_PER_MONTH,
  type ReportedWorkflow,
} from '../../src/cli/capacity-report.ts';

/** The report over records: each row a set of workflows and what the report says of them. */

const pool = (instanceType: string, availabilityZone: string) => ({
  instanceType,
  availabilityZone,
  subnetId: `subnet-${availabilityZone.slice(-1)}`,
});

const spot: ReportedWorkflow = {
  workflowId: 'wf-i-1',
  instanceId: 'i-1',
  status: 'completed',
  outcome: 'replaced',
  group: 'web',
  replacement: {
    instanceId: 'i-101',
    pool: pool('m6i.large', 'us-east-1b'),
    capacityType: 'spot',
    choiceReason: 'Spot m6i.large in us-east-1b: placement score 9, 0 recent interruptions, $0.0400/h',
    hourlyPrice: 0.04,
    onDemandPrice: 0.096,
  },
};
const reserved: ReportedWorkflow = {
  workflowId: 'wf-i-2',
  instanceId: 'i-2',
  status: 'completed',
  outcome: 'replaced',
  group: 'web',
  replacement: {
    instanceId: 'i-102',
    pool: pool('m5.large', 'us-east-1c'),
    capacityType: 'reserved',
    choiceReason: 'unused RI r-1 covers m5.large in us-east-1c',
    hourlyPrice: 0,
    onDemandPrice: 0.096,
  },
};
const onDemand: ReportedWorkflow = {
  workflowId: 'wf-i-3',
  instanceId: 'i-3',
  status: 'completed',
  outcome: 'replaced',
  group: 'web',
  replacement: {
    instanceId: 'i-103',
    pool: pool('m5.large', 'us-east-1b'),
    capacityType: 'on-demand',
    choiceReason: '4 Spot pools had no capacity; On-Demand fallback',
    hourlyPrice: 0.096,
    onDemandPrice: 0.096,
  },
};
/** The On-Demand fallback i-103, replaced by Spot when capacity came back. */
const reverted: ReportedWorkflow = {
  workflowId: 'wf-i-103',
  instanceId: 'i-103',
  kind: 'revert-to-spot',
  status: 'completed',
  outcome: 'replaced',
  group: 'web',
  replacement: {
    instanceId: 'i-104',
    pool: pool('m5a.large', 'us-east-1c'),
    capacityType: 'spot',
    choiceReason: 'Spot m5a.large in us-east-1c: placement score 8, 0 recent interruptions, $0.0300/h',
    hourlyPrice: 0.03,
    onDemandPrice: 0.086,
  },
};
const drainedOnly: ReportedWorkflow = {
  workflowId: 'wf-i-4',
  instanceId: 'i-4',
  status: 'completed',
  outcome: 'asg-managed',
};
const unpriced: ReportedWorkflow = {
  workflowId: 'wf-i-5',
  instanceId: 'i-5',
  status: 'completed',
  outcome: 'replaced',
  replacement: { instanceId: 'i-105' },
};

describe('capacityReport: per workflow', () => {
  it.each([
    ['Spot', spot, { capacityType: 'spot', savingPerHour: 0.056, savingPerMonth: 40.88 }],
    [
      'an unused RI (prepaid: costs nothing more an hour)',
      reserved,
      { capacityType: 'reserved', savingPerHour: 0.096, savingPerMonth: 70.08 },
    ],
    [
      'On-Demand fallback: no saving',
      onDemand,
      { capacityType: 'on-demand', savingPerHour: 0, savingPerMonth: 0 },
    ],
    ['no replacement', drainedOnly, { replacementId: undefined, savingPerHour: undefined }],
    [
      'no prices recorded (launched before the policy)',
      unpriced,
      { replacementId: 'i-105', savingPerHour: undefined },
    ],
  ] as const)('%s', (_, workflow, expected) => {
    const [line] = capacityReport([workflow]).workflows;

    expect(line).toMatchObject({ workflowId: workflow.workflowId, kind: 'interruption', ...expected });
    expect(line!.reason).toBe(workflow.replacement?.choiceReason);
    expect(line!.pool).toEqual(workflow.replacement?.pool);
  });

  it('a replacement replaced in turn (an On-Demand fallback reverted to Spot) names the workflow that did it', () => {
    const report = capacityReport([onDemand, reverted]);

    expect(report.workflows.map((l) => [l.workflowId, l.kind, l.supersededBy])).toEqual([
      ['wf-i-3', 'interruption', 'wf-i-103'],
      ['wf-i-103', 'revert-to-spot', undefined],
    ]);
  });
});

describe('capacityReport: totals', () => {
  const cases: [string, ReportedWorkflow[], Partial<CapacityReport['total']>][] = [
    ['nothing', [], { workflows: 0, replacements: 0, hourlyCost: 0, savingPercent: 0 }],
    [
      'Spot + RI + On-Demand',
      [spot, reserved, onDemand],
      {
        workflows: 3,
        replacements: 3,
        byCapacityType: { reserved: 1, spot: 1, 'on-demand': 1 },
        priced: 3,
        hourlyCost: 0.136,
        onDemandHourlyCost: 0.288,
        savingPerHour: 0.152,
        savingPerMonth: 110.96,
        savingPercent: 52.8,
      },
    ],
    [
      'the reverted fallback counts once, as Spot',
      [onDemand, reverted],
      {
        workflows: 2,
        replacements: 1,
        byCapacityType: { reserved: 0, spot: 1, 'on-demand': 0 },
        hourlyCost: 0.03,
        onDemandHourlyCost: 0.086,
        savingPerHour: 0.056,
      },
    ],
    [
      'drained-only and unpriced workflows: listed, not priced',
      [spot, drainedOnly, unpriced],
      { workflows: 3, replacements: 2, priced: 1, hourlyCost: 0.04, savingPerHour: 0.056 },
    ],
  ];

  it.each(cases)('%s', (_, workflows, expected) => {
    const report = capacityReport(workflows);

    expect(report.total).toMatchObject(expected);
    expect(report.hoursPerMonth).toBe(HOURS_PER_MONTH);
  });

  it('per group: each group apart, the ungrouped under "(no group)"', () => {
    const report = capacityReport([spot, unpriced, { ...onDemand, group: 'batch' }]);

    expect(report.groups.map((g) => [g.group, g.replacements, g.savingPerHour])).toEqual([
      ['(no group)', 1, 0],
      ['batch', 1, 0],
      ['web', 1, 0.056],
    ]);
  });
});

describe('formatCapacityReport', () => {
  it('a line per workflow with its pool, capacity type, prices and reason; then the total', () => {
    const lines = formatCapacityReport(capacityReport([spot, reserved, onDemand, reverted, drainedOnly]));

    expect(lines).toContain(
      'wf-i-1 [web] → i-101 spot m6i.large in us-east-1b, $0.0400/h vs $0.0960/h On-Demand, saving $0.0560/h ($40.88/month)',
    );
    expect(lines).toContain('    why: unused RI r-1 covers m5.large in us-east-1c');
    expect(lines.find((l) => l.startsWith('wf-i-3 '))).toMatch(/on-demand .*; since replaced by wf-i-103$/);
    expect(lines.find((l) => l.startsWith('wf-i-103 '))).toContain('(revert-to-spot)');
    expect(lines).toContain('wf-i-4 no replacement (asg-managed)');
    expect(lines.at(-1)).toBe(
      'Total: 3 running replacements (1 on Reserved Instances, 2 Spot, 0 On-Demand); $0.0700/h against $0.2780/h On-Demand: saving $0.2080/h, $151.84/month at 730 h (74.8%).',
    );
  });

  it('says when some replacements have no recorded price', () => {
    expect(formatCapacityReport(capacityReport([spot, unpriced])).at(-1)).toMatch(
      /; 1 without a recorded price left out\.$/,
    );
  });

  it('nothing to report', () => {
    expect(formatCapacityReport(capacityReport([]))).toEqual(['No workflows to report.']);
  });
});
