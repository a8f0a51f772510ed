/**
 * The local cloud's ELBv2 service, driven through the real `ElasticLoadBalancingV2Client` over a
 * small loopback server, with a stateful fake EC2 directory and a manual clock.
 */
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  CreateListenerCommand,
  CreateLoadBalancerCommand,
  CreateTargetGroupCommand,
  type CreateTargetGroupCommandInput,
  DeleteTargetGroupCommand,
  DeregisterTargetsCommand,
  DescribeLoadBalancersCommand,
  DescribeTargetGroupAttributesCommand,
  DescribeTargetGroupsCommand,
  DescribeTargetHealthCommand,
  ElasticLoadBalancingV2Client,
  ModifyTargetGroupAttributesCommand,
  paginateDescribeTargetGroups,
  RegisterTargetsCommand,
  type TargetDescription,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import fc from 'fast-check';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  AwsError,
  type InstanceDirectory,
  type QueryService,
  type VirtualClock,
} from '../../localcloud/contracts.ts';
import { createElbv2Service, type Elbv2Deps, type Elbv2Service } from '../../localcloud/elbv2/service.ts';

const REGION = 'us-east-1';
const ACCOUNT = '123456789012';
const VPC_A = 'vpc-0aaaaaaaaaaaaaaaa';
const VPC_B = 'vpc-0bbbbbbbbbbbbbbbb';

// ---- Fakes ---------------------------------------------------------------------------------------

interface ManualClock extends VirtualClock {
  pendingTimers(): number;
}

/** Virtual time that moves only on `advance`, firing due timers in order. */
function manualClock(start = Date.parse('2026-01-01T12:00:00.000Z')): ManualClock {
  let now = start;
  let sequence = 0;
  const timers: Array<{ at: number; seq: number; fn: () => void; done: boolean }> = [];
  const pending = () => timers.filter((t) => !t.done).sort((a, b) => a.at - b.at || a.seq - b.seq);
  return {
    now: () => new Date(now),
    schedule(delayMs, fn) {
      const timer = { at: now + Math.max(0, delayMs), seq: sequence++, fn, done: false };
      timers.push(timer);
      return () => {
        timer.done = true;
      };
    },
    async advance(ms) {
      const until = now + ms;
      for (let next = pending()[0]; next && next.at <= until; next = pending()[0]) {
        now = next.at;
        next.done = true;
        next.fn();
        await Promise.resolve();
      }
      now = until;
    },
    nextTimerAt: () => pending()[0]?.at,
    stop() {
      for (const timer of timers) timer.done = true;
    },
    pendingTimers: () => pending().length,
  };
}

interface FakeInstance {
  instanceId: string;
  state: string;
  vpcId: string;
  availabilityZone: string;
  privateIps: string[];
}

/** What EC2 knows of instances; VPC CIDRs are 10.0.0.0/16 (A) and 10.1.0.0/16 (B). */
class FakeInstances implements InstanceDirectory {
  private readonly instances = new Map<string, FakeInstance>();
  private readonly listeners: Array<(instanceId: string, state: string) => void> = [];

  add(instance: Omit<FakeInstance, 'state' | 'availabilityZone'> & Partial<FakeInstance>): void {
    this.instances.set(instance.instanceId, {
      state: 'running',
      availabilityZone: 'us-east-1a',
      ...instance,
    });
  }

  /** Stores the new state, then notifies, like EC2 does. */
  setState(instanceId: string, state: string): void {
    const instance = this.instances.get(instanceId);
    if (!instance) throw new Error(`no instance ${instanceId}`);
    instance.state = state;
    for (const listener of this.listeners) listener(instanceId, state);
  }

  instance(instanceId: string) {
    const instance = this.instances.get(instanceId);
    return instance && { ...instance, privateIps: [...instance.privateIps] };
  }

  vpcOfIp(ip: string): string | undefined {
    if (ip.startsWith('10.0.')) return VPC_A;
    if (ip.startsWith('10.1.')) return VPC_B;
    return undefined;
  }

  onStateChange(listener: (instanceId: string, state: string) => void): void {
    this.listeners.push(listener);
  }
}

const SUBNETS: Record<string, { vpcId: string; availabilityZone: string }> = {
  'subnet-0a1': { vpcId: VPC_A, availabilityZone: 'us-east-1a' },
  'subnet-0a2': { vpcId: VPC_A, availabilityZone: 'us-east-1b' },
  'subnet-0b1': { vpcId: VPC_B, availabilityZone: 'us-east-1a' },
};

// ---- A loopback server speaking the Query protocol -------------------------------------------------

let current: QueryService | undefined;
let server: Server;
let client: ElasticLoadBalancingV2Client;
let clock: ManualClock;
let ec2: FakeInstances;
let elbv2: Elbv2Service;
let requestCount = 0;

async function startServer(): Promise<string> {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', async () => {
      const form = new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
      const params: Record<string, string> = {};
      for (const [key, value] of form) if (key !== 'Action' && key !== 'Version') params[key] = value;
      const requestId = `req-${++requestCount}`;
      const service = current!;
      try {
        const body = await service.handle({
          action: form.get('Action') ?? '',
          version: form.get('Version') ?? '',
          params,
          requestId,
        });
        res.writeHead(200, { 'content-type': 'text/xml' }).end(body);
      } catch (error) {
        if (!(error instanceof AwsError)) {
          res.writeHead(500, { 'content-type': 'text/plain' }).end(String(error));
          return;
        }
        res
          .writeHead(error.httpStatus, { 'content-type': 'text/xml' })
          .end(service.renderError(error, requestId));
      }
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

function freshCloud(options: Partial<Elbv2Deps> = {}): void {
  clock = manualClock();
  ec2 = new FakeInstances();
  elbv2 = createElbv2Service({
    clock,
    instances: ec2,
    region: REGION,
    accountId: ACCOUNT,
    subnet: (id) => SUBNETS[id],
    timing: { loadBalancerProvisioningSeconds: 0 },
    ...options,
  });
  current = elbv2;
}

beforeAll(async () => {
  const endpoint = await startServer();
  client = new ElasticLoadBalancingV2Client({
    endpoint,
    region: REGION,
    credentials: { accessKeyId: 'AKIDLOCAL', secretAccessKey: 'local' },
    maxAttempts: 1,
  });
});

afterAll(async () => {
  client.destroy();
  server.close();
  await once(server, 'close');
});

beforeEach(() => freshCloud());

// ---- Helpers ---------------------------------------------------------------------------------------

async function createGroup(input: Partial<CreateTargetGroupCommandInput> = {}): Promise<string> {
  const out = await client.send(
    new CreateTargetGroupCommand({
      Name: 'web',
      Protocol: 'HTTP',
      Port: 80,
      VpcId: VPC_A,
      TargetType: 'instance',
      HealthCheckIntervalSeconds: 5,
      HealthCheckTimeoutSeconds: 2,
      HealthyThresholdCount: 2,
      UnhealthyThresholdCount: 2,
      ...input,
    }),
  );
  return out.TargetGroups![0]!.TargetGroupArn!;
}

async function createAlb(name = 'front'): Promise<string> {
  const out = await client.send(
    new CreateLoadBalancerCommand({ Name: name, Subnets: ['subnet-0a1', 'subnet-0a2'], Type: 'application' }),
  );
  return out.LoadBalancers![0]!.LoadBalancerArn!;
}

async function forward(loadBalancerArn: string, targetGroupArn: string, port = 80): Promise<void> {
  await client.send(
    new CreateListenerCommand({
      LoadBalancerArn: loadBalancerArn,
      Protocol: 'HTTP',
      Port: port,
      DefaultActions: [{ Type: 'forward', TargetGroupArn: targetGroupArn }],
    }),
  );
}

/** A target group behind an ALB listener: its targets are health-checked. */
async function groupInUse(input: Partial<CreateTargetGroupCommandInput> = {}): Promise<string> {
  const arn = await createGroup(input);
  await forward(await createAlb(), arn);
  return arn;
}

async function health(targetGroupArn: string, targets?: TargetDescription[]) {
  const out = await client.send(
    new DescribeTargetHealthCommand({ TargetGroupArn: targetGroupArn, Targets: targets }),
  );
  return (out.TargetHealthDescriptions ?? []).map((d) => ({
    id: d.Target?.Id,
    port: d.Target?.Port,
    state: d.TargetHealth?.State,
    reason: d.TargetHealth?.Reason,
  }));
}

async function setDeregistrationDelay(targetGroupArn: string, seconds: number | string): Promise<void> {
  await client.send(
    new ModifyTargetGroupAttributesCommand({
      TargetGroupArn: targetGroupArn,
      Attributes: [{ Key: 'deregistration_delay.timeout_seconds', Value: String(seconds) }],
    }),
  );
}

const I1 = 'i-0000000000000000a';
const I2 = 'i-0000000000000000b';
const I3 = 'i-0000000000000000c';

// ---- Tests -----------------------------------------------------------------------------------------

describe('registration and health checks', () => {
  it('moves a registered instance from initial to healthy as its checks pass', async () => {
    ec2.add({ instanceId: I1, vpcId: VPC_A, privateIps: ['10.0.1.10'] });
    const tg = await groupInUse();

    await client.send(new RegisterTargetsCommand({ TargetGroupArn: tg, Targets: [{ Id: I1 }] }));

    expect(await health(tg)).toEqual([
      { id: I1, port: 80, state: 'initial', reason: 'Elb.RegistrationInProgress' },
    ]);
    await clock.advance(5_000);
    expect(await health(tg)).toEqual([
      { id: I1, port: 80, state: 'initial', reason: 'Elb.InitialHealthChecking' },
    ]);
    await clock.advance(5_000);
    expect(await health(tg)).toEqual([{ id: I1, port: 80, state: 'healthy', reason: undefined }]);
    const [described] = (await client.send(new DescribeTargetHealthCommand({ TargetGroupArn: tg })))
      .TargetHealthDescriptions!;
    expect(described).toMatchObject({ HealthCheckPort: '80', TargetHealth: { State: 'healthy' } });
    expect(described!.TargetHealth!.Description).toBeUndefined();
  });

  it('reports targets unused / Target.NotInUse until a listener forwards to their group', async () => {
    ec2.add({ instanceId: I1, vpcId: VPC_A, privateIps: ['10.0.1.10'] });
    const tg = await createGroup();
    await client.send(new RegisterTargetsCommand({ TargetGroupArn: tg, Targets: [{ Id: I1, Port: 8080 }] }));
    await clock.advance(600_000);
    expect(await health(tg)).toEqual([{ id: I1, port: 8080, state: 'unused', reason: 'Target.NotInUse' }]);

    const lb = await createAlb();
    await forward(lb, tg);

    expect(await health(tg)).toEqual([
      { id: I1, port: 8080, state: 'initial', reason: 'Elb.RegistrationInProgress' },
    ]);
    await clock.advance(10_000);
    expect((await health(tg))[0]!.state).toBe('healthy');
    const byLb = await client.send(new DescribeTargetGroupsCommand({ LoadBalancerArn: lb }));
    expect(byLb.TargetGroups!.map((g) => [g.TargetGroupArn, g.LoadBalancerArns])).toEqual([[tg, [lb]]]);
  });

  it('starts health checks only once the load balancer has finished provisioning', async () => {
    freshCloud({ timing: undefined });
    ec2.add({ instanceId: I1, vpcId: VPC_A, privateIps: ['10.0.1.10'] });
    const tg = await createGroup();
    const lb = await createAlb();
    await forward(lb, tg);
    await client.send(new RegisterTargetsCommand({ TargetGroupArn: tg, Targets: [{ Id: I1 }] }));

    const describeState = async () =>
      (await client.send(new DescribeLoadBalancersCommand({ LoadBalancerArns: [lb] }))).LoadBalancers![0]!
        .State!.Code;
    expect(await describeState()).toBe('provisioning');
    await clock.advance(59_000);
    expect((await health(tg))[0]!.state).toBe('initial');
    await clock.advance(1_000);
    expect(await describeState()).toBe('active');
    await clock.advance(9_999);
    expect((await health(tg))[0]!.state).toBe('initial');
    await clock.advance(1);
    expect((await health(tg))[0]!.state).toBe('healthy');
  });

  it('reports a filtered target that is not registered as unused / Target.NotRegistered', async () => {
    ec2.add({ instanceId: I1, vpcId: VPC_A, privateIps: ['10.0.1.10'] });
    const tg = await groupInUse();
    await client.send(new RegisterTargetsCommand({ TargetGroupArn: tg, Targets: [{ Id: I1 }] }));

    expect(await health(tg, [{ Id: I2 }, { Id: I1, Port: 81 }, { Id: I1 }])).toEqual([
      { id: I2, port: 80, state: 'unused', reason: 'Target.NotRegistered' },
      { id: I1, port: 81, state: 'unused', reason: 'Target.NotRegistered' },
      { id: I1, port: 80, state: 'initial', reason: 'Elb.RegistrationInProgress' },
    ]);
  });

  it('registering the same target twice keeps one registration and its progress', async () => {
    ec2.add({ instanceId: I1, vpcId: VPC_A, privateIps: ['10.0.1.10'] });
    const tg = await groupInUse();
    await client.send(new RegisterTargetsCommand({ TargetGroupArn: tg, Targets: [{ Id: I1 }] }));
    await clock.advance(10_000);
    await client.send(new RegisterTargetsCommand({ TargetGroupArn: tg, Targets: [{ Id: I1, Port: 80 }] }));

    expect(await health(tg)).toEqual([{ id: I1, port: 80, state: 'healthy', reason: undefined }]);
  });
});

describe('deregistration', () => {
  it('drains a target for the configured delay, then it is gone', async () => {
    ec2.add({ instanceId: I1, vpcId: VPC_A, privateIps: ['10.0.1.10'] });
    const tg = await groupInUse();
    await setDeregistrationDelay(tg, 30);
    await client.send(new RegisterTargetsCommand({ TargetGroupArn: tg, Targets: [{ Id: I1 }] }));
    await clock.advance(10_000);
    const deregisteredAt = clock.now().getTime();

    await client.send(new DeregisterTargetsCommand({ TargetGroupArn: tg, Targets: [{ Id: I1 }] }));

    expect(await health(tg)).toEqual([
      { id: I1, port: 80, state: 'draining', reason: 'Target.DeregistrationInProgress' },
    ]);
    expect(elbv2.inspect.targetGroupOf('web')!.targets[0]!.drainingUntil).toEqual(
      new Date(deregisteredAt + 30_000),
    );
    await clock.advance(29_999);
    expect((await health(tg))[0]!.state).toBe('draining');
    await clock.advance(1);
    expect(await health(tg)).toEqual([]);
    expect(await health(tg, [{ Id: I1 }])).toEqual([
      { id: I1, port: 80, state: 'unused', reason: 'Target.NotRegistered' },
    ]);
    expect(elbv2.inspect.targetGroupOf(tg)!.targets).toEqual([]);
  });

  it('uses the default delay of 300 s', async () => {
    ec2.add({ instanceId: I1, vpcId: VPC_A, privateIps: ['10.0.1.10'] });
    const tg = await groupInUse();
    await client.send(new RegisterTargetsCommand({ TargetGroupArn: tg, Targets: [{ Id: I1 }] }));
    await client.send(new DeregisterTargetsCommand({ TargetGroupArn: tg, Targets: [{ Id: I1 }] }));

    await clock.advance(299_999);
    expect((await health(tg))[0]!.state).toBe('draining');
    await clock.advance(1);
    expect(await health(tg)).toEqual([]);
  });

  it('is idempotent: unknown targets are ignored and a second deregistration keeps the first deadline', async () => {
    ec2.add({ instanceId: I1, vpcId: VPC_A, privateIps: ['10.0.1.10'] });
    const tg = await groupInUse();
    await setDeregistrationDelay(tg, 60);
    await client.send(new RegisterTargetsCommand({ TargetGroupArn: tg, Targets: [{ Id: I1 }] }));

    await client.send(
      new DeregisterTargetsCommand({ TargetGroupArn: tg, Targets: [{ Id: I2 }, { Id: I1 }] }),
    );
    await clock.advance(40_000);
    await client.send(
      new DeregisterTargetsCommand({ TargetGroupArn: tg, Targets: [{ Id: I1 }, { Id: I2 }] }),
    );

    const [target] = elbv2.inspect.targetGroupOf(tg)!.targets;
    expect(target).toMatchObject({ id: I1, state: 'draining', reason: 'Target.DeregistrationInProgress' });
    expect(target!.drainingUntil).toEqual(new Date(clock.now().getTime() + 20_000));
    await clock.advance(20_000);
    expect(await health(tg)).toEqual([]);
    await client.send(new DeregisterTargetsCommand({ TargetGroupArn: tg, Targets: [{ Id: I1 }] }));
    expect(await health(tg)).toEqual([]);
  });

  it('re-registering a draining instance target makes it initial again and cancels its removal', async () => {
    ec2.add({ instanceId: I1, vpcId: VPC_A, privateIps: ['10.0.1.10'] });
    const tg = await groupInUse();
    await setDeregistrationDelay(tg, 30);
    await client.send(new RegisterTargetsCommand({ TargetGroupArn: tg, Targets: [{ Id: I1 }] }));
    await client.send(new DeregisterTargetsCommand({ TargetGroupArn: tg, Targets: [{ Id: I1 }] }));
    await clock.advance(10_000);

    await client.send(new RegisterTargetsCommand({ TargetGroupArn: tg, Targets: [{ Id: I1 }] }));

    expect(await health(tg)).toEqual([
      { id: I1, port: 80, state: 'initial', reason: 'Elb.RegistrationInProgress' },
    ]);
    await clock.advance(60_000);
    expect(await health(tg)).toEqual([{ id: I1, port: 80, state: 'healthy', reason: undefined }]);
  });

  it('removes targets at once when the delay is 0', async () => {
    ec2.add({ instanceId: I1, vpcId: VPC_A, privateIps: ['10.0.1.10'] });
    const tg = await groupInUse();
    await setDeregistrationDelay(tg, 0);
    await client.send(new RegisterTargetsCommand({ TargetGroupArn: tg, Targets: [{ Id: I1 }] }));
    await client.send(new DeregisterTargetsCommand({ TargetGroupArn: tg, Targets: [{ Id: I1 }] }));

    expect(await health(tg)).toEqual([]);
  });
});

describe('instance state changes', () => {
  it('a stopped instance is unused / Target.InvalidState, and is checked afresh when it runs again', async () => {
    ec2.add({ instanceId: I1, vpcId: VPC_A, privateIps: ['10.0.1.10'] });
    const tg = await groupInUse();
    await client.send(new RegisterTargetsCommand({ TargetGroupArn: tg, Targets: [{ Id: I1 }] }));
    await clock.advance(10_000);

    ec2.setState(I1, 'stopping');
    ec2.setState(I1, 'stopped');
    expect(await health(tg)).toEqual([{ id: I1, port: 80, state: 'unused', reason: 'Target.InvalidState' }]);
    const [stopped] = (await client.send(new DescribeTargetHealthCommand({ TargetGroupArn: tg })))
      .TargetHealthDescriptions!;
    expect(stopped!.TargetHealth!.Description).toBe('Target is in the stopped state');

    await clock.advance(60_000);
    ec2.setState(I1, 'pending');
    ec2.setState(I1, 'running');
    expect((await health(tg))[0]!.state).toBe('initial');
    await clock.advance(10_000);
    expect((await health(tg))[0]!.state).toBe('healthy');
  });

  it('a terminating instance drains out of every group it is registered in', async () => {
    ec2.add({ instanceId: I1, vpcId: VPC_A, privateIps: ['10.0.1.10'] });
    ec2.add({ instanceId: I2, vpcId: VPC_A, privateIps: ['10.0.1.11'] });
    const web = await groupInUse();
    const api = await createGroup({ Name: 'api', Port: 8080 });
    await setDeregistrationDelay(web, 90);
    await setDeregistrationDelay(api, 30);
    await client.send(new RegisterTargetsCommand({ TargetGroupArn: web, Targets: [{ Id: I1 }, { Id: I2 }] }));
    await client.send(new RegisterTargetsCommand({ TargetGroupArn: api, Targets: [{ Id: I1 }] }));
    await clock.advance(10_000);

    ec2.setState(I1, 'shutting-down');
    ec2.setState(I1, 'terminated');

    expect(await health(web)).toEqual([
      { id: I1, port: 80, state: 'draining', reason: 'Target.DeregistrationInProgress' },
      { id: I2, port: 80, state: 'healthy', reason: undefined },
    ]);
    expect((await health(api))[0]!.state).toBe('draining');
    await clock.advance(30_000);
    expect(await health(api)).toEqual([]);
    await clock.advance(60_000);
    expect(await health(web)).toEqual([{ id: I2, port: 80, state: 'healthy', reason: undefined }]);
  });
});

describe('invalid targets', () => {
  it('rejects instances that are not running, in another VPC or unknown, and changes nothing', async () => {
    ec2.add({ instanceId: I1, vpcId: VPC_A, privateIps: ['10.0.1.10'] });
    ec2.add({ instanceId: I2, vpcId: VPC_A, privateIps: ['10.0.1.11'], state: 'stopped' });
    ec2.add({ instanceId: I3, vpcId: VPC_B, privateIps: ['10.1.1.12'] });
    const tg = await groupInUse();

    await expect(
      client.send(new RegisterTargetsCommand({ TargetGroupArn: tg, Targets: [{ Id: I1 }, { Id: I2 }] })),
    ).rejects.toMatchObject({
      name: 'InvalidTargetException',
      message: `The following targets are not in a running state and cannot be registered: '${I2}'`,
    });
    await expect(
      client.send(new RegisterTargetsCommand({ TargetGroupArn: tg, Targets: [{ Id: I1 }, { Id: I3 }] })),
    ).rejects.toMatchObject({
      name: 'InvalidTargetException',
      message: `The following targets are not in the target group VPC '${VPC_A}': '${I3}'`,
    });
    await expect(
      client.send(
        new RegisterTargetsCommand({ TargetGroupArn: tg, Targets: [{ Id: 'i-0123456789abcdef0' }] }),
      ),
    ).rejects.toMatchObject({ name: 'InvalidTargetException' });
    await expect(
      client.send(new RegisterTargetsCommand({ TargetGroupArn: tg, Targets: [{ Id: '10.0.1.10' }] })),
    ).rejects.toMatchObject({ name: 'ValidationError' });

    expect(await health(tg)).toEqual([]);
    expect(elbv2.inspect.targetGroupOf(tg)!.targets).toEqual([]);
  });

  it('rejects a stopped instance already registered elsewhere without touching that registration', async () => {
    ec2.add({ instanceId: I1, vpcId: VPC_A, privateIps: ['10.0.1.10'] });
    const tg = await groupInUse();
    await client.send(new RegisterTargetsCommand({ TargetGroupArn: tg, Targets: [{ Id: I1 }] }));
    await clock.advance(10_000);
    ec2.setState(I1, 'stopped');

    await expect(
      client.send(new RegisterTargetsCommand({ TargetGroupArn: tg, Targets: [{ Id: I1, Port: 81 }] })),
    ).rejects.toMatchObject({ name: 'InvalidTargetException' });

    expect(await health(tg)).toEqual([{ id: I1, port: 80, state: 'unused', reason: 'Target.InvalidState' }]);
  });
});

describe('ip targets', () => {
  it('follows the health of the instance holding the IP', async () => {
    ec2.add({ instanceId: I1, vpcId: VPC_A, privateIps: ['10.0.1.10', '10.0.1.20'] });
    ec2.setState(I1, 'running');
    const tg = await groupInUse({ TargetType: 'ip', Name: 'pods', Port: 8080 });

    await client.send(
      new RegisterTargetsCommand({
        TargetGroupArn: tg,
        Targets: [{ Id: '10.0.1.20' }, { Id: '10.0.9.9', Port: 9090 }],
      }),
    );
    await clock.advance(10_000);

    expect(await health(tg)).toEqual([
      { id: '10.0.1.20', port: 8080, state: 'healthy', reason: undefined },
      { id: '10.0.9.9', port: 9090, state: 'unhealthy', reason: 'Target.FailedHealthChecks' },
    ]);
    expect(elbv2.inspect.targetGroupOf('pods')!.targets[0]!.availabilityZone).toBe('us-east-1a');

    ec2.setState(I1, 'stopping');
    await clock.advance(9_999);
    expect((await health(tg))[0]!.state).toBe('healthy');
    await clock.advance(1);
    expect((await health(tg))[0]).toMatchObject({ state: 'unhealthy', reason: 'Target.FailedHealthChecks' });

    ec2.setState(I1, 'running');
    await clock.advance(9_999);
    expect((await health(tg))[0]!.state).toBe('unhealthy');
    await clock.advance(1);
    expect((await health(tg))[0]!.state).toBe('healthy');
  });

  it('accepts an IP outside the VPC only with AvailabilityZone all, and only a private one', async () => {
    const tg = await groupInUse({ TargetType: 'ip', Name: 'pods' });

    await expect(
      client.send(new RegisterTargetsCommand({ TargetGroupArn: tg, Targets: [{ Id: '10.1.0.5' }] })),
    ).rejects.toMatchObject({
      name: 'ValidationError',
      message: "The Availability Zone is required for IP address '10.1.0.5' because it is not in the VPC",
    });
    await expect(
      client.send(
        new RegisterTargetsCommand({
          TargetGroupArn: tg,
          Targets: [{ Id: '10.0.3.3', AvailabilityZone: 'all' }],
        }),
      ),
    ).rejects.toMatchObject({ name: 'ValidationError' });
    await expect(
      client.send(
        new RegisterTargetsCommand({
          TargetGroupArn: tg,
          Targets: [{ Id: '8.8.8.8', AvailabilityZone: 'all' }],
        }),
      ),
    ).rejects.toMatchObject({ name: 'ValidationError' });
    await expect(
      client.send(new RegisterTargetsCommand({ TargetGroupArn: tg, Targets: [{ Id: I1 }] })),
    ).rejects.toMatchObject({ name: 'ValidationError' });
    expect(await health(tg)).toEqual([]);

    await client.send(
      new RegisterTargetsCommand({
        TargetGroupArn: tg,
        Targets: [{ Id: '10.1.0.5', AvailabilityZone: 'all' }],
      }),
    );
    const out = await client.send(new DescribeTargetHealthCommand({ TargetGroupArn: tg }));
    expect(out.TargetHealthDescriptions!.map((d) => d.Target)).toEqual([
      { Id: '10.1.0.5', Port: 80, AvailabilityZone: 'all' },
    ]);
  });

  it('cannot register a draining IP again before the deregistration delay ends', async () => {
    ec2.add({ instanceId: I1, vpcId: VPC_A, privateIps: ['10.0.1.10'] });
    ec2.setState(I1, 'running');
    const tg = await groupInUse({ TargetType: 'ip', Name: 'pods' });
    await setDeregistrationDelay(tg, 45);
    await client.send(new RegisterTargetsCommand({ TargetGroupArn: tg, Targets: [{ Id: '10.0.1.10' }] }));
    await client.send(new DeregisterTargetsCommand({ TargetGroupArn: tg, Targets: [{ Id: '10.0.1.10' }] }));

    await expect(
      client.send(new RegisterTargetsCommand({ TargetGroupArn: tg, Targets: [{ Id: '10.0.1.10' }] })),
    ).rejects.toMatchObject({ name: 'InvalidTargetException' });
    expect((await health(tg))[0]!.state).toBe('draining');

    await clock.advance(45_000);
    await client.send(new RegisterTargetsCommand({ TargetGroupArn: tg, Targets: [{ Id: '10.0.1.10' }] }));
    expect((await health(tg))[0]!.state).toBe('initial');
  });
});

describe('target groups', () => {
  it('round-trips every field through the SDK', async () => {
    const lb = await createAlb();
    const tg = await createGroup({ HealthCheckPath: '/healthz' });
    await forward(lb, tg);

    const [group] = (await client.send(new DescribeTargetGroupsCommand({ TargetGroupArns: [tg] })))
      .TargetGroups!;

    expect(tg).toMatch(
      /^arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup\/web\/[0-9a-f]{16}$/,
    );
    expect(group).toEqual({
      TargetGroupArn: tg,
      TargetGroupName: 'web',
      Protocol: 'HTTP',
      ProtocolVersion: 'HTTP1',
      Port: 80,
      VpcId: VPC_A,
      HealthCheckProtocol: 'HTTP',
      HealthCheckPort: 'traffic-port',
      HealthCheckEnabled: true,
      HealthCheckIntervalSeconds: 5,
      HealthCheckTimeoutSeconds: 2,
      HealthyThresholdCount: 2,
      UnhealthyThresholdCount: 2,
      HealthCheckPath: '/healthz',
      Matcher: { HttpCode: '200' },
      LoadBalancerArns: [lb],
      TargetType: 'instance',
      IpAddressType: 'ipv4',
    });
  });

  it('applies AWS defaults to health checks', async () => {
    const out = await client.send(
      new CreateTargetGroupCommand({ Name: 'defaults', Protocol: 'TCP', Port: 443, VpcId: VPC_A }),
    );
    expect(out.TargetGroups![0]).toMatchObject({
      TargetType: 'instance',
      HealthCheckProtocol: 'TCP',
      HealthCheckIntervalSeconds: 30,
      HealthCheckTimeoutSeconds: 10,
      HealthyThresholdCount: 5,
      UnhealthyThresholdCount: 2,
      LoadBalancerArns: [],
    });
    expect(out.TargetGroups![0]!.HealthCheckPath).toBeUndefined();
  });

  it('returns the existing group for a duplicate name with the same settings, and rejects different ones', async () => {
    const first = await createGroup();
    const second = await createGroup();
    expect(second).toBe(first);

    await expect(createGroup({ Port: 8080 })).rejects.toMatchObject({
      name: 'DuplicateTargetGroupNameException',
    });
    expect((await client.send(new DescribeTargetGroupsCommand({}))).TargetGroups!.map((g) => g.Port)).toEqual(
      [80],
    );
  });

  it('validates names and required settings', async () => {
    await expect(createGroup({ Name: '-bad-' })).rejects.toMatchObject({ name: 'ValidationError' });
    await expect(createGroup({ Name: 'x'.repeat(33) })).rejects.toMatchObject({ name: 'ValidationError' });
    await expect(createGroup({ VpcId: undefined })).rejects.toMatchObject({
      name: 'ValidationError',
      message: 'A VPC ID must be specified',
    });
    await expect(createGroup({ HealthCheckIntervalSeconds: 4 })).rejects.toMatchObject({
      name: 'ValidationError',
    });
    await expect(createGroup({ TargetType: 'lambda' })).rejects.toMatchObject({ name: 'ValidationError' });
  });

  it('paginates with PageSize and NextMarker', async () => {
    const names = ['g', 'c', 'a', 'f', 'e', 'b', 'd'].map((n) => `tg-${n}`);
    for (const name of names) await createGroup({ Name: name });

    const pages: string[][] = [];
    for await (const page of paginateDescribeTargetGroups({ client }, { PageSize: 3 })) {
      pages.push(page.TargetGroups!.map((g) => g.TargetGroupName!));
    }

    expect(pages).toEqual([['tg-a', 'tg-b', 'tg-c'], ['tg-d', 'tg-e', 'tg-f'], ['tg-g']]);
    const first = await client.send(new DescribeTargetGroupsCommand({ PageSize: 7 }));
    expect(first.NextMarker).toBeUndefined();
    await expect(client.send(new DescribeTargetGroupsCommand({ PageSize: 401 }))).rejects.toMatchObject({
      name: 'ValidationError',
    });
    await expect(client.send(new DescribeTargetGroupsCommand({ Marker: 'garbage' }))).rejects.toMatchObject({
      name: 'ValidationError',
    });
  });

  it('keeps paging correctly when a group is deleted between pages', async () => {
    for (const name of ['tg-a', 'tg-b', 'tg-c', 'tg-d']) await createGroup({ Name: name });
    const first = await client.send(new DescribeTargetGroupsCommand({ PageSize: 2 }));
    const arnOf = (name: string) => elbv2.inspect.targetGroupOf(name)!.arn;

    await client.send(new DeleteTargetGroupCommand({ TargetGroupArn: arnOf('tg-b') }));
    await client.send(new DeleteTargetGroupCommand({ TargetGroupArn: arnOf('tg-c') }));
    const second = await client.send(
      new DescribeTargetGroupsCommand({ PageSize: 2, Marker: first.NextMarker }),
    );

    expect(second.TargetGroups!.map((g) => g.TargetGroupName)).toEqual(['tg-d']);
    expect(second.NextMarker).toBeUndefined();
  });

  it('finds groups by name and reports unknown ones as TargetGroupNotFound', async () => {
    const tg = await createGroup();
    const byName = await client.send(new DescribeTargetGroupsCommand({ Names: ['web'] }));
    expect(byName.TargetGroups!.map((g) => g.TargetGroupArn)).toEqual([tg]);

    const unknown = tg.replace(/\/[0-9a-f]{16}$/, '/0123456789abcdef');
    await expect(
      client.send(new DescribeTargetHealthCommand({ TargetGroupArn: unknown })),
    ).rejects.toMatchObject({
      name: 'TargetGroupNotFoundException',
      message: `Target groups '${unknown}' not found`,
      $metadata: { httpStatusCode: 400 },
    });
    await expect(
      client.send(new RegisterTargetsCommand({ TargetGroupArn: unknown, Targets: [{ Id: I1 }] })),
    ).rejects.toMatchObject({ name: 'TargetGroupNotFoundException' });
    await expect(
      client.send(new DeregisterTargetsCommand({ TargetGroupArn: unknown, Targets: [{ Id: I1 }] })),
    ).rejects.toMatchObject({ name: 'TargetGroupNotFoundException' });
    await expect(client.send(new DescribeTargetGroupsCommand({ Names: ['nope'] }))).rejects.toMatchObject({
      name: 'TargetGroupNotFoundException',
    });
    await expect(
      client.send(new DescribeTargetGroupAttributesCommand({ TargetGroupArn: unknown })),
    ).rejects.toMatchObject({ name: 'TargetGroupNotFoundException' });
  });

  it('deletes idempotently, but not while a listener forwards to the group', async () => {
    const tg = await groupInUse();
    const spare = await createGroup({ Name: 'spare' });

    await expect(client.send(new DeleteTargetGroupCommand({ TargetGroupArn: tg }))).rejects.toMatchObject({
      name: 'ResourceInUseException',
    });
    await client.send(new DeleteTargetGroupCommand({ TargetGroupArn: spare }));
    await client.send(new DeleteTargetGroupCommand({ TargetGroupArn: spare }));

    expect(elbv2.inspect.targetGroups().map((g) => g.arn)).toEqual([tg]);
  });
});

describe('target group attributes', () => {
  it('defaults the deregistration delay to 300 s and validates its range 0–3600', async () => {
    const tg = await createGroup();
    const delay = async () =>
      (await client.send(new DescribeTargetGroupAttributesCommand({ TargetGroupArn: tg }))).Attributes!.find(
        (a) => a.Key === 'deregistration_delay.timeout_seconds',
      )?.Value;
    expect(await delay()).toBe('300');

    for (const bad of ['3601', '-1', 'abc', '1.5', '']) {
      await expect(setDeregistrationDelay(tg, bad)).rejects.toMatchObject({ name: 'ValidationError' });
    }
    await expect(
      client.send(
        new ModifyTargetGroupAttributesCommand({
          TargetGroupArn: tg,
          Attributes: [
            { Key: 'deregistration_delay.timeout_seconds', Value: '60' },
            { Key: 'no.such.attribute', Value: 'x' },
          ],
        }),
      ),
    ).rejects.toMatchObject({ name: 'ValidationError' });
    expect(await delay()).toBe('300');

    await setDeregistrationDelay(tg, 3600);
    expect(await delay()).toBe('3600');
    const modified = await client.send(
      new ModifyTargetGroupAttributesCommand({
        TargetGroupArn: tg,
        Attributes: [{ Key: 'deregistration_delay.timeout_seconds', Value: '0' }],
      }),
    );
    expect(modified.Attributes).toContainEqual({ Key: 'deregistration_delay.timeout_seconds', Value: '0' });
    expect(elbv2.inspect.targetGroupOf(tg)!.deregistrationDelaySeconds).toBe(0);
  });
});

describe('load balancers and listeners', () => {
  it('creates and describes an application load balancer', async () => {
    const out = await client.send(
      new CreateLoadBalancerCommand({
        Name: 'front',
        Subnets: ['subnet-0a1', 'subnet-0a2'],
        SecurityGroups: ['sg-0123'],
        Scheme: 'internal',
      }),
    );
    const lb = out.LoadBalancers![0]!;

    expect(lb.LoadBalancerArn).toMatch(
      /^arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer\/app\/front\/[0-9a-f]{16}$/,
    );
    expect(lb).toMatchObject({
      LoadBalancerName: 'front',
      Type: 'application',
      Scheme: 'internal',
      VpcId: VPC_A,
      State: { Code: 'active' },
      SecurityGroups: ['sg-0123'],
      IpAddressType: 'ipv4',
      CanonicalHostedZoneId: 'Z35SXDOTRQ7X7K',
      AvailabilityZones: [
        { ZoneName: 'us-east-1a', SubnetId: 'subnet-0a1', LoadBalancerAddresses: [] },
        { ZoneName: 'us-east-1b', SubnetId: 'subnet-0a2', LoadBalancerAddresses: [] },
      ],
    });
    expect(lb.DNSName).toMatch(/^internal-front-\d+\.us-east-1\.elb\.amazonaws\.com$/);
    expect(lb.CreatedTime).toEqual(clock.now());

    const described = await client.send(new DescribeLoadBalancersCommand({ Names: ['front'] }));
    expect(described.LoadBalancers).toEqual([lb]);
    await expect(client.send(new DescribeLoadBalancersCommand({ Names: ['back'] }))).rejects.toMatchObject({
      name: 'LoadBalancerNotFoundException',
    });
  });

  it('rejects bad subnets', async () => {
    await expect(
      client.send(new CreateLoadBalancerCommand({ Name: 'one', Subnets: ['subnet-0a1'] })),
    ).rejects.toMatchObject({ name: 'ValidationError' });
    await expect(
      client.send(new CreateLoadBalancerCommand({ Name: 'lost', Subnets: ['subnet-0a1', 'subnet-missing'] })),
    ).rejects.toMatchObject({ name: 'SubnetNotFoundException' });
    await expect(
      client.send(new CreateLoadBalancerCommand({ Name: 'split', Subnets: ['subnet-0a1', 'subnet-0b1'] })),
    ).rejects.toMatchObject({ name: 'InvalidConfigurationRequestException' });
    expect(elbv2.inspect.loadBalancers()).toEqual([]);
  });

  it('links a listener to its target group and refuses a second load balancer or a clashing port', async () => {
    const lb = await createAlb();
    const other = await createAlb('other');
    const tg = await createGroup();

    const out = await client.send(
      new CreateListenerCommand({
        LoadBalancerArn: lb,
        Protocol: 'HTTP',
        Port: 80,
        DefaultActions: [{ Type: 'forward', TargetGroupArn: tg }],
      }),
    );

    expect(out.Listeners![0]).toMatchObject({
      LoadBalancerArn: lb,
      Port: 80,
      Protocol: 'HTTP',
      DefaultActions: [
        {
          Type: 'forward',
          TargetGroupArn: tg,
          ForwardConfig: { TargetGroups: [{ TargetGroupArn: tg, Weight: 1 }] },
        },
      ],
    });
    await expect(forward(lb, tg)).rejects.toMatchObject({ name: 'DuplicateListenerException' });
    await expect(forward(other, tg)).rejects.toMatchObject({ name: 'TargetGroupAssociationLimitException' });
    const tcp = await createGroup({ Name: 'tcp', Protocol: 'TCP' });
    await expect(forward(lb, tcp, 81)).rejects.toMatchObject({ name: 'IncompatibleProtocolsException' });
    expect(
      elbv2.inspect.loadBalancers().map((l) => [l.name, l.listeners.map((x) => x.targetGroupArns)]),
    ).toEqual([
      ['front', [[tg]]],
      ['other', []],
    ]);
  });
});

describe('draining deadlines (property)', () => {
  it('a target disappears exactly one delay after its first deregistration, whatever repeats in between', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 3600 }),
        fc.array(fc.integer({ min: 0, max: 4000 }), { maxLength: 5 }),
        async (delaySeconds, repeatsAtSeconds) => {
          freshCloud();
          ec2.add({ instanceId: I1, vpcId: VPC_A, privateIps: ['10.0.1.10'] });
          const call = (action: string, params: Record<string, string>) =>
            elbv2.handle({ action, version: '2015-12-01', params, requestId: 'prop' });
          const created = await call('CreateTargetGroup', {
            Name: 'web',
            Protocol: 'HTTP',
            Port: '80',
            VpcId: VPC_A,
          });
          const arn = /<TargetGroupArn>([^<]+)<\/TargetGroupArn>/.exec(created)![1]!;
          await call('ModifyTargetGroupAttributes', {
            TargetGroupArn: arn,
            'Attributes.member.1.Key': 'deregistration_delay.timeout_seconds',
            'Attributes.member.1.Value': String(delaySeconds),
          });
          await call('RegisterTargets', { TargetGroupArn: arn, 'Targets.member.1.Id': I1 });
          await call('DeregisterTargets', { TargetGroupArn: arn, 'Targets.member.1.Id': I1 });

          let elapsed = 0;
          for (const at of [...repeatsAtSeconds].sort((a, b) => a - b)) {
            await clock.advance((at - elapsed) * 1000);
            elapsed = at;
            await call('DeregisterTargets', { TargetGroupArn: arn, 'Targets.member.1.Id': I1 });
            const targets = elbv2.inspect.targetGroupOf(arn)!.targets;
            expect(targets.length).toBe(at < delaySeconds ? 1 : 0);
          }
          const remaining = delaySeconds - elapsed;
          if (remaining > 0) {
            await clock.advance(remaining * 1000 - 1);
            expect(elbv2.inspect.targetGroupOf(arn)!.targets.map((t) => t.state)).toEqual(['draining']);
            await clock.advance(1);
          }
          expect(elbv2.inspect.targetGroupOf(arn)!.targets).toEqual([]);
          expect(clock.pendingTimers()).toBe(0);
        },
      ),
      { numRuns: 50 },
    );
  });
});
