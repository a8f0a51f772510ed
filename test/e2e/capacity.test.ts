import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalCloud } from '../../localcloud/index.ts';
import { createWorkflowTable, DynamoWorkflowStore } from '../../src/aws/workflow-store.ts';
import type { CapacityDemoResult } from '../../src/cli/capacity-demo.ts';
import type { CapacityReport } from '../../src/cli/capacity-report.ts';
import type { Workflow } from '../../src/core/workflow.ts';
import { handoff, jsonOf, userEnv } from './support.ts';

/**
 * `handoff demo --scenario capacity` and `handoff report` as a user runs them: the demo judged by
 * its --json summary (whose checks read what EC2 says), the report over records in a table.
 */

describe('handoff demo --scenario capacity', () => {
  it('--json: a reclaimed pool is replaced elsewhere, one on the RI, On-Demand only once Spot is exhausted, then back to Spot', async () => {
    const run = await handoff(['demo', '--scenario', 'capacity', '--json', '--speed', 'max']);

    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toBe('');
    const result = jsonOf<CapacityDemoResult>(run);
    expect(result.ok).toBe(true);
    expect(result.reclaimedInstances).toBeGreaterThanOrEqual(20);
    const reclaimed = result.reclaimedPool;
    const interruptions = result.workflows.filter((w) => w.kind === 'interruption');
    const reverts = result.workflows.filter((w) => w.kind === 'revert-to-spot');
    // Every workflow says where its replacement went, as what, and why.
    for (const w of result.workflows) {
      expect(w.replacementId, w.workflowId).toMatch(/^i-[0-9a-f]+$/);
      expect(w.pool, w.workflowId).toBeDefined();
      expect(w.capacityType, w.workflowId).toMatch(/^(reserved|spot|on-demand)$/);
      expect(w.reason, w.workflowId).toBeTruthy();
    }
    expect(interruptions).toHaveLength(result.reclaimedInstances);
    // None in the reclaimed pool.
    expect(
      result.workflows.filter(
        (w) =>
          w.pool!.instanceType === reclaimed.instanceType &&
          w.pool!.availabilityZone === reclaimed.availabilityZone,
      ),
    ).toEqual([]);
    expect(result.checks.noneInReclaimedPool).toBe(true);
    // At least one on the unused RI, in its pool.
    const onRi = interruptions.filter((w) => w.capacityType === 'reserved');
    expect(onRi.length).toBeGreaterThanOrEqual(1);
    expect(onRi[0]!.pool).toMatchObject({
      instanceType: result.reservedInstance.instanceType,
      availabilityZone: result.reservedInstance.availabilityZone,
    });
    expect(onRi[0]!.reason).toContain(result.reservedInstance.reservedInstancesId);
    // On-Demand only after every allowed Spot pool failed: none had room left when they launched.
    const fallbacks = interruptions.filter((w) => w.capacityType === 'on-demand');
    expect(fallbacks.length).toBeGreaterThanOrEqual(1);
    expect(result.checks.spotRoomAtFallback.length).toBe(result.allowedPools.length - 1);
    expect(result.checks.spotRoomAtFallback.every((r) => r.free === 0)).toBe(true);
    for (const w of fallbacks) expect(w.reason).toMatch(/Spot pools had no capacity; On-Demand fallback/);
    expect(result.checks.onDemandOnlyAfterSpotExhausted).toBe(true);
    // Then back to Spot: each fallback replaced by Spot, and itself terminated.
    expect(reverts.map((w) => w.instanceId).sort()).toEqual(fallbacks.map((w) => w.replacementId).sort());
    for (const w of reverts) expect(w).toMatchObject({ status: 'completed', capacityType: 'spot' });
    expect(result.checks.reverted.every((r) => r.fallbackState === 'terminated')).toBe(true);
    expect(result.checks.revertedToSpot).toBe(true);
    // Each replacement was chosen (launched) before EC2 took its old instance back, as EC2's own
    // state changes say; each revert after the Spot capacity it found had returned.
    for (const w of interruptions) {
      expect(w.chosenAfterSeconds, w.workflowId).toBeGreaterThanOrEqual(0);
      expect(w.chosenAfterSeconds!, w.workflowId).toBeLessThan(w.oldInstanceReclaimedAfterSeconds!);
    }
    // The sweep (every minute) tried the reverts while every Spot pool was still exhausted (the
    // reclaim lasts at least EC2's two minutes): each waited, and says why without claiming the
    // policy has no On-Demand fallback (it has one; a revert just launches Spot only).
    expect(result.revertWaits.length).toBeGreaterThanOrEqual(1);
    for (const wait of result.revertWaits) {
      expect(fallbacks.map((w) => w.replacementId)).toContain(wait.fallbackId);
      expect(wait.reason).toMatch(
        /reverts to Spot of group web not launched: \d+ Spot pools had no capacity yet/,
      );
      expect(wait.reason).toContain('the On-Demand instances keep serving and the next sweep tries again');
      expect(wait.reason).not.toMatch(/no On-Demand fallback/);
      const revert = reverts.find((w) => w.instanceId === wait.fallbackId)!;
      expect(wait.afterSeconds).toBeLessThan(revert.chosenAfterSeconds!);
    }
    // The report counts the reverted fallbacks once, as Spot.
    expect(result.report.total.byCapacityType['on-demand']).toBe(0);
    expect(result.report.total.replacements).toBe(result.reclaimedInstances);
    expect(result.report.total.savingPerHour).toBeGreaterThan(0);
    expect(result.deadLetters).toBe(0);
  });
});

/** `handoff report --table` over records a deployment would hold, in a table of a running local DynamoDB. */
describe('handoff report against a table', () => {
  const TABLE = 'spot-handoff-report-e2e';
  let cloud: LocalCloud;
  let dynamodb: DynamoDBClient;
  let env: NodeJS.ProcessEnv;

  const workflow = (
    n: number,
    replacement: Workflow['replacement'],
    extra: Partial<Workflow> = {},
  ): Workflow => ({
    workflowId: `wf-i-${n}`,
    instanceId: `i-${n}`,
    version: 1,
    status: 'completed',
    outcome: 'replaced',
    startedAt: `2026-01-01T12:0${n}:00.000Z`,
    updatedAt: `2026-01-01T12:0${n}:00.000Z`,
    eventIds: [],
    signals: { rebalance: false, warning: true },
    drained: true,
    elbCalls: 0,
    steps: [],
    group: 'web',
    replacement,
    ...extra,
  });

  beforeAll(async () => {
    cloud = await LocalCloud.start({ clock: 'manual' });
    dynamodb = new DynamoDBClient({ ...cloud.clientConfig(), endpoint: cloud.dynamoEndpoint! });
    await createWorkflowTable(dynamodb, TABLE);
    const store = new DynamoWorkflowStore({
      client: DynamoDBDocumentClient.from(dynamodb),
      tableName: TABLE,
    });
    const pool = (instanceType: string, availabilityZone: string) => ({
      instanceType,
      availabilityZone,
      subnetId: 'subnet-0abc',
    });
    for (const w of [
      workflow(1, {
        attempt: 1,
        clientToken: 't1',
        instanceId: 'i-101',
        pool: pool('m6i.large', 'us-east-1c'),
        capacityType: 'reserved',
        choiceReason: 'unused RI r-1 covers m6i.large in us-east-1c',
        hourlyPrice: 0,
        onDemandPrice: 0.096,
      }),
      workflow(2, {
        attempt: 1,
        clientToken: 't2',
        instanceId: 'i-102',
        pool: pool('m5a.large', 'us-east-1a'),
        capacityType: 'on-demand',
        choiceReason: '8 Spot pools had no capacity; On-Demand fallback (m5a.large in us-east-1a)',
        hourlyPrice: 0.086,
        onDemandPrice: 0.086,
      }),
      // The fallback i-102, reverted to Spot.
      {
        ...workflow(3, {
          attempt: 1,
          clientToken: 't3',
          instanceId: 'i-103',
          pool: pool('m5a.large', 'us-east-1b'),
          capacityType: 'spot',
          choiceReason: 'Spot m5a.large in us-east-1b: placement score 9, 0 recent interruptions, $0.0258/h',
          hourlyPrice: 0.0258,
          onDemandPrice: 0.086,
        }),
        workflowId: 'wf-i-102',
        instanceId: 'i-102',
        kind: 'revert-to-spot' as const,
      },
    ])
      await store.create(w);
    env = userEnv(cloud.env());
  });

  afterAll(async () => {
    dynamodb?.destroy();
    await cloud?.stop();
  });

  it('--json: per workflow the pool, capacity type, reason and prices; the total counts the reverted fallback once', async () => {
    const run = await handoff(['report', '--table', TABLE, '--json'], { env });

    expect(run.code, run.stderr).toBe(0);
    const report = jsonOf<CapacityReport>(run);
    expect(report.workflows.map((w) => [w.workflowId, w.kind, w.capacityType, w.supersededBy])).toEqual([
      ['wf-i-1', 'interruption', 'reserved', undefined],
      ['wf-i-2', 'interruption', 'on-demand', 'wf-i-102'],
      ['wf-i-102', 'revert-to-spot', 'spot', undefined],
    ]);
    expect(report.workflows[0]).toMatchObject({
      pool: { instanceType: 'm6i.large', availabilityZone: 'us-east-1c' },
      reason: 'unused RI r-1 covers m6i.large in us-east-1c',
      savingPerHour: 0.096,
      savingPerMonth: 70.08,
    });
    expect(report.total).toMatchObject({
      replacements: 2,
      byCapacityType: { reserved: 1, spot: 1, 'on-demand': 0 },
      hourlyCost: 0.0258,
      onDemandHourlyCost: 0.182,
      savingPerHour: 0.1562,
      savingPerMonth: 114.03,
    });
  });

  it('prints a line per workflow with its reason, and the total', async () => {
    const run = await handoff(['report', '--table', TABLE], { env });

    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain('wf-i-1 [web] → i-101 reserved m6i.large in us-east-1c');
    expect(run.stdout).toContain(
      '    why: 8 Spot pools had no capacity; On-Demand fallback (m5a.large in us-east-1a)',
    );
    expect(run.stdout.trimEnd().split('\n').at(-1)).toMatch(
      /^Total: 2 running replacements \(1 on Reserved Instances, 1 Spot, 0 On-Demand\); .* saving \$0\.1562\/h, \$114\.03\/month at 730 h/,
    );
  });

  it('without a table: a usage error (exit 2), saying what to give', async () => {
    const run = await handoff(['report'], { env: userEnv() });

    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    expect(run.stderr).toMatch(
      /^handoff: no workflow table: pass --stack NAME .*--table NAME or set HANDOFF_TABLE_NAME; or --local/,
    );
  });
});
