/**
 * `npm run bench`: the real function handlers against the local cloud, with a per-request latency
 * and AWS's token buckets (EC2's documented ones, ELBv2's documented reads and conservative
 * writes), in real time. Prints one table; each figure beside the lower bound the buckets and the
 * latency allow, and the ratio. Figures, not assertions.
 *
 *   npm run bench                                   # 500 instances, 40 ms, both deliveries
 *   npm run bench -- --instances 100 --latency 20 --delivery queue --json
 *
 * Method (README, "Benchmark"): token buckets and latency run in real time, measured with
 * performance.now(); the virtual clock only moves EC2's own transitions (boots), which are not
 * ours to make faster. Round trips are counted from the requests themselves (node's HTTP
 * diagnostics channel): a request's round trip number is one more than the longest chain of
 * requests that each ended before the next began and all ended before it was received.
 */

import { subscribe } from 'node:diagnostics_channel';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import type { ClientRequest } from 'node:http';
import { createRequire } from 'node:module';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { deflateRawSync } from 'node:zlib';
import {
  CreateLaunchTemplateCommand,
  CreateTagsCommand,
  DescribeSubnetsCommand,
  EC2Client,
  RunInstancesCommand,
} from '@aws-sdk/client-ec2';
import {
  CreateTargetGroupCommand,
  ElasticLoadBalancingV2Client,
  RegisterTargetsCommand,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import { BatchWriteCommand, GetCommand } from '@aws-sdk/lib-dynamodb';
import type { Context } from 'aws-lambda';
import { type BuildOptions, build, type Plugin } from 'esbuild';
import { parse } from 'yaml';
import { type LambdaLikeContext, LocalEventBus, loadLocalFunctions } from '../localcloud/bus.ts';
import { LocalCloud, type QueryRequest } from '../localcloud/index.ts';
import { createClients } from '../src/aws/clients.ts';
import { createWorkflowTable, DynamoWorkflowStore } from '../src/aws/workflow-store.ts';
import { readConfig } from '../src/config.ts';
import { workflowIdFor } from '../src/core/workflow.ts';
import { createContainer } from '../src/runtime/container.ts';
import { type FunctionName, functionHandlers } from '../src/runtime/functions.ts';
import { measureModuleLoad } from './module-load.ts';

process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] ??= 'true';

// ---------- arguments ----------
const argv = process.argv.slice(2);
const option = (flags: readonly string[], fallback: string) => {
  for (const flag of flags) {
    const at = argv.indexOf(flag);
    if (at >= 0 && argv[at + 1] !== undefined) return argv[at + 1]!;
  }
  return fallback;
};
const JSON_OUTPUT = argv.includes('--json');
const N = Number(option(['--instances'], '500'));
const LATENCY = Number(option(['--latency', '--latency-ms'], '40'));
const DELIVERY = option(['--delivery'], 'both');
const DELIVERIES = DELIVERY === 'both' ? ['queue', 'direct'] : [DELIVERY];
const SWEEP_WORKFLOWS = Number(option(['--finished-workflows'], '10000'));
/** `off`: each container sends every request at once (the SDK's retries alone); `on`: its API budget. */
const BUDGET = option(['--budget'], 'on');
/** `--quick`: the mass reclaim and the sweep only (no single interruptions, no cold start). */
const QUICK = argv.includes('--quick');
/** Batches of a queue at once (the event source mapping's MaximumConcurrency); default infra/delivery.cjs's. */
const QUEUE_CONCURRENCY = option(['--queue-concurrency'], '');
const SPREAD_MS = 10_000;
if (
  !(Number.isInteger(N) && N >= 3 && N <= 2000) ||
  !(Number.isFinite(LATENCY) && LATENCY >= 0) ||
  !(Number.isInteger(SWEEP_WORKFLOWS) && SWEEP_WORKFLOWS >= 0) ||
  DELIVERIES.some((d) => d !== 'queue' && d !== 'direct') ||
  (BUDGET !== 'on' && BUDGET !== 'off') ||
  (QUEUE_CONCURRENCY !== '' &&
    !(Number.isInteger(Number(QUEUE_CONCURRENCY)) && Number(QUEUE_CONCURRENCY) >= 2))
) {
  console.error(
    'Usage: npm run bench -- [--instances N (3 to 2000, default 500)] [--latency MS (default 40)] ' +
      '[--delivery queue|direct|both (default both)] [--finished-workflows W (default 10000)] ' +
      '[--budget on|off (default on)] [--queue-concurrency C (2 or more)] [--quick] [--json]',
  );
  process.exit(2);
}
const MANAGED = 'spot-handoff:managed';
const STATEFUL = 'spot-handoff:stateful';
const REPLACES = 'spot-handoff:replaces';
const TYPES = ['m5.large', 'c5.large', 'r5.large'] as const;
const OTHER_TYPES = ['m6i.large', 'c6i.large', 'r6i.large'] as const;
const TARGET_GROUPS = ['web', 'api'];
const GROUP = 'web';
const GROUP_TAG = 'spot-handoff:group';

// ---------- every HTTP request the SDK clients make, with its start and end ----------
interface Exchange {
  start: number;
  end?: number;
}
const exchanges: Exchange[] = [];
const open = new WeakMap<ClientRequest, Exchange>();
subscribe('http.client.request.start', (message) => {
  const { request } = message as { request: ClientRequest };
  const exchange = { start: performance.now() };
  open.set(request, exchange);
  exchanges.push(exchange);
});
subscribe('http.client.response.finish', (message) => {
  const { request } = message as { request: ClientRequest };
  const exchange = open.get(request);
  if (exchange) exchange.end = performance.now();
});

/** The round trip a request received at `at` went out in, counting requests started since `since`. */
function roundTripOf(at: number, since: number): number {
  const done = exchanges
    .filter((e) => e.start >= since && e.end !== undefined && e.end <= at)
    .sort((a, b) => a.end! - b.end!);
  const depth: number[] = [];
  for (let i = 0; i < done.length; i++) {
    let before = 0;
    for (let j = 0; j < i; j++) if (done[j]!.end! <= done[i]!.start) before = Math.max(before, depth[j]!);
    depth.push(before + 1);
  }
  return Math.max(0, ...depth) + 1;
}

// ---------- the world ----------
interface World {
  cloud: LocalCloud;
  ec2: EC2Client;
  elbv2: ElasticLoadBalancingV2Client;
  store: DynamoWorkflowStore;
  bus: LocalEventBus;
  /** Calls of each function, and those that threw. */
  invocations: Map<string, { calls: number; failed: number; itemFailures: number }>;
  /** performance.now() of each EC2/ELBv2 request's arrival. */
  arrivals: { at: number; request: QueryRequest }[];
  documentClient: ReturnType<typeof createClients>['documentClient'];
  tableName: string;
  runFunction(name: FunctionName): Promise<unknown>;
  stop(): Promise<void>;
}

/** The deployment's queue settings (infra/delivery.cjs), as the local bus plays them. */
const deliverySettings = createRequire(import.meta.url)('../infra/delivery.cjs') as {
  QUEUE_SOURCE: { maximumConcurrency: number };
};

async function startWorld(delivery: 'queue' | 'direct'): Promise<World> {
  const cloud = await LocalCloud.start({ clock: 'manual', latencyMs: LATENCY });
  const tableName = 'bench';
  // Every instance belongs to one group whose replacements go out as fleets (policy.yml's format).
  const policy = {
    groups: {
      // The reclaimed pools' types and others: a reclaim of every pool in use leaves somewhere to go.
      [GROUP]: { instanceTypes: [...TYPES, ...OTHER_TYPES].map((type) => ({ type })) },
    },
  };
  const env = {
    ...process.env,
    HANDOFF_TABLE_NAME: tableName,
    HANDOFF_ATTACH_WAIT_SECONDS: '0',
    // As the deployment tells the queued functions (infra/api-budget.cjs): each container spends
    // 1/(its queue's maximum concurrency) of every bucket; direct delivery, half.
    HANDOFF_API_BUDGET_CONCURRENCY:
      delivery === 'queue'
        ? QUEUE_CONCURRENCY || String(deliverySettings.QUEUE_SOURCE.maximumConcurrency)
        : '2',
    HANDOFF_POLICY: JSON.stringify(policy),
  };
  const config = readConfig(env);
  const unqueuedConfig = readConfig({ ...env, HANDOFF_API_BUDGET_CONCURRENCY: undefined });
  const clients = {
    region: cloud.region,
    endpoints: { ec2: cloud.endpoint, elbv2: cloud.endpoint, dynamodb: cloud.dynamoEndpoint },
    credentials: cloud.clientConfig().credentials,
    env,
  };
  const { dynamodb, documentClient } = createClients(clients);
  await createWorkflowTable(dynamodb, tableName);
  const invocations = new Map<string, { calls: number; failed: number; itemFailures: number }>();
  const clock = {
    now: () => cloud.clock.now(),
    sleep: (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)),
  };
  // Lambda runs each concurrent invocation in a container of its own: a pool of them per function.
  const handlerPool = (name: FunctionName) => {
    const free: ((event: unknown, context: Context) => Promise<unknown>)[] = [];
    const count = { calls: 0, failed: 0, itemFailures: 0 };
    invocations.set(name, count);
    return async (event: unknown, context: LambdaLikeContext) => {
      const handler =
        free.pop() ??
        functionHandlers[name](
          createContainer({
            // Only the queued functions share their bucket with the queue's other containers; the
            // deployment leaves the others (the sweeper, healing) at the default, as here.
            config: () => (functions.find((f) => f.functionName === name)?.queue ? config : unqueuedConfig),
            clients,
            clock,
            ...(BUDGET === 'off' ? { apiBudget: false as const } : {}),
            powertools: { logLevel: 'SILENT', publishMetrics: false, tracing: false },
          }),
        );
      count.calls += 1;
      try {
        const result = await handler(event, context as Context);
        count.itemFailures +=
          (result as { batchItemFailures?: unknown[] } | undefined)?.batchItemFailures?.length ?? 0;
        return result;
      } catch (error) {
        count.failed += 1;
        if (process.env['BENCH_DEBUG']) console.error(name, error);
        throw error;
      } finally {
        free.push(handler);
      }
    };
  };
  const functions = loadLocalFunctions((name) => handlerPool(name as FunctionName), process.cwd());
  if (QUEUE_CONCURRENCY !== '') {
    for (const fn of functions) if (fn.queue) fn.queue.maxConcurrency = Number(QUEUE_CONCURRENCY);
  }
  const bus = new LocalEventBus(functions, cloud.clock, cloud.region, cloud.accountId, {
    delivery,
    concurrency: 1000,
  });
  cloud.onEvent((event) => bus.put(event));
  if (process.env['BENCH_DEBUG']) {
    bus.onDelivery((d) => {
      if (!d.ok) console.error(d.functionName, d.error);
    });
  }
  const arrivals: World['arrivals'] = [];
  cloud.onRequest((request) => arrivals.push({ at: performance.now(), request }));
  const sweeper = handlerPool('sweeper');
  const ec2 = new EC2Client(cloud.clientConfig());
  const elbv2 = new ElasticLoadBalancingV2Client(cloud.clientConfig());
  return {
    cloud,
    ec2,
    elbv2,
    store: new DynamoWorkflowStore({ client: documentClient, tableName }),
    bus,
    invocations,
    arrivals,
    documentClient,
    tableName,
    runFunction: (name) => {
      if (name !== 'sweeper') throw new Error('only the sweeper is run on demand');
      return sweeper(
        { id: 'bench', source: 'aws.events', 'detail-type': 'Scheduled Event', detail: {} },
        {
          functionName: name,
          functionVersion: '$LATEST',
          invokedFunctionArn: `arn:aws:lambda:${cloud.region}:${cloud.accountId}:function:${name}`,
          memoryLimitInMB: '256',
          awsRequestId: 'bench',
          logGroupName: name,
          logStreamName: 'bench',
          callbackWaitsForEmptyEventLoop: false,
          getRemainingTimeInMillis: () => 60_000,
        },
      );
    },
    async stop() {
      bus.close();
      ec2.destroy();
      elbv2.destroy();
      dynamodb.destroy();
      await cloud.stop();
    },
  };
}

/** `count` managed Spot instances over every subnet (AZ) and three types, in two target groups. */
async function buildFleet(world: World, count: number, stateful: boolean): Promise<string[]> {
  const { ec2, elbv2, cloud } = world;
  const subnets = (await ec2.send(new DescribeSubnetsCommand({}))).Subnets ?? [];
  const pools = TYPES.flatMap((type) => subnets.map((subnet) => ({ type, subnet })));
  const ids: string[] = [];
  for (const [i, { type, subnet }] of pools.entries()) {
    const size = Math.floor(count / pools.length) + (i < count % pools.length ? 1 : 0);
    if (size === 0) continue;
    const template = await ec2.send(
      new CreateLaunchTemplateCommand({
        LaunchTemplateName: `bench-${type}-${subnet.SubnetId}`,
        LaunchTemplateData: {
          ImageId: 'ami-0123456789abcdef0',
          InstanceType: type,
          InstanceMarketOptions: { MarketType: 'spot' },
        },
      }),
    );
    const launched = await ec2.send(
      new RunInstancesCommand({
        MinCount: size,
        MaxCount: size,
        SubnetId: subnet.SubnetId!,
        LaunchTemplate: { LaunchTemplateId: template.LaunchTemplate!.LaunchTemplateId!, Version: '$Latest' },
      }),
    );
    ids.push(...(launched.Instances ?? []).map((instance) => instance.InstanceId!));
    cloud.refillBuckets();
  }
  await ec2.send(
    new CreateTagsCommand({
      Resources: ids,
      Tags: [
        { Key: MANAGED, Value: 'true' },
        { Key: GROUP_TAG, Value: GROUP },
        ...(stateful ? [{ Key: STATEFUL, Value: 'true' }] : []),
      ],
    }),
  );
  await cloud.clock.advance(10_000);
  for (const name of TARGET_GROUPS) {
    const group = await elbv2.send(
      new CreateTargetGroupCommand({
        Name: name,
        Protocol: 'HTTP',
        Port: 80,
        VpcId: subnets[0]!.VpcId!,
        TargetType: 'instance',
      }),
    );
    await elbv2.send(
      new RegisterTargetsCommand({
        TargetGroupArn: group.TargetGroups![0]!.TargetGroupArn!,
        Targets: ids.map((Id) => ({ Id, Port: 80 })),
      }),
    );
  }
  // The sweep that keeps the registration index ran before the reclaim, as it runs every minute.
  await world.runFunction('sweeper').catch(() => undefined);
  await settled(world);
  cloud.refillBuckets();
  return ids;
}

/** Events are delivered from a microtask: let them reach the bus, then wait for its handlers. */
async function settled(world: World): Promise<void> {
  await new Promise((resolve) => setImmediate(resolve));
  await world.bus.idle();
}

const targetIdsOf = (request: QueryRequest) =>
  Object.entries(request.params)
    .filter(([key]) => /^Targets\.member\.\d+\.Id$/.test(key))
    .map(([, value]) => value);

const isLaunch = (action: string) => action === 'RunInstances' || action === 'CreateFleet';

// ---------- one interruption ----------
interface Single {
  drainRoundTrip: number;
  drainMs: number;
  launchRoundTrip: number;
  launchMs: number;
  registerRoundTrip: number | undefined;
  registerMs: number | undefined;
}

async function oneInterruption(stateful: boolean): Promise<Single> {
  const world = await startWorld('direct');
  try {
    const [instanceId] = await buildFleet(world, 3, stateful);
    const since = performance.now();
    world.cloud.interrupt(instanceId!);
    await settled(world);
    const drain = world.arrivals.find((a) => a.at >= since && a.request.action === 'DeregisterTargets');
    const launch = world.arrivals.find((a) => a.at >= since && isLaunch(a.request.action));
    if (!drain || !launch) throw new Error('The interruption neither drained nor launched.');
    // The replacement boots (EC2's time, not ours); its `running` event goes to state-change.
    const bootStarted = performance.now();
    await world.cloud.clock.advance(10_000);
    await settled(world);
    const register = world.arrivals.find(
      (a) => a.at >= bootStarted && a.request.action === 'RegisterTargets',
    );
    return {
      drainRoundTrip: roundTripOf(drain.at, since),
      drainMs: drain.at - since,
      launchRoundTrip: roundTripOf(launch.at, since),
      launchMs: launch.at - since,
      registerRoundTrip: register ? roundTripOf(register.at, bootStarted) : undefined,
      registerMs: register ? register.at - bootStarted : undefined,
    };
  } finally {
    await world.stop();
  }
}

// ---------- a mass reclaim ----------
interface Reclaim {
  delivery: string;
  instances: number;
  allDrainingMs: number | undefined;
  /** Until every replacement was launched: the fleet (or RunInstances) requests answered with instances. */
  allLaunchedMs: number | undefined;
  /** Until every replacement also carried its bookkeeping tags (one CreateTags per replacement). */
  allRequestedMs: number | undefined;
  drained: number;
  launched: number;
  requested: number;
  requests: Record<string, number>;
  ec2ElbRequests: number;
  throttled: number;
  invocations: number;
  failedInvocations: number;
  batchItemFailures: number;
  lost: number;
  /** Warned instances without a record when the measurement ended (their records come back). */
  unrecordedAtFirst: number;
  deadLetters: number;
  drainsBeforeDeadline: number;
  usesFleet: boolean;
  wallSeconds: number;
}

async function massReclaim(delivery: 'queue' | 'direct'): Promise<{ reclaim: Reclaim; world: World }> {
  const world = await startWorld(delivery);
  const ids = await buildFleet(world, N, false);
  const since = performance.now();
  const before = world.arrivals.length;
  for (const count of world.invocations.values())
    Object.assign(count, { calls: 0, failed: 0, itemFailures: 0 });
  const throttledBefore = world.cloud.throttled();
  const warnedAt = new Map<string, number>();
  const drainedAt = new Map<string, number>();
  const requestedAt = new Map<string, number>();
  const launchedAt = new Map<string, number>();
  const existing = new Set(world.cloud.ec2.instances().map((i) => i.instanceId));
  const unsubscribe = world.cloud.onRequest((request) => {
    if (request.action !== 'DeregisterTargets') return;
    for (const id of targetIdsOf(request)) if (!drainedAt.has(id)) drainedAt.set(id, performance.now());
  });
  const watch = setInterval(() => {
    for (const instance of world.cloud.ec2.instances()) {
      if (!existing.has(instance.instanceId) && !launchedAt.has(instance.instanceId))
        launchedAt.set(instance.instanceId, performance.now());
      const old = instance.tags[REPLACES];
      if (old && !requestedAt.has(old)) requestedAt.set(old, performance.now());
    }
  }, 50);
  // N warnings spread evenly over 10 s, as a pool's reclaim delivers them.
  await new Promise<void>((resolve) => {
    let next = 0;
    const tick = () => {
      const due = Math.min(
        ids.length,
        Math.floor(((performance.now() - since) / SPREAD_MS) * ids.length) + 1,
      );
      for (; next < due; next++) {
        warnedAt.set(ids[next]!, performance.now());
        world.cloud.interrupt(ids[next]!);
      }
      if (next >= ids.length) resolve();
      else setTimeout(tick, 5);
    };
    tick();
  });
  const lastWarning = Math.max(...warnedAt.values());
  const limit = lastWarning + 60_000;
  while (performance.now() < limit && (drainedAt.size < N || requestedAt.size < N)) {
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  await world.bus.idle();
  clearInterval(watch);
  unsubscribe();
  const requests: Record<string, number> = {};
  for (const { request } of world.arrivals.slice(before)) {
    requests[request.action] = (requests[request.action] ?? 0) + 1;
  }
  // Lost: a warned instance without a workflow record once every delivery has settled — the
  // records reported back included: they come again after the queue's visibility timeout, in
  // virtual time (which also runs the sweep each minute and EC2's terminations), up to 5 times.
  const unrecorded = async () => {
    const missing: string[] = [];
    for (const id of ids) if (!(await world.store.get(workflowIdFor(id)))) missing.push(id);
    return missing;
  };
  const unrecordedAtFirst = (await unrecorded()).length;
  let lost = unrecordedAtFirst;
  for (let round = 0; round < 5 && lost > 0; round++) {
    await world.cloud.clock.advance(120_000);
    await settled(world);
    lost = (await unrecorded()).length;
  }
  const interruption = world.invocations.get('interruption')!;
  const stateChange = world.invocations.get('state-change')!;
  const allOf = (at: Map<string, number>) =>
    at.size >= N ? Math.max(...at.values()) - lastWarning : undefined;
  return {
    world,
    reclaim: {
      delivery,
      instances: N,
      allDrainingMs: allOf(drainedAt),
      allLaunchedMs: allOf(launchedAt),
      allRequestedMs: allOf(requestedAt),
      drained: drainedAt.size,
      launched: Math.min(launchedAt.size, N),
      requested: requestedAt.size,
      requests,
      ec2ElbRequests: Object.values(requests).reduce((a, b) => a + b, 0),
      throttled: world.cloud.throttled() - throttledBefore,
      invocations: interruption.calls + stateChange.calls,
      failedInvocations: interruption.failed + stateChange.failed,
      batchItemFailures: interruption.itemFailures + stateChange.itemFailures,
      lost,
      unrecordedAtFirst,
      deadLetters: world.bus.deadLetters.length,
      drainsBeforeDeadline: [...drainedAt].filter(([id, at]) => at - warnedAt.get(id)! < 120_000).length / N,
      usesFleet: (requests['CreateFleet'] ?? 0) > 0,
      wallSeconds: (performance.now() - since) / 1000,
    },
  };
}

// ---------- the sweep over a table of finished workflows ----------
async function sweepOverFinished(
  world: World,
): Promise<{ ms: number; dynamoRequests: number; awsRequests: number; failed: boolean }> {
  // A finished workflow as the store writes it, copied: completed, so out of the open-workflows index.
  const [workflow] = await world.store.list({ limit: 1 });
  if (!workflow) throw new Error('No workflow to copy for the sweep benchmark.');
  const { Item: stored } = await world.documentClient.send(
    new GetCommand({ TableName: world.tableName, Key: { pk: `workflow#${workflow.workflowId}` } }),
  );
  if (!stored) throw new Error(`Workflow ${workflow.workflowId} is not in the table.`);
  const { openPartition: _open, openSince: _since, ...finished } = stored;
  const items = Array.from({ length: SWEEP_WORKFLOWS }, (_, i) => {
    const instanceId = `i-finished${String(i).padStart(8, '0')}`;
    const workflowId = workflowIdFor(instanceId);
    return { ...finished, workflowId, instanceId, status: 'completed', pk: `workflow#${workflowId}` };
  });
  const chunks = Array.from({ length: Math.ceil(items.length / 25) }, (_, i) =>
    items.slice(i * 25, i * 25 + 25),
  );
  for (let i = 0; i < chunks.length; i += 32) {
    await Promise.all(
      chunks.slice(i, i + 32).map((chunk) =>
        world.documentClient.send(
          new BatchWriteCommand({
            RequestItems: { [world.tableName]: chunk.map((Item) => ({ PutRequest: { Item } })) },
          }),
        ),
      ),
    );
  }
  world.cloud.refillBuckets();
  const exchangesBefore = exchanges.length;
  const arrivalsBefore = world.arrivals.length;
  const started = performance.now();
  const failed = await world.runFunction('sweeper').then(
    () => false,
    () => true,
  );
  const ms = performance.now() - started;
  const all = exchanges.length - exchangesBefore;
  const aws = world.arrivals.length - arrivalsBefore;
  return { ms, dynamoRequests: all - aws, awsRequests: aws, failed };
}

// ---------- cold start ----------
/** The esbuild options of serverless.yml's `custom.esbuild` that shape a bundle. */
const PACKAGED_OPTIONS = [
  'bundle',
  'minify',
  'sourcemap',
  'format',
  'platform',
  'target',
  'mainFields',
  'banner',
] as const satisfies readonly (keyof BuildOptions)[];
type PackagedOption = (typeof PACKAGED_OPTIONS)[number];

async function coldStart(): Promise<
  { name: string; bytes: number; zippedBytes: number; loadMs: number; bareMs: number }[]
> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-bundles-'));
  // The options `npm run package` bundles with: serverless.yml's `custom.esbuild`, read, not copied
  // (its `define` embeds policy.yml, which the benchmark passes as HANDOFF_POLICY instead).
  const packaging = (
    parse(readFileSync('serverless.yml', 'utf8')) as {
      custom: { esbuild: Pick<BuildOptions, PackagedOption> & { plugins: string } };
    }
  ).custom.esbuild;
  const plugins = (await import(pathToFileURL(packaging.plugins).href)).default as Plugin[];
  const options = Object.fromEntries(PACKAGED_OPTIONS.map((key) => [key, packaging[key]]));
  try {
    const rows = [];
    for (const name of Object.keys(functionHandlers)) {
      const outfile = join(dir, `${name}.mjs`);
      await build({
        ...options,
        entryPoints: [`functions/${name}/handler.ts`],
        outfile,
        plugins,
        logLevel: 'silent',
      });
      const code = readFileSync(outfile);
      const load = measureModuleLoad(outfile, { runs: 5 });
      rows.push({
        name,
        bytes: code.length,
        zippedBytes: deflateRawSync(code, { level: 9 }).length + 22 + 2 * (46 + name.length + 4),
        loadMs: load.moduleMs,
        bareMs: load.bareMs,
      });
    }
    return rows;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// ---------- lower bounds ----------
/** RunInstances: 5 requests at once, then 2 a second; the warnings spread over `SPREAD_MS`. */
const runInstancesBoundMs = (n: number) =>
  Math.max(2 * LATENCY, ((n - 5) / 2) * 1000 - SPREAD_MS + 2 * LATENCY);

function requestsBound(n: number, fleet: boolean): number {
  const groups = TARGET_GROUPS.length;
  // One batch at best: DescribeInstances, the index read is DynamoDB, DeregisterTargets per group,
  // the launches, then for the replacements' `running` events DescribeInstances and
  // RegisterTargets per group; discovery (DescribeTargetGroups + DescribeTargetHealth per group).
  const launches = fleet ? 3 * TYPES.length : n;
  return (1 + groups + launches + 1 + groups + 1 + groups) / n;
}

// ---------- run ----------
const started = performance.now();
const loadAtStart = loadavg();
const single = QUICK
  ? {}
  : { stateless: await oneInterruption(false), stateful: await oneInterruption(true) };
const reclaims: Reclaim[] = [];
let sweep: Awaited<ReturnType<typeof sweepOverFinished>> | undefined;
for (const delivery of DELIVERIES as ('queue' | 'direct')[]) {
  const { reclaim, world } = await massReclaim(delivery);
  reclaims.push(reclaim);
  try {
    if (!sweep && SWEEP_WORKFLOWS > 0) sweep = await sweepOverFinished(world);
  } finally {
    await world.stop();
  }
}
const cold = QUICK ? [] : await coldStart();
const seconds = (performance.now() - started) / 1000;

const result = {
  machine: `${cpus().length} × ${cpus()[0]?.model ?? 'unknown CPU'}, node ${process.version}`,
  loadAverage: loadAtStart.map((l) => l.toFixed(2)).join(' '),
  latencyMs: LATENCY,
  instances: N,
  apiBudget: BUDGET,
  single,
  reclaims,
  sweep,
  cold,
  seconds,
};

if (JSON_OUTPUT) {
  console.log(JSON.stringify(result, null, 2));
} else {
  const rows: [string, string, string, string][] = [];
  const ratio = (value: number | undefined, bound: number) =>
    value === undefined ? '—' : bound > 0 ? `${(value / bound).toFixed(2)}×` : '—';
  const ms = (value: number | undefined) => (value === undefined ? 'not reached' : `${Math.round(value)} ms`);
  const row = (what: string, value: string, bound: string, r: string) => rows.push([what, value, bound, r]);
  for (const [kind, s] of Object.entries(single)) {
    row(
      `${kind}: round trip of DeregisterTargets`,
      String(s.drainRoundTrip),
      '2',
      ratio(s.drainRoundTrip, 2),
    );
    row(`${kind}: ms to DeregisterTargets`, ms(s.drainMs), ms(LATENCY), ratio(s.drainMs, LATENCY));
    row(`${kind}: round trip of the launch`, String(s.launchRoundTrip), '2', ratio(s.launchRoundTrip, 2));
    row(`${kind}: ms to the launch`, ms(s.launchMs), ms(LATENCY), ratio(s.launchMs, LATENCY));
    row(
      `${kind}: round trip of RegisterTargets after running`,
      s.registerRoundTrip === undefined ? 'not in the event' : String(s.registerRoundTrip),
      '2',
      ratio(s.registerRoundTrip, 2),
    );
    row(
      `${kind}: ms to RegisterTargets after running`,
      ms(s.registerMs),
      ms(LATENCY),
      ratio(s.registerMs, LATENCY),
    );
  }
  for (const r of reclaims) {
    const d = `${r.instances} warnings in 10 s, ${r.delivery}`;
    const requestedBound = r.usesFleet ? 2 * LATENCY : runInstancesBoundMs(r.instances);
    row(
      `${d}: all draining after the last warning`,
      ms(r.allDrainingMs),
      ms(2 * LATENCY),
      ratio(r.allDrainingMs, 2 * LATENCY),
    );
    row(
      `${d}: all replacements requested and launched after it`,
      `${ms(r.allLaunchedMs)} (${r.launched}/${r.instances})`,
      `${ms(requestedBound)} (${r.usesFleet ? 'fleets' : 'RunInstances 5 + 2/s'})`,
      ratio(r.allLaunchedMs, requestedBound),
    );
    const taggedBound = createTagsBoundMs(r.instances);
    row(
      `${d}: all replacements tagged as such (one CreateTags each) after it`,
      `${ms(r.allRequestedMs)} (${r.requested}/${r.instances})`,
      `${ms(taggedBound)} (CreateTags 100 + 10/s)`,
      ratio(r.allRequestedMs, taggedBound),
    );
    const perInstance = r.ec2ElbRequests / r.instances;
    const bound = requestsBound(r.instances, r.usesFleet);
    row(
      `${d}: EC2+ELB requests per instance`,
      perInstance.toFixed(2),
      bound.toFixed(2),
      ratio(perInstance, bound),
    );
    for (const [action, count] of Object.entries(r.requests).sort((a, b) => b[1] - a[1])) {
      row(`${d}: ${action} requests`, String(count), '', '');
    }
    row(`${d}: throttled requests`, String(r.throttled), '0', '');
    row(
      `${d}: invocations (failed; batch items retried)`,
      `${r.invocations} (${r.failedInvocations}; ${r.batchItemFailures})`,
      '',
      '',
    );
    row(
      `${d}: workflows lost (unrecorded when measured; dead letters)`,
      `${r.lost} (${r.unrecordedAtFirst}; ${r.deadLetters})`,
      '0',
      '',
    );
    row(`${d}: drains before their deadline`, `${(r.drainsBeforeDeadline * 100).toFixed(1)} %`, '100 %', '');
  }
  if (sweep) {
    row(
      `sweep, ${SWEEP_WORKFLOWS} finished workflows: time`,
      ms(sweep.ms),
      ms(LATENCY),
      ratio(sweep.ms, LATENCY),
    );
    row(
      `sweep: DynamoDB requests (EC2+ELB)`,
      `${sweep.dynamoRequests} (${sweep.awsRequests})`,
      '1',
      ratio(sweep.dynamoRequests, 1),
    );
  }
  for (const c of cold) {
    row(
      `cold start ${c.name}: bundle zipped (unzipped)`,
      `${c.zippedBytes} B (${c.bytes} B)`,
      '307200 B budget',
      ratio(c.zippedBytes, 307_200),
    );
    row(
      `cold start ${c.name}: module load (bare node)`,
      `${c.loadMs} ms (${c.bareMs} ms)`,
      `${c.bareMs} ms`,
      ratio(c.loadMs, c.bareMs),
    );
  }
  const widths = [0, 1, 2, 3].map((i) => Math.max(...rows.map((r) => r[i]!.length), 6));
  const line = (r: string[]) => `| ${r.map((cell, i) => cell.padEnd(widths[i]!)).join(' | ')} |`;
  console.log(
    `spot-handoff benchmark — ${result.machine}; load average ${result.loadAverage}; latency ${LATENCY} ms per request; AWS token buckets on; API budget ${BUDGET}${QUEUE_CONCURRENCY ? `; queue concurrency ${QUEUE_CONCURRENCY}` : ''}`,
  );
  console.log(line(['figure', 'measured', 'lower bound', 'ratio']));
  console.log(line(widths.map((w) => '-'.repeat(w))));
  for (const r of rows) console.log(line(r));
  console.log(`(${seconds.toFixed(0)} s)`);
}

/**
 * The least time after the last warning until N replacements carry their own bookkeeping tags:
 * the tags differ per replacement, so one CreateTags each, from a bucket of 100 refilled at 10 a
 * second, which refills for the 10 s the warnings are spread over too.
 */
function createTagsBoundMs(instances: number): number {
  const beyond = Math.max(0, instances - 100 - 10 * (SPREAD_MS / 1000));
  return 2 * LATENCY + (beyond / 10) * 1000;
}
