import { describe, expect, it } from 'vitest';
import type { InstanceFacts } from '../../src/core/ports.ts';
import { inventory, migrationTarget, statefulOptions, unprotected } from '../../src/core/stateful.ts';
import type { Workflow } from '../../src/core/workflow.ts';
import { TAGS } from '../support/fakes.ts';

const KEY = TAGS.stateful;

/** A stateful instance: root + data volume, a secondary interface, a secondary IP and an Elastic IP. */
const instance: InstanceFacts = {
  instanceId: 'i-0123456789abcdef0',
  state: 'running',
  instanceType: 'm5.large',
  availabilityZone: 'us-east-1a',
  subnetId: 'subnet-a',
  vpcId: 'vpc-1',
  privateIpAddress: '10.0.1.4',
  rootDeviceName: '/dev/xvda',
  tags: { [KEY]: 'true' },
  volumes: [
    { volumeId: 'vol-root', deviceName: '/dev/xvda', deleteOnTermination: true, status: 'attached' },
    { volumeId: 'vol-data', deviceName: '/dev/sdf', deleteOnTermination: true, status: 'attached' },
  ],
  networkInterfaces: [
    {
      networkInterfaceId: 'eni-primary',
      deviceIndex: 0,
      attachmentId: 'eni-attach-0',
      deleteOnTermination: true,
      subnetId: 'subnet-a',
      status: 'attached',
      privateIps: [
        {
          privateIpAddress: '10.0.1.4',
          primary: true,
          elasticIp: { publicIp: '203.0.113.9', allocationId: 'eipalloc-1' },
        },
        { privateIpAddress: '10.0.1.5', primary: false },
      ],
    },
    {
      networkInterfaceId: 'eni-service',
      deviceIndex: 1,
      attachmentId: 'eni-attach-1',
      deleteOnTermination: false,
      subnetId: 'subnet-a',
      status: 'attached',
      privateIps: [{ privateIpAddress: '10.0.1.6', primary: true }],
    },
  ],
};

describe('statefulOptions', () => {
  it('is off unless the stateful tag says true', () => {
    expect(statefulOptions({}, TAGS)).toBeUndefined();
    expect(statefulOptions({ [KEY]: 'yes' }, TAGS)).toBeUndefined();
  });

  it('moves everything by default; each kind can be turned off by its tag', () => {
    expect(statefulOptions({ [KEY]: 'true' }, TAGS)).toEqual({
      volumes: true,
      networkInterfaces: true,
      privateIps: true,
      elasticIps: true,
      primaryIp: 'new',
      rootVolume: 'new',
    });
    expect(
      statefulOptions(
        {
          [KEY]: 'true',
          'spot-handoff:volumes': 'none',
          'spot-handoff:elastic-ips': 'none',
          'spot-handoff:primary-ip': 'keep',
          'spot-handoff:root-volume': 'snapshot',
        },
        TAGS,
      ),
    ).toMatchObject({
      volumes: false,
      elasticIps: false,
      networkInterfaces: true,
      primaryIp: 'keep',
      rootVolume: 'snapshot',
    });
  });
});

describe('statefulOptions, tag by tag', () => {
  it.each([
    [TAGS.options.volumes, 'none', { volumes: false }],
    [TAGS.options.volumes, 'false', { volumes: false }],
    [TAGS.options.networkInterfaces, 'none', { networkInterfaces: false }],
    [TAGS.options.privateIps, 'false', { privateIps: false }],
    [TAGS.options.elasticIps, 'none', { elasticIps: false }],
    [TAGS.options.volumes, 'yes', { volumes: true }],
    [TAGS.options.primaryIp, 'keep', { primaryIp: 'keep' }],
    [TAGS.options.primaryIp, 'other', { primaryIp: 'new' }],
    [TAGS.options.rootVolume, 'snapshot', { rootVolume: 'snapshot' }],
    [TAGS.options.rootVolume, 'keep', { rootVolume: 'new' }],
  ])('%s=%s gives %o', (key, value, expected) => {
    expect(statefulOptions({ [KEY]: 'true', [key]: value }, TAGS)).toMatchObject(expected);
  });
});

describe('migrationTarget, case by case', () => {
  const subnet = (az: string, id = `subnet-${az.slice(-1)}`) => ({
    subnetId: id,
    vpcId: 'vpc-1',
    availabilityZone: az,
  });
  const from = (home: string, tried?: string) =>
    ({
      handover: {
        availabilityZone: home,
        resources: [],
        migration: tried ? { subnetId: 'x', availabilityZone: tried, reason: '' } : undefined,
      },
    }) as unknown as Workflow;
  it.each([
    ['only the home AZ', from('us-east-1a'), [subnet('us-east-1a')], undefined],
    [
      'the first other AZ by name',
      from('us-east-1b'),
      [subnet('us-east-1c'), subnet('us-east-1a')],
      'subnet-a',
    ],
    [
      'not the AZ already tried',
      from('us-east-1a', 'us-east-1b'),
      [subnet('us-east-1b'), subnet('us-east-1c')],
      'subnet-c',
    ],
    [
      'the first subnet by id within an AZ',
      from('us-east-1a'),
      [subnet('us-east-1b', 'subnet-z'), subnet('us-east-1b', 'subnet-y')],
      'subnet-y',
    ],
  ])('%s', (_what, workflow, subnets, expected) => {
    expect(migrationTarget(workflow, subnets)?.subnetId).toBe(expected);
  });
});

describe('inventory', () => {
  it('lists the data volumes (not the root), secondary interfaces, secondary IPs and Elastic IPs of the primary interface', () => {
    const handover = inventory(instance, statefulOptions(instance.tags, TAGS)!);

    expect(handover.availabilityZone).toBe('us-east-1a');
    expect(handover.resources).toEqual([
      {
        kind: 'volume',
        volumeId: 'vol-data',
        deviceName: '/dev/sdf',
        availabilityZone: 'us-east-1a',
        status: 'protected',
      },
      {
        kind: 'network-interface',
        networkInterfaceId: 'eni-service',
        deviceIndex: 1,
        subnetId: 'subnet-a',
        status: 'protected',
      },
      { kind: 'private-ip', privateIpAddress: '10.0.1.5', subnetId: 'subnet-a', status: 'protected' },
      {
        kind: 'elastic-ip',
        allocationId: 'eipalloc-1',
        publicIp: '203.0.113.9',
        privateIpAddress: '10.0.1.4',
        status: 'protected',
      },
    ]);
  });

  it('includes the root volume when its data is carried by snapshot', () => {
    const options = { ...statefulOptions(instance.tags, TAGS)!, rootVolume: 'snapshot' as const };

    expect(inventory(instance, options).resources[0]).toEqual({
      kind: 'root-volume',
      volumeId: 'vol-root',
      deviceName: '/dev/xvda',
      status: 'protected',
    });
  });
});

describe('unprotected', () => {
  it('names only what moves and would still be deleted with the instance', () => {
    const handover = inventory(instance, statefulOptions(instance.tags, TAGS)!);

    // The root volume does not move; the secondary interface is already kept.
    expect(unprotected(instance, handover)).toEqual({ deviceNames: ['/dev/sdf'], attachmentIds: [] });
  });
});

describe('migrationTarget', () => {
  const subnets = [
    { subnetId: 'subnet-c', vpcId: 'vpc-1', availabilityZone: 'us-east-1c' },
    { subnetId: 'subnet-a', vpcId: 'vpc-1', availabilityZone: 'us-east-1a' },
    { subnetId: 'subnet-b', vpcId: 'vpc-1', availabilityZone: 'us-east-1b' },
  ];
  const workflowIn = (migratedTo?: string) =>
    ({
      handover: {
        options: statefulOptions(instance.tags, TAGS)!,
        availabilityZone: 'us-east-1a',
        resources: [],
        migration: migratedTo ? { subnetId: 'x', availabilityZone: migratedTo, reason: '' } : undefined,
      },
    }) as unknown as Workflow;

  it('picks another AZ of the VPC, in a stable order, and a different one after a failed migration', () => {
    expect(migrationTarget(workflowIn(), subnets)?.subnetId).toBe('subnet-b');
    expect(migrationTarget(workflowIn('us-east-1b'), subnets)?.subnetId).toBe('subnet-c');
    expect(migrationTarget(workflowIn(), [subnets[1]!])).toBeUndefined();
  });
});
