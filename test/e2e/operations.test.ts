import { readFile } from 'node:fs/promises';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EC2Client } from '@aws-sdk/client-ec2';
import { ElasticLoadBalancingV2Client } from '@aws-sdk/client-elastic-load-balancing-v2';
import { afterAll, beforeAll, describe, type ExpectStatic, expect, it } from 'vitest';
import { LocalCloud } from '../../localcloud/index.ts';
import { createWebFleet, registerFleet } from '../../localcloud/scenarios/web-fleet.ts';
import { createWorkflowTable } from '../../src/aws/workflow-store.ts';
import type { DemoResult } from '../../src/cli/demo.ts';
import type { SweepResult, TimelineResult } from '../../src/cli/operations.ts';
import type { ReplayResult } from '../../src/cli/replay.ts';
import type { WorkflowSummary } from '../../src/cli/summary.ts';
import { workflowIdFor } from '../../src/core/workflow.ts';
import { handoff, jsonOf, type Run, scratchDir, userEnv } from './support.ts';

/**
 * The operations commands as a user runs them: status with its filters, timeline (and its picture),
 * the sweep on demand, replay judged against now, and every refusal of a flag that cannot work,
 * each in one line saying what to do.
 */

const WARNING_FILE = 'events/spot-interruption-warning.json';

function expectOneLineError(expect: ExpectStatic, run: Run, code: number, ...mentions: string[]): void {
  expect(run.code, run.stderr).toBe(code);
  expect(run.stdout).toBe('');
  expect(run.stderr).toMatch(/^handoff: [^\n]+\n$/);
  for (const mention of mentions) expect(run.stderr).toContain(mention);
}

describe('status, timeline and sweep against a running cloud (HANDOFF_TABLE_NAME and the SDK endpoints)', () => {
  const TABLE = 'spot-handoff-e2e-operations';
  let cloud: LocalCloud;
  let ec2: EC2Client;
  let elbv2: ElasticLoadBalancingV2Client;
  let dynamodb: DynamoDBClient;
  let env: NodeJS.ProcessEnv;
  let victim: string;
  let scratch: Awaited<ReturnType<typeof scratchDir>>;

  beforeAll(async () => {
    cloud = await LocalCloud.start({ clock: 'manual' });
    ec2 = new EC2Client(cloud.clientConfig());
    elbv2 = new ElasticLoadBalancingV2Client(cloud.clientConfig());
    dynamodb = new DynamoDBClient({ ...cloud.clientConfig(), endpoint: cloud.dynamoEndpoint! });
    await createWorkflowTable(dynamodb, TABLE);
    const fleet = await createWebFleet({ ec2, elbv2 });
    await cloud.clock.advance(10_000);
    await registerFleet(elbv2, fleet);
    await cloud.clock.advance(75_000);
    victim = fleet.instanceIds[0]!;
    env = userEnv({ ...cloud.env(), HANDOFF_TABLE_NAME: TABLE });
    scratch = await scratchDir();
    // The sample's own time is long past: the replay makes it happen now.
    const replayed = await handoff(['replay', WARNING_FILE, '--aws', '--instance', victim, '--json'], {
      env,
    });
    if (replayed.code !== 0) throw new Error(`replay --aws failed: ${replayed.stderr}`);
  });

  afterAll(async () => {
    ec2?.destroy();
    elbv2?.destroy();
    dynamodb?.destroy();
    await cloud?.stop();
    await scratch?.remove();
  });

  it('a replayed sample counts its deadlines from now: no step is late', async () => {
    const run = await handoff(['status', victim, '--json'], { env });

    expect(run.code, run.stderr).toBe(0);
    const [workflow] = jsonOf<{ workflows: WorkflowSummary[] }>(run).workflows;
    expect(workflow!.steps.map((s) => s.name)).toEqual(expect.arrayContaining(['drain', 'launch']));
    expect(workflow!.steps.filter((s) => s.late)).toEqual([]);
  });

  it('status filters by state, group (target group name) and age', async () => {
    const listed = async (...filters: string[]) => {
      const run = await handoff(['status', '--json', ...filters], { env });
      expect(run.code, run.stderr).toBe(0);
      return jsonOf<{ workflows: WorkflowSummary[] }>(run).workflows.map((w) => w.workflowId);
    };

    expect(await listed('--state', 'in-progress', '--group', 'web', '--since', '1h')).toEqual([
      workflowIdFor(victim),
    ]);
    expect(await listed('--state', 'completed')).toEqual([]);
    expect(await listed('--group', 'api')).toEqual([]);
  });

  it('timeline prints the steps against the deadline and draws them with --svg', async () => {
    const file = scratch.path('timeline.svg');

    const run = await handoff(['timeline', victim, '--svg', file], { env });

    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain(`${workflowIdFor(victim)}  in-progress`);
    expect(run.stdout).toMatch(/EC2 reclaims the instance at \+2:00/);
    expect(run.stdout).toMatch(/^ {2}drain\s+\+\s*[\d.]+ s\s+on-time/m);
    expect(run.stdout).toContain(`Picture: ${file}`);
    const svg = await readFile(file, 'utf8');
    expect(svg).toMatch(/^<svg xmlns/);
    for (const phase of ['detect', 'drain', 'launch', 'running', 'register'])
      expect(svg).toContain(`data-phase="${phase}"`);
    expect(svg).toContain('class="deadline"');
  });

  it('timeline --json, and of an unknown id: one line naming it', async ({ expect }) => {
    const [json, unknown] = await Promise.all([
      handoff(['timeline', workflowIdFor(victim), '--json'], { env }),
      handoff(['timeline', 'i-0000000000000abcd'], { env }),
    ]);

    expect(json.code, json.stderr).toBe(0);
    expect(jsonOf<TimelineResult>(json).timeline).toMatchObject({ instanceId: victim, reclaimAt: 120_000 });
    expectOneLineError(expect, unknown, 1, 'i-0000000000000abcd', TABLE);
  });

  it('sweep runs the sweep now: the open workflow is re-examined, and --dry-run changes nothing', async () => {
    const dry = await handoff(['sweep', '--dry-run', '--json'], { env });
    const real = await handoff(['sweep', '--json'], { env });

    for (const run of [dry, real]) {
      expect(run.code, run.stderr).toBe(0);
      expect(jsonOf<SweepResult>(run).outcomes.map((o) => o.instanceId)).toEqual([victim]);
    }
    expect(jsonOf<SweepResult>(dry).plan.length).toBeGreaterThan(0);
    expect(jsonOf<SweepResult>(real).plan).toEqual([]);
    // Still one replacement: the sweep adds none to the one the replay launched.
    expect(cloud.ec2.instances().filter((i) => i.tags['spot-handoff:replaces'] === victim)).toHaveLength(1);
  });
});

describe('replay --dry-run --local', () => {
  it("judges lateness against the local cloud's now, not the sample's time", async () => {
    const run = await handoff(['replay', WARNING_FILE, '--dry-run', '--local', '--json']);

    expect(run.code, run.stderr).toBe(0);
    const result = jsonOf<ReplayResult>(run);
    // The local cloud's clock has moved on while its fleet started: the event happens at its now.
    expect(Date.parse(result.eventTime)).toBeGreaterThan(Date.parse('2026-01-01T12:00:00Z'));
    expect(result.workflows[0]!.steps.length).toBeGreaterThan(1);
    expect(result.workflows[0]!.steps.filter((s) => s.late)).toEqual([]);
  });
});

describe('demo pictures', () => {
  it('writes one timeline picture per workflow, and names it', async () => {
    const scratch = await scratchDir();
    try {
      const run = await handoff([
        'demo',
        '--speed',
        'max',
        '--json',
        '--timelines',
        scratch.path('pictures'),
      ]);

      expect(run.code, run.stderr).toBe(0);
      const result = jsonOf<DemoResult>(run);
      expect(result.timelines).toEqual([scratch.path(`pictures/${result.workflows[0]!.workflowId}.svg`)]);
      const svg = await readFile(result.timelines[0]!, 'utf8');
      expect(svg).toContain('data-phase="register" data-status="on-time"');
    } finally {
      await scratch.remove();
    }
  });
});

describe.concurrent('refusals: one line saying what is wrong and what to do', () => {
  /** No Region, no credentials, no profile file: a new user's shell. */
  const bare = () => userEnv({ HOME: '/nonexistent-home', AWS_EC2_METADATA_DISABLED: 'true' });

  it.each([
    [['replay', WARNING_FILE, '--aws', '--local'], '--aws and --local contradict each other'],
    [['replay', WARNING_FILE, '--bus', 'b', '--local'], '--bus and --local contradict each other'],
    [['replay', WARNING_FILE, '--stack', 's', '--local'], '--stack and --local contradict each other'],
    [['replay', WARNING_FILE, '--bus'], '--bus needs the name of the replay bus'],
    [['replay', WARNING_FILE, '--bus', '--aws'], '--bus needs the name of the replay bus'],
    [['replay', WARNING_FILE, '--region', 'eu-west-1'], '--region is for AWS'],
    [['demo', '--speed', '0.5'], '1 to 100, or max'],
    [['demo', '--speed', '1000'], '1 to 100, or max'],
    [['status', '--since', 'yesterday'], '--since yesterday is not an age'],
    [['status', '--state', 'done'], 'in-progress, standby, completed'],
  ])('handoff %j: exit 2', async (args, says) => {
    expectOneLineError(expect, await handoff(args, { env: bare() }), 2, says);
  });

  it('replay --aws without a Region: a usage error, says to pass --region or set AWS_REGION', async () => {
    const run = await handoff(['replay', WARNING_FILE, '--aws', '--stack', 'spot-handoff-prod'], {
      env: bare(),
    });
    expectOneLineError(expect, run, 2, 'no Region: pass --region or set AWS_REGION');
  });

  it('status --stack with a Region but no credentials: says to pass --profile or set AWS_PROFILE', async () => {
    const run = await handoff(['status', '--stack', 'spot-handoff-prod', '--region', 'eu-west-1'], {
      env: bare(),
    });
    expectOneLineError(expect, run, 1, 'no credentials: pass --profile or set AWS_PROFILE');
  });

  it('status and sweep without --stack or HANDOFF_TABLE_NAME: a usage error, say to pass one', async () => {
    for (const command of ['status', 'sweep', 'timeline i-0123456789abcdef0'])
      expectOneLineError(
        expect,
        await handoff(command.split(' '), { env: bare() }),
        2,
        'pass --stack NAME',
        'HANDOFF_TABLE_NAME',
      );
  });

  it('HANDOFF_REBALANCE_ACTION=drain handoff demo: a usage error at once, naming the variable and its values', async () => {
    const run = await handoff(['demo', '--speed', 'max'], {
      env: userEnv({ HANDOFF_REBALANCE_ACTION: 'drain' }),
    });
    expectOneLineError(expect, run, 2, 'HANDOFF_REBALANCE_ACTION', 'prelaunch, ignore');
  });
});
