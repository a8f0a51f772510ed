import { afterEach, describe, expect, it } from 'vitest';
import { giveState } from '../../localcloud/scenarios/stateful.ts';
import { expectStateOn, type FleetWorld, fleetWorld } from '../support/local.ts';

/** The stateful handoff through the local cloud, dynalite and the real handlers. */

let world: FleetWorld;
afterEach(async () => {
  await world?.stop();
});

const STATEFUL = { 'spot-handoff:stateful': 'true' };

describe('a stateful instance that is interrupted', () => {
  it('hands its volume, interface, private IP and Elastic IP to a replacement in its AZ, which then joins the target group', async () => {
    world = await fleetWorld({ tags: STATEFUL });
    const victim = world.fleet.instanceIds[0]!;
    const state = await giveState(world.ec2, victim, world.until);
    await world.pass(5_000);

    world.stack.cloud.interrupt(victim);
    await world.until(
      async () => (await world.workflowOf(victim))?.status === 'completed',
      'the stateful handoff',
      10 * 60_000,
    );

    const [replacement] = world.replacementsOf(victim);
    expect(replacement).toMatchObject({ state: 'running', availabilityZone: state.availabilityZone });
    expect(replacement!.tags['spot-handoff:state']).toBe('ready');
    const id = replacement!.instanceId;
    expectStateOn(world, id, state);

    const workflow = (await world.workflowOf(victim))!;
    const names = workflow.steps.map((s) => s.name);
    expect(names.indexOf('protect')).toBeLessThan(names.indexOf('drain'));
    expect(names.indexOf('handover')).toBeLessThan(names.indexOf('register'));
    expect(workflow.handover!.resources.every((r) => r.status === 'attached')).toBe(true);
    await world.pass(10_000);
    expect(world.targets().map((t) => t.id)).toContain(id);
    expect(world.stack.bus.deadLetters).toEqual([]);
  });
});

describe('a stateful instance whose AZ has no capacity left', () => {
  it('migrates: the replacement runs in another AZ with its volume restored from a snapshot; what is bound to the old AZ stays, tagged, with the reason', async () => {
    world = await fleetWorld({ tags: STATEFUL });
    const victim = world.fleet.instanceIds[0]!;
    const state = await giveState(world.ec2, victim, world.until);
    await world.pass(5_000);
    world.stack.cloud.setCapacity({ availabilityZone: state.availabilityZone }, false);

    world.stack.cloud.interrupt(victim);
    await world.until(
      async () => (await world.workflowOf(victim))?.status === 'completed',
      'the migration',
      10 * 60_000,
    );

    const ec2 = world.stack.cloud.ec2;
    const [replacement] = world.replacementsOf(victim);
    expect(replacement!.availabilityZone).not.toBe(state.availabilityZone);
    const workflow = (await world.workflowOf(victim))!;
    const volume = workflow.handover!.resources.find((r) => r.kind === 'volume');
    expect(volume).toMatchObject({ status: 'attached', snapshotId: expect.stringMatching(/^snap-/) });
    const restoredId = volume!.kind === 'volume' ? volume!.restoredVolumeId : undefined;
    const restored = ec2.volumes().find((v) => v.volumeId === restoredId);
    expect(restored).toMatchObject({
      availabilityZone: replacement!.availabilityZone,
      snapshotId: volume!.kind === 'volume' ? volume!.snapshotId : '',
      attachment: { instanceId: replacement!.instanceId, device: state.deviceName },
    });
    // The original volume is kept, never deleted: available, tagged with its workflow and where it went.
    expect(ec2.volumes().find((v) => v.volumeId === state.volumeId)).toMatchObject({
      state: 'available',
      tags: { 'spot-handoff:workflow': workflow.workflowId, 'spot-handoff:migrated-to': restoredId },
    });
    // The interface and the secondary IP are bound to the old AZ's subnet: left, tagged, with the reason.
    expect(workflow.handover!.resources.find((r) => r.kind === 'network-interface')).toMatchObject({
      status: 'left-available',
      reason: expect.stringContaining(state.availabilityZone),
    });
    expect(ec2.interfaces().find((e) => e.networkInterfaceId === state.networkInterfaceId)).toMatchObject({
      status: 'available',
      tags: expect.objectContaining({ 'spot-handoff:workflow': workflow.workflowId }),
    });
    expect(workflow.handover!.resources.find((r) => r.kind === 'private-ip')).toMatchObject({
      status: 'left-available',
    });
    // The Elastic IP is Regional: it moves.
    expect(ec2.addresses().find((a) => a.allocationId === state.allocationId)?.instanceId).toBe(
      replacement!.instanceId,
    );
    expect(workflow.handover!.migration).toMatchObject({ availabilityZone: replacement!.availabilityZone });
  });
});

describe('a stateful instance that EC2 stops instead of terminating', () => {
  it('has its volume and interface detached from the stopped instance and attached to the replacement', async () => {
    world = await fleetWorld({ tags: STATEFUL });
    const victim = world.fleet.instanceIds[0]!;
    const state = await giveState(world.ec2, victim, world.until);
    await world.pass(5_000);

    world.stack.cloud.interrupt(victim, { action: 'stop' });
    await world.until(
      async () => (await world.workflowOf(victim))?.status === 'completed',
      'the handoff',
      10 * 60_000,
    );

    const ec2 = world.stack.cloud.ec2;
    const [replacement] = world.replacementsOf(victim);
    expect(ec2.instance(victim)!.state).toBe('stopped');
    expect(ec2.volumes().find((v) => v.volumeId === state.volumeId)?.attachment?.instanceId).toBe(
      replacement!.instanceId,
    );
    expect(
      ec2.interfaces().find((e) => e.networkInterfaceId === state.networkInterfaceId)?.attachment?.instanceId,
    ).toBe(replacement!.instanceId);
    expect(ec2.instance(replacement!.instanceId)!.privateIps).toContain(state.secondaryPrivateIp);
  });
});

describe('a stateful instance whose root volume is carried by snapshot', () => {
  it('is replaced from a snapshot of its root volume, taken after it stopped; the old root volume is kept', async () => {
    world = await fleetWorld({ tags: { ...STATEFUL, 'spot-handoff:root-volume': 'snapshot' } });
    const victim = world.fleet.instanceIds[0]!;
    const state = await giveState(world.ec2, victim, world.until);
    await world.pass(5_000);
    const ec2 = world.stack.cloud.ec2;
    const oldRoot = ec2.instance(victim)!.volumes.find((v) => v.deviceName === '/dev/xvda')!;

    world.stack.cloud.interrupt(victim);
    await world.until(
      async () => (await world.workflowOf(victim))?.status === 'completed',
      'the handoff',
      10 * 60_000,
    );

    const workflow = (await world.workflowOf(victim))!;
    const root = workflow.handover!.resources.find((r) => r.kind === 'root-volume');
    expect(root).toMatchObject({
      volumeId: oldRoot.volumeId,
      status: 'attached',
      snapshotState: 'completed',
    });
    const snapshotId = root!.kind === 'root-volume' ? root!.snapshotId : undefined;
    expect(ec2.snapshots().find((s) => s.snapshotId === snapshotId)).toMatchObject({
      volumeId: oldRoot.volumeId,
    });
    const [replacement] = world.replacementsOf(victim);
    const newRoot = replacement!.volumes.find((v) => v.deviceName === '/dev/xvda')!;
    expect(ec2.volumes().find((v) => v.volumeId === newRoot.volumeId)?.snapshotId).toBe(snapshotId);
    expect(ec2.volumes().find((v) => v.volumeId === oldRoot.volumeId)).toMatchObject({
      state: 'available',
      tags: expect.objectContaining({ 'spot-handoff:workflow': workflow.workflowId }),
    });
    // The launch waited for the old instance to stop writing; the data volume still moved.
    const names = workflow.steps.map((s) => s.name);
    expect(names.indexOf('root-snapshot')).toBeLessThan(names.indexOf('launch'));
    expect(names.indexOf('old-instance-stopped')).toBeLessThan(names.indexOf('root-snapshot'));
    expect(ec2.volumes().find((v) => v.volumeId === state.volumeId)?.attachment?.instanceId).toBe(
      replacement!.instanceId,
    );
  });
});

describe('a stateful instance that keeps its primary private IP', () => {
  it('is replaced once EC2 releases the IP, and the replacement has the same primary IP', async () => {
    world = await fleetWorld({ tags: { ...STATEFUL, 'spot-handoff:primary-ip': 'keep' } });
    const victim = world.fleet.instanceIds[0]!;
    const primaryIp = world.stack.cloud.ec2.instance(victim)!.privateIpAddress;
    await giveState(world.ec2, victim, world.until);
    await world.pass(5_000);

    world.stack.cloud.interrupt(victim);
    await world.until(
      async () => (await world.workflowOf(victim))?.status === 'completed',
      'the handoff',
      10 * 60_000,
    );

    const [replacement] = world.replacementsOf(victim);
    expect(replacement!.privateIpAddress).toBe(primaryIp);
    expect(world.targets().map((t) => t.id)).toContain(replacement!.instanceId);
  });
});

describe('the guard (every minute, with the sweep)', () => {
  it('keeps a stateful instance’s data on termination before any interruption', async () => {
    world = await fleetWorld({ tags: STATEFUL });
    const victim = world.fleet.instanceIds[0]!;
    const state = await giveState(world.ec2, victim, world.until);
    const ec2 = world.stack.cloud.ec2;
    expect(
      ec2.instance(victim)!.volumes.find((v) => v.volumeId === state.volumeId)?.deleteOnTermination,
    ).toBe(true);

    await world.pass(61_000);

    const instance = ec2.instance(victim)!;
    expect(instance.volumes.find((v) => v.volumeId === state.volumeId)?.deleteOnTermination).toBe(false);
    expect(
      instance.networkInterfaces.find((e) => e.networkInterfaceId === state.networkInterfaceId)
        ?.deleteOnTermination,
    ).toBe(false);
    expect(await world.workflowOf(victim)).toBeUndefined();
  });

  it('saves the data even when every signal of the interruption is lost', async () => {
    world = await fleetWorld({ tags: STATEFUL });
    const victim = world.fleet.instanceIds[0]!;
    const state = await giveState(world.ec2, victim, world.until);
    await world.pass(61_000);
    world.stack.deliverIf = (event) => event.detail['instance-id'] !== victim;

    world.stack.cloud.interrupt(victim);
    await world.pass(3 * 60_000);

    const ec2 = world.stack.cloud.ec2;
    expect(ec2.instance(victim)?.state).toBe('terminated');
    expect(ec2.volumes().find((v) => v.volumeId === state.volumeId)).toMatchObject({ state: 'available' });
    expect(ec2.interfaces().find((e) => e.networkInterfaceId === state.networkInterfaceId)).toMatchObject({
      status: 'available',
    });
  });
});
