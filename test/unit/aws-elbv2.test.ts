import {
  DeregisterTargetsCommand,
  type DeregisterTargetsCommandInput,
  DescribeTargetGroupsCommand,
  type DescribeTargetGroupsCommandInput,
  DescribeTargetHealthCommand,
  type DescribeTargetHealthCommandInput,
  ElasticLoadBalancingV2Client,
  ElasticLoadBalancingV2ServiceException,
  InvalidTargetException,
  RegisterTargetsCommand,
  type RegisterTargetsCommandInput,
  type TargetDescription,
  type TargetGroup,
  TargetGroupNotFoundException,
  type TargetHealthStateEnum,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { createPlanLog } from '../../src/aws/dry-run.ts';
import { Elbv2LoadBalancing } from '../../src/aws/elbv2.ts';
import type { InstanceFacts, Target } from '../../src/core/ports.ts';

const elbMock = mockClient(ElasticLoadBalancingV2Client);

interface Registration {
  target: TargetDescription;
  state: TargetHealthStateEnum;
}

const sameTarget = (a: TargetDescription, b: TargetDescription): boolean =>
  a.Id === b.Id && a.Port === b.Port && (a.AvailabilityZone ?? '') === (b.AvailabilityZone ?? '');

/**
 * A small stateful ELBv2: target groups with their registrations, `DescribeTargetGroups` pages,
 * deregistration to `draining`, a whole call refused for one invalid target (an instance that is
 * gone), and the number of `DescribeTargetHealth` calls in flight.
 */
class FakeElbApi {
  readonly groups = new Map<string, { group: TargetGroup; registrations: Registration[] }>();
  readonly goneInstances = new Set<string>();
  inFlight = 0;
  maxInFlight = 0;

  constructor() {
    elbMock
      .on(DescribeTargetGroupsCommand)
      .callsFake((input: DescribeTargetGroupsCommandInput) => this.describeGroups(input));
    elbMock
      .on(DescribeTargetHealthCommand)
      .callsFake((input: DescribeTargetHealthCommandInput) => this.describeHealth(input));
    elbMock
      .on(DeregisterTargetsCommand)
      .callsFake((input: DeregisterTargetsCommandInput) => this.deregister(input));
    elbMock
      .on(RegisterTargetsCommand)
      .callsFake((input: RegisterTargetsCommandInput) => this.register(input));
  }

  addGroup(name: string, vpcId: string, targetType: TargetGroup['TargetType'] = 'instance'): string {
    const arn = `arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/${name}/0123456789abcdef`;
    this.groups.set(arn, {
      group: { TargetGroupArn: arn, TargetGroupName: name, VpcId: vpcId, TargetType: targetType, Port: 80 },
      registrations: [],
    });
    return arn;
  }

  registerNow(arn: string, target: TargetDescription, state: TargetHealthStateEnum = 'healthy'): void {
    this.group(arn).registrations.push({ target, state });
  }

  /** Registrations that still receive traffic (not draining). */
  serving(arn: string): string[] {
    return this.group(arn)
      .registrations.filter((registration) => registration.state !== 'draining')
      .map((registration) => `${registration.target.Id}:${registration.target.Port}`);
  }

  group(arn: string) {
    const group = this.groups.get(arn);
    if (group === undefined) {
      throw new TargetGroupNotFoundException({
        $metadata: { httpStatusCode: 400 },
        message: `${arn} not found`,
      });
    }
    return group;
  }

  describeGroups(input: DescribeTargetGroupsCommandInput) {
    const all = [...this.groups.values()].map((entry) => entry.group);
    const start = Number(input.Marker ?? '0');
    const end = start + (input.PageSize ?? 400);
    return { TargetGroups: all.slice(start, end), NextMarker: end < all.length ? String(end) : undefined };
  }

  async describeHealth(input: DescribeTargetHealthCommandInput) {
    this.inFlight += 1;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    try {
      // Let the other calls the adapter has started get here before this one answers.
      for (let turn = 0; turn < 5; turn += 1) await Promise.resolve();
      const { registrations } = this.group(input.TargetGroupArn!);
      return {
        TargetHealthDescriptions: registrations.map((registration) => ({
          Target: registration.target,
          TargetHealth: { State: registration.state },
        })),
      };
    } finally {
      this.inFlight -= 1;
    }
  }

  deregister(input: DeregisterTargetsCommandInput) {
    const group = this.group(input.TargetGroupArn!);
    const targets = input.Targets ?? [];
    const gone = targets.find((target) => this.goneInstances.has(target.Id!));
    if (gone !== undefined) {
      throw new InvalidTargetException({
        $metadata: { httpStatusCode: 400 },
        message: `${gone.Id} is not valid`,
      });
    }
    for (const registration of group.registrations) {
      if (targets.some((target) => sameTarget(target, registration.target))) registration.state = 'draining';
    }
    return {};
  }

  register(input: RegisterTargetsCommandInput) {
    const group = this.group(input.TargetGroupArn!);
    for (const target of input.Targets ?? []) {
      const known = group.registrations.find((registration) => sameTarget(registration.target, target));
      if (known === undefined) group.registrations.push({ target, state: 'initial' });
      else known.state = 'initial';
    }
    return {};
  }
}

function instance(instanceId: string, vpcId: string | undefined, ips: string[]): InstanceFacts {
  return {
    instanceId,
    state: 'running',
    instanceType: 'm5.large',
    availabilityZone: 'us-east-1a',
    ...(vpcId ? { vpcId } : {}),
    privateIpAddress: ips[0],
    tags: {},
    volumes: [],
    networkInterfaces: ips.map((ip, deviceIndex) => ({
      networkInterfaceId: `eni-${instanceId}-${deviceIndex}`,
      deviceIndex,
      attachmentId: `eni-attach-${instanceId}-${deviceIndex}`,
      deleteOnTermination: true,
      subnetId: 'subnet-a',
      status: 'attached',
      privateIps: [{ privateIpAddress: ip, primary: true }],
    })),
  };
}

const describedGroups = (): Array<string | undefined> =>
  elbMock.commandCalls(DescribeTargetHealthCommand).map((call) => call.args[0].input.TargetGroupArn);

let elb: FakeElbApi;
let client: ElasticLoadBalancingV2Client;

beforeEach(() => {
  elbMock.reset();
  elb = new FakeElbApi();
  // A new client is a new container: the target group cache starts empty.
  client = new ElasticLoadBalancingV2Client({ region: 'us-east-1' });
});

describe('Elbv2LoadBalancing.findTargets', () => {
  it('finds instance and ip registrations, draining ones too, with 1 + 3 calls for a 3-group VPC', async () => {
    // Prepare: three groups in the fleet's VPC, two in another VPC, one Lambda group
    const web = elb.addGroup('web', 'vpc-1');
    const api = elb.addGroup('api', 'vpc-1');
    const pods = elb.addGroup('pods', 'vpc-1', 'ip');
    const other = elb.addGroup('other', 'vpc-2');
    const otherPods = elb.addGroup('other-pods', 'vpc-2', 'ip');
    elb.addGroup('fn', 'vpc-1', 'lambda');
    elb.registerNow(web, { Id: 'i-a', Port: 80 });
    elb.registerNow(web, { Id: 'i-b', Port: 80 }, 'draining');
    elb.registerNow(web, { Id: 'i-unrelated', Port: 80 });
    elb.registerNow(api, { Id: 'i-a', Port: 8080 }, 'unhealthy');
    elb.registerNow(pods, { Id: '10.0.1.11', Port: 3000 });
    elb.registerNow(pods, { Id: '10.0.9.9', Port: 3000 });
    elb.registerNow(other, { Id: 'i-a', Port: 80 });
    elb.registerNow(otherPods, { Id: '10.0.1.11', Port: 3000 });
    const a = instance('i-a', 'vpc-1', ['10.0.1.10', '10.0.1.11']);
    const b = instance('i-b', 'vpc-1', ['10.0.1.20']);
    const lb = new Elbv2LoadBalancing({ client });

    // Act
    const { byInstance, calls } = await lb.findTargets([a, b]);

    // Assess
    expect(byInstance.get('i-a')).toEqual(
      expect.arrayContaining<Target>([
        { targetGroupArn: web, targetType: 'instance', id: 'i-a', port: 80 },
        { targetGroupArn: api, targetType: 'instance', id: 'i-a', port: 8080 },
        { targetGroupArn: pods, targetType: 'ip', id: '10.0.1.11', port: 3000 },
      ]),
    );
    expect(byInstance.get('i-a')).toHaveLength(3);
    expect(byInstance.get('i-b')).toEqual([
      { targetGroupArn: web, targetType: 'instance', id: 'i-b', port: 80 },
    ]);
    expect(calls).toBe(1 + 3);
    expect(describedGroups().sort()).toEqual([web, api, pods].sort());
  });

  it('answers for every instance asked about, registered or not', async () => {
    elb.addGroup('web', 'vpc-1');
    const lb = new Elbv2LoadBalancing({ client });

    const { byInstance } = await lb.findTargets([instance('i-a', 'vpc-1', ['10.0.1.10'])]);

    expect(byInstance).toEqual(new Map([['i-a', []]]));
  });

  it('makes no call for instances without a VPC', async () => {
    elb.addGroup('web', 'vpc-1');
    const lb = new Elbv2LoadBalancing({ client });

    const { calls } = await lb.findTargets([instance('i-a', undefined, [])]);

    expect(calls).toBe(0);
    expect(elbMock.calls()).toHaveLength(0);
  });

  it('lists target groups 400 to a page', async () => {
    const arns = Array.from({ length: 900 }, (_, n) =>
      elb.addGroup(`tg-${n}`, n === 899 ? 'vpc-1' : 'vpc-2'),
    );
    const lb = new Elbv2LoadBalancing({ client });

    const { calls } = await lb.findTargets([instance('i-a', 'vpc-1', ['10.0.1.10'])]);

    expect(elbMock.commandCalls(DescribeTargetGroupsCommand, { PageSize: 400 })).toHaveLength(3);
    expect(calls).toBe(3 + 1);
    expect(describedGroups()).toEqual([arns[899]]);
  });

  it('reuses the target group list of the container until it is older than the cache time', async () => {
    // Prepare
    const web = elb.addGroup('web', 'vpc-1');
    let now = 1_000_000;
    const clock = () => now;
    const a = instance('i-a', 'vpc-1', ['10.0.1.10']);
    await new Elbv2LoadBalancing({ client, clock }).findTargets([a]);
    const later = elb.addGroup('later', 'vpc-1');

    // Act: a new adapter over the same client (a new invocation of the same container)
    now += 59_999;
    const cached = await new Elbv2LoadBalancing({ client, clock }).findTargets([a]);
    now += 1;
    const fresh = await new Elbv2LoadBalancing({ client, clock }).findTargets([a]);

    // Assess
    expect(cached.calls).toBe(1);
    expect(fresh.calls).toBe(1 + 2);
    expect(elbMock.commandCalls(DescribeTargetGroupsCommand)).toHaveLength(2);
    expect(describedGroups()).toEqual([web, web, web, later]);
  });

  it('skips a target group deleted since it was listed, and forgets it', async () => {
    const web = elb.addGroup('web', 'vpc-1');
    const doomed = elb.addGroup('doomed', 'vpc-1');
    elb.registerNow(web, { Id: 'i-a', Port: 80 });
    const a = instance('i-a', 'vpc-1', ['10.0.1.10']);
    const lb = new Elbv2LoadBalancing({ client });
    await lb.findTargets([a]);
    elb.groups.delete(doomed);

    const afterDelete = await lb.findTargets([a]);
    const next = await lb.findTargets([a]);

    expect(afterDelete.byInstance.get('i-a')).toEqual([
      { targetGroupArn: web, targetType: 'instance', id: 'i-a', port: 80 },
    ]);
    expect(afterDelete.calls).toBe(2);
    expect(next.calls).toBe(1);
  });

  it('describes at most 5 target groups at once', async () => {
    for (let n = 0; n < 12; n += 1) elb.addGroup(`tg-${n}`, 'vpc-1');
    const lb = new Elbv2LoadBalancing({ client });

    const { calls } = await lb.findTargets([instance('i-a', 'vpc-1', ['10.0.1.10'])]);

    expect(calls).toBe(1 + 12);
    expect(elb.maxInFlight).toBe(5);
  });

  it('throws what it cannot handle', async () => {
    elb.addGroup('web', 'vpc-1');
    elbMock.on(DescribeTargetHealthCommand).rejects(
      new ElasticLoadBalancingV2ServiceException({
        name: 'Throttling',
        $fault: 'client',
        $metadata: { httpStatusCode: 400 },
        message: 'Rate exceeded',
      }),
    );
    const lb = new Elbv2LoadBalancing({ client });

    await expect(lb.findTargets([instance('i-a', 'vpc-1', ['10.0.1.10'])])).rejects.toMatchObject({
      name: 'Throttling',
    });
  });
});

describe('Elbv2LoadBalancing.deregister and register', () => {
  it('deregisters with one call per target group and 200 targets', async () => {
    // Prepare: 450 ip targets in one group, 1 instance target in another
    const pods = elb.addGroup('pods', 'vpc-1', 'ip');
    const web = elb.addGroup('web', 'vpc-1');
    const podTargets: Target[] = Array.from({ length: 450 }, (_, n) => ({
      targetGroupArn: pods,
      targetType: 'ip',
      id: `10.0.${Math.floor(n / 250)}.${n % 250}`,
      port: 3000,
    }));
    for (const target of podTargets) elb.registerNow(pods, { Id: target.id, Port: target.port });
    elb.registerNow(web, { Id: 'i-a', Port: 80 });
    const webTarget: Target = { targetGroupArn: web, targetType: 'instance', id: 'i-a', port: 80 };
    const lb = new Elbv2LoadBalancing({ client });

    // Act
    const { calls } = await lb.deregister([...podTargets, webTarget, webTarget]);

    // Assess
    expect(elb.serving(pods)).toEqual([]);
    expect(elb.serving(web)).toEqual([]);
    expect(calls).toBe(3 + 1);
    const sizes = elbMock
      .commandCalls(DeregisterTargetsCommand)
      .map((call) => call.args[0].input.Targets?.length ?? 0);
    expect(sizes.sort((x, y) => y - x)).toEqual([200, 200, 50, 1]);
  });

  it('counts a target group deleted meanwhile as deregistered', async () => {
    const lb = new Elbv2LoadBalancing({ client });
    const target: Target = { targetGroupArn: 'arn:deleted', targetType: 'instance', id: 'i-a', port: 80 };

    const { calls } = await lb.deregister([target]);

    expect(calls).toBe(1);
  });

  it('still deregisters the valid targets of a batch refused for one that is gone', async () => {
    const web = elb.addGroup('web', 'vpc-1');
    elb.registerNow(web, { Id: 'i-a', Port: 80 });
    elb.registerNow(web, { Id: 'i-gone', Port: 80 });
    elb.goneInstances.add('i-gone');
    const lb = new Elbv2LoadBalancing({ client });

    const { calls } = await lb.deregister([
      { targetGroupArn: web, targetType: 'instance', id: 'i-a', port: 80 },
      { targetGroupArn: web, targetType: 'instance', id: 'i-gone', port: 80 },
    ]);

    expect(elb.serving(web)).toEqual(['i-gone:80']);
    expect(calls).toBe(1 + 2);
  });

  it('registers with the availability zone of an ip target outside the VPC', async () => {
    const pods = elb.addGroup('pods', 'vpc-1', 'ip');
    const web = elb.addGroup('web', 'vpc-1');
    const lb = new Elbv2LoadBalancing({ client });

    const { calls } = await lb.register([
      { targetGroupArn: pods, targetType: 'ip', id: '192.168.0.5', port: 3000, availabilityZone: 'all' },
      { targetGroupArn: web, targetType: 'instance', id: 'i-new', port: 80 },
    ]);

    expect(calls).toBe(2);
    expect(elb.serving(web)).toEqual(['i-new:80']);
    expect(
      elbMock.commandCalls(RegisterTargetsCommand, { TargetGroupArn: pods })[0]?.args[0].input.Targets,
    ).toEqual([{ Id: '192.168.0.5', Port: 3000, AvailabilityZone: 'all' }]);
  });

  it('throws when a target group to register in is gone', async () => {
    const lb = new Elbv2LoadBalancing({ client });

    await expect(
      lb.register([{ targetGroupArn: 'arn:deleted', targetType: 'instance', id: 'i-new', port: 80 }]),
    ).rejects.toBeInstanceOf(TargetGroupNotFoundException);
  });

  it('makes no call for no targets', async () => {
    const lb = new Elbv2LoadBalancing({ client });

    expect(await lb.deregister([])).toEqual({ calls: 0 });
    expect(elbMock.calls()).toHaveLength(0);
  });
});

describe('Elbv2LoadBalancing in a dry run', () => {
  it('plans registrations and deregistrations and sends nothing', async () => {
    const web = elb.addGroup('web', 'vpc-1');
    elb.registerNow(web, { Id: 'i-a', Port: 80 });
    const plan = createPlanLog();
    const lb = new Elbv2LoadBalancing({ client, dryRun: true, plan });

    const deregistered = await lb.deregister([
      { targetGroupArn: web, targetType: 'instance', id: 'i-a', port: 80 },
    ]);
    const registered = await lb.register([
      { targetGroupArn: web, targetType: 'instance', id: 'i-new', port: 80 },
    ]);

    expect(deregistered.calls + registered.calls).toBe(0);
    expect(elbMock.calls()).toHaveLength(0);
    expect(elb.serving(web)).toEqual(['i-a:80']);
    expect(plan.entries()).toEqual([
      {
        service: 'elbv2',
        action: 'DeregisterTargets',
        params: { TargetGroupArn: web, Targets: [{ Id: 'i-a', Port: 80 }] },
        outcome: 'skipped',
      },
      {
        service: 'elbv2',
        action: 'RegisterTargets',
        params: { TargetGroupArn: web, Targets: [{ Id: 'i-new', Port: 80 }] },
        outcome: 'skipped',
      },
    ]);
  });

  it('reads for real', async () => {
    const web = elb.addGroup('web', 'vpc-1');
    elb.registerNow(web, { Id: 'i-a', Port: 80 });
    const lb = new Elbv2LoadBalancing({ client, dryRun: true, plan: createPlanLog() });

    const { byInstance } = await lb.findTargets([instance('i-a', 'vpc-1', ['10.0.1.10'])]);

    expect(byInstance.get('i-a')).toHaveLength(1);
  });
});
