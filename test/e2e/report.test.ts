import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalCloud } from '../../localcloud/index.ts';
import { createWorkflowTable, DynamoWorkflowStore } from '../../src/aws/workflow-store.ts';
import type { CapacityReport } from '../../src/cli/capacity-report.ts';
import type { Workflow } from '../../src/core/workflow.ts';
import { handoff, jsonOf, type Run, userEnv } from './support.ts';

/**
 * `handoff report` on a deployment, as a user runs it: by `--stack` (its output StateTableName,
 * read from a CloudFormation endpoint on this machine that answers DescribeStacks as AWS does),
 * by `--table`, and the refusals, each in one line saying what to do.
 */

const TABLE = 'spot-handoff-e2e-report';
/** The stacks this CloudFormation knows, by name: their outputs. */
const STACKS: Record<string, Record<string, string>> = {
  'spot-handoff-test': { StateTableName: TABLE, ReplayEventBusName: 'replay' },
  'not-a-handoff-stack': { WebsiteUrl: 'https://example.com' },
};

/** DescribeStacks of the CloudFormation Query API: the stack and its outputs, or ValidationError. */
function localCloudFormation(): Server {
  return createServer((request, response) => {
    let body = '';
    request.on('data', (chunk: Buffer) => {
      body += chunk.toString();
    });
    request.on('end', () => {
      const params = new URLSearchParams(body);
      const name = params.get('StackName') ?? '';
      const outputs = STACKS[name];
      response.setHeader('content-type', 'text/xml');
      if (params.get('Action') !== 'DescribeStacks' || outputs === undefined) {
        response.statusCode = 400;
        response.end(
          `<ErrorResponse><Error><Type>Sender</Type><Code>ValidationError</Code><Message>Stack with id ${name} does not exist</Message></Error><RequestId>local</RequestId></ErrorResponse>`,
        );
        return;
      }
      const members = Object.entries(outputs)
        .map(
          ([key, value]) =>
            `<member><OutputKey>${key}</OutputKey><OutputValue>${value}</OutputValue></member>`,
        )
        .join('');
      response.end(
        `<DescribeStacksResponse xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/"><DescribeStacksResult><Stacks><member><StackName>${name}</StackName><StackId>arn:aws:cloudformation:us-east-1:123456789012:stack/${name}/1</StackId><StackStatus>UPDATE_COMPLETE</StackStatus><CreationTime>2026-12-01T00:00:00Z</CreationTime><Outputs>${members}</Outputs></member></Stacks></DescribeStacksResult><ResponseMetadata><RequestId>local</RequestId></ResponseMetadata></DescribeStacksResponse>`,
      );
    });
  });
}

function replaced(
  instanceId: string,
  startedAt: string,
  replacement: Workflow['replacement'],
  group?: string,
): Workflow {
  return {
    workflowId: `wf-${instanceId}`,
    instanceId,
    version: 1,
    status: 'completed',
    outcome: 'replaced',
    startedAt,
    updatedAt: startedAt,
    eventIds: [`warning-${instanceId}`],
    signals: { rebalance: false, warning: true },
    drained: true,
    elbCalls: 0,
    steps: [],
    ...(group ? { group } : {}),
    replacement,
  };
}

function expectOneLineError(run: Run, code: number, ...mentions: string[]): void {
  expect(run.code, run.stderr).toBe(code);
  expect(run.stdout).toBe('');
  expect(run.stderr).toMatch(/^handoff: [^\n]+\n$/);
  for (const mention of mentions) expect(run.stderr).toContain(mention);
}

describe('handoff report on a deployment', () => {
  let cloud: LocalCloud;
  let cloudFormation: Server;
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    cloud = await LocalCloud.start({ clock: 'manual' });
    const dynamodb = new DynamoDBClient({ ...cloud.clientConfig(), endpoint: cloud.dynamoEndpoint! });
    await createWorkflowTable(dynamodb, TABLE);
    const store = new DynamoWorkflowStore({
      client: DynamoDBDocumentClient.from(dynamodb),
      tableName: TABLE,
    });
    const pool = { instanceType: 'm6i.large', availabilityZone: 'us-east-1b', subnetId: 'subnet-0b' };
    await store.create(
      replaced(
        'i-0000000000000000a',
        '2026-12-01T12:00:00.000Z',
        {
          attempt: 1,
          clientToken: 'a',
          instanceId: 'i-0000000000000001a',
          pool,
          capacityType: 'spot',
          choiceReason: 'Spot m6i.large in us-east-1b: placement score 9, 0 recent interruptions, $0.0400/h',
          hourlyPrice: 0.04,
          onDemandPrice: 0.096,
        },
        'web',
      ),
    );
    await store.create(
      replaced('i-0000000000000000b', '2026-12-01T12:05:00.000Z', {
        attempt: 1,
        clientToken: 'b',
        instanceId: 'i-0000000000000001b',
        pool,
        capacityType: 'on-demand',
        choiceReason: '3 Spot pools had no capacity; On-Demand fallback (m6i.large in us-east-1b)',
        hourlyPrice: 0.096,
        onDemandPrice: 0.096,
      }),
    );
    dynamodb.destroy();
    cloudFormation = localCloudFormation();
    await new Promise<void>((resolve) => cloudFormation.listen(0, '127.0.0.1', resolve));
    const { port } = cloudFormation.address() as AddressInfo;
    env = userEnv({ ...cloud.env(), AWS_ENDPOINT_URL_CLOUDFORMATION: `http://127.0.0.1:${port}` });
  });

  afterAll(async () => {
    await new Promise<void>((resolve) => cloudFormation.close(() => resolve()));
    await cloud.stop();
  });

  it('--stack NAME --json: the table is the stack output StateTableName', async () => {
    const run = await handoff(
      ['report', '--stack', 'spot-handoff-test', '--region', cloud.region, '--json'],
      {
        env,
      },
    );

    expect(run.code, run.stderr).toBe(0);
    const report = jsonOf<CapacityReport>(run);
    expect(report.workflows.map((w) => [w.instanceId, w.capacityType, w.group])).toEqual([
      ['i-0000000000000000a', 'spot', 'web'],
      ['i-0000000000000000b', 'on-demand', undefined],
    ]);
    expect(report.total).toMatchObject({ workflows: 2, replacements: 2 });
  });

  it('--table NAME, for people: the same workflows', async () => {
    const run = await handoff(['report', '--table', TABLE], { env });

    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain('i-0000000000000000a');
    expect(run.stdout).toContain('On-Demand fallback');
  });

  it.each([
    [
      'a stack that does not exist: names it and the Region',
      ['--stack', 'nope'],
      'no stack nope in us-east-1: check --stack and --region',
    ],
    [
      'a stack without the table output: says which output is missing',
      ['--stack', 'not-a-handoff-stack'],
      'stack not-a-handoff-stack has no output StateTableName: is it a spot-handoff stack?',
    ],
  ])('%s', async (_, args, says) => {
    expectOneLineError(await handoff(['report', ...args, '--region', 'us-east-1'], { env }), 1, says);
  });
});

describe.concurrent('handoff report refusals: one line saying what is wrong and what to do', () => {
  /** No Region, no credentials, no profile file: a new user's shell. */
  const bare = () => userEnv({ HOME: '/nonexistent-home', AWS_EC2_METADATA_DISABLED: 'true' });

  it.each([
    [['report', '--stack', 's', '--local'], '--stack and --local contradict each other'],
    [
      ['report', '--table', 't', '--stack', 's'],
      'give --stack NAME (its output StateTableName) or --table NAME',
    ],
    [['report', '--stack'], '--stack needs the name of the deployed stack'],
    [['report', 'extra'], 'report takes no arguments'],
  ])('handoff %j: exit 2', async (args, says) => {
    expectOneLineError(await handoff(args, { env: bare() }), 2, says);
  });

  it('--stack without a Region: a usage error, says to pass --region or set AWS_REGION', async () => {
    expectOneLineError(
      await handoff(['report', '--stack', 'spot-handoff-prod'], { env: bare() }),
      2,
      'no Region: pass --region or set AWS_REGION',
    );
  });

  it('--stack with a Region but no credentials: says to pass --profile or set AWS_PROFILE', async () => {
    expectOneLineError(
      await handoff(['report', '--stack', 'spot-handoff-prod', '--region', 'eu-west-1'], { env: bare() }),
      1,
      'no credentials: pass --profile or set AWS_PROFILE',
    );
  });
});
