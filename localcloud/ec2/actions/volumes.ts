import { AwsError } from '../../contracts.ts';
import {
  incorrectInstanceState,
  incorrectState,
  invalidParameterValue,
  missingParameter,
  operationNotPermitted,
} from '../errors.ts';
import { newId } from '../ids.ts';
import type { Snapshot, Volume } from '../model.ts';
import { applyFilters, pageOf } from '../query.ts';
import { renderSnapshot, renderVolume, renderVolumeAttachment } from '../render.ts';
import type { Ec2State } from '../state.ts';
import { type Action, ok, parseTagSpecifications, tagsFor } from './context.ts';

/** EBS: volumes (AZ-bound), attachments, and snapshots (Regional). */

const VOLUME_TYPES = ['standard', 'gp2', 'gp3', 'io1', 'io2', 'st1', 'sc1'];

function assertDevice(device: string) {
  if (!/^(\/dev\/)?(sd[a-z]\d*|xvd[a-z]{1,2}\d*|nvme\d+n\d+)$/.test(device)) {
    throw invalidParameterValue(
      `Value (${device}) for parameter device is invalid. ${device} is not a valid EBS device name.`,
    );
  }
}

function volumesById(state: Ec2State, ids: readonly string[]): Volume[] {
  const volumes = ids.map((id) => {
    state.volume(id);
    return state.volumes.get(id)!;
  });
  return [...new Set(volumes)];
}

export const volumeActions: Record<string, Action> = {
  CreateVolume({ params, state, commit }) {
    // A ClientToken already used answers with the volume it created (the parameters are not compared).
    const token = params.get('ClientToken');
    const earlier = token === undefined ? undefined : state.volumes.get(state.volumeTokens.get(token) ?? '');
    if (earlier) {
      commit();
      return renderVolume(state, earlier);
    }
    const zone = params.get('AvailabilityZone');
    if (zone === undefined) throw missingParameter('AvailabilityZone');
    state.assertZone(zone);
    const snapshotId = params.get('SnapshotId');
    const snapshot = snapshotId !== undefined ? state.snapshot(snapshotId) : undefined;
    if (snapshot && snapshot.state !== 'completed')
      throw incorrectState(`Snapshot is in invalid state - ${snapshot.state}`);
    const size = params.int('Size') ?? snapshot?.volumeSize;
    if (size === undefined) throw missingParameter('size');
    if (size < 1 || size > 65_536) throw invalidParameterValue(`Volume of ${size}GiB is out of range.`);
    if (snapshot && size < snapshot.volumeSize) {
      throw invalidParameterValue(
        `Volume of size ${size}GB is smaller than snapshot '${snapshot.snapshotId}', expect size >= ${snapshot.volumeSize}GB`,
      );
    }
    const volumeType = params.get('VolumeType') ?? 'gp2';
    if (!VOLUME_TYPES.includes(volumeType))
      throw invalidParameterValue(`Value (${volumeType}) for parameter volumeType is invalid.`);
    const tags = tagsFor(parseTagSpecifications(params, ['volume']), 'volume');
    commit();
    const volume: Volume = {
      volumeId: newId('vol'),
      size,
      snapshotId,
      availabilityZone: zone,
      state: 'creating',
      volumeType,
      iops:
        params.int('Iops') ??
        (volumeType === 'gp3' ? 3000 : volumeType === 'gp2' ? Math.max(100, size * 3) : undefined),
      throughput: volumeType === 'gp3' ? (params.int('Throughput') ?? 125) : undefined,
      encrypted: params.bool('Encrypted') ?? snapshot?.encrypted ?? false,
      createTime: state.now(),
      tags,
      attachSeq: 0,
    };
    state.volumes.set(volume.volumeId, volume);
    if (token !== undefined) state.volumeTokens.set(token, volume.volumeId);
    state.clock.schedule(state.timings.volumeCreating, () => {
      if (volume.state === 'creating') volume.state = 'available';
    });
    return renderVolume(state, volume);
  },

  DescribeVolumes({ params, state }) {
    const ids = params.strings('VolumeId');
    const volumes = ids.length ? volumesById(state, ids) : [...state.volumes.values()];
    const filtered = applyFilters(
      volumes,
      params,
      {
        'volume-id': (v) => v.volumeId,
        status: (v) => v.state,
        'availability-zone': (v) => v.availabilityZone,
        'snapshot-id': (v) => v.snapshotId,
        size: (v) => String(v.size),
        'volume-type': (v) => v.volumeType,
        encrypted: (v) => String(v.encrypted),
        'create-time': (v) => v.createTime.toISOString(),
        'attachment.instance-id': (v) => v.attachment?.instanceId,
        'attachment.device': (v) => v.attachment?.device,
        'attachment.status': (v) => v.attachment?.state,
        'attachment.delete-on-termination': (v) => v.attachment && String(v.attachment.deleteOnTermination),
        'attachment.attach-time': (v) => v.attachment?.attachTime.toISOString(),
      },
      (v) => v.tags,
    );
    const page = pageOf(filtered, params);
    return { volumeSet: page.items.map((volume) => renderVolume(state, volume)), nextToken: page.next };
  },

  AttachVolume({ params, state, commit }) {
    const device = params.required('Device');
    const instanceId = params.required('InstanceId');
    const volume = state.volume(params.required('VolumeId'));
    const instance = state.instance(instanceId);
    assertDevice(device);
    if (volume.state === 'in-use') {
      throw new AwsError('VolumeInUse', `${volume.volumeId} is already attached to an instance`);
    }
    if (volume.state !== 'available') throw incorrectState(`${volume.volumeId} is not 'available'.`);
    if (instance.state !== 'running' && instance.state !== 'stopped') {
      throw incorrectInstanceState(instance.instanceId, instance.state, 'attached to');
    }
    if (volume.availabilityZone !== instance.availabilityZone) {
      throw new AwsError(
        'InvalidVolume.ZoneMismatch',
        `The volume '${volume.volumeId}' is not in the same availability zone as instance '${instance.instanceId}'`,
      );
    }
    if (state.volumesOf(instance.instanceId).some((v) => v.attachment!.device === device)) {
      throw invalidParameterValue(
        `Invalid value '${device}' for unixDevice. Attachment point ${device} is already in use`,
      );
    }
    commit();
    const attachment: NonNullable<Volume['attachment']> = {
      instanceId: instance.instanceId,
      device,
      state: 'attaching',
      attachTime: state.now(),
      deleteOnTermination: false,
    };
    volume.state = 'in-use';
    volume.attachment = attachment;
    volume.attachSeq = state.nextAttachSeq();
    attachment.cancel = state.clock.schedule(state.timings.volumeAttaching, () => {
      if (volume.attachment === attachment && attachment.state === 'attaching') attachment.state = 'attached';
    });
    return renderVolumeAttachment(volume);
  },

  DetachVolume({ params, state, commit }) {
    const volume = state.volume(params.required('VolumeId'));
    const attachment = volume.attachment;
    if (!attachment || attachment.state === 'detaching') {
      throw incorrectState(
        `Volume '${volume.volumeId}' is in the '${attachment ? 'detaching' : volume.state}' state.`,
      );
    }
    const instanceId = params.get('InstanceId');
    if (instanceId !== undefined && instanceId !== attachment.instanceId) {
      throw new AwsError(
        'InvalidAttachment.NotFound',
        `Volume '${volume.volumeId}' is not attached to instance '${instanceId}'`,
      );
    }
    const device = params.get('Device');
    if (device !== undefined && device !== attachment.device) {
      throw new AwsError(
        'InvalidAttachment.NotFound',
        `Volume '${volume.volumeId}' is not attached at ${device}`,
      );
    }
    const instance = state.instances.get(attachment.instanceId);
    if (instance && attachment.device === instance.rootDeviceName && instance.state !== 'stopped') {
      throw operationNotPermitted(
        `Unable to detach root volume '${volume.volumeId}' from instance '${instance.instanceId}'`,
      );
    }
    commit();
    attachment.cancel?.();
    attachment.state = 'detaching';
    const rendered = renderVolumeAttachment(volume);
    attachment.cancel = state.clock.schedule(state.timings.volumeDetaching, () => {
      if (volume.attachment !== attachment) return;
      delete volume.attachment;
      volume.state = 'available';
    });
    return rendered;
  },

  DeleteVolume({ params, state, commit }) {
    const volume = state.volume(params.required('VolumeId'));
    if (volume.attachment) {
      throw new AwsError(
        'VolumeInUse',
        `Volume ${volume.volumeId} is currently attached to ${volume.attachment.instanceId}`,
      );
    }
    commit();
    state.volumes.delete(volume.volumeId);
    return ok;
  },

  CreateSnapshot({ params, state, commit }) {
    const volume = state.volume(params.required('VolumeId'));
    if (volume.state === 'creating')
      throw incorrectState(`Volume '${volume.volumeId}' is in the 'creating' state.`);
    const tags = tagsFor(parseTagSpecifications(params, ['snapshot']), 'snapshot');
    commit();
    const snapshot: Snapshot = {
      snapshotId: newId('snap'),
      volumeId: volume.volumeId,
      volumeSize: volume.size,
      state: 'pending',
      startTime: state.now(),
      description: params.get('Description') ?? '',
      encrypted: volume.encrypted,
      tags,
    };
    state.snapshots.set(snapshot.snapshotId, snapshot);
    state.clock.schedule(state.timings.snapshotPending, () => {
      snapshot.state = 'completed';
      snapshot.completionTime = state.now();
    });
    return renderSnapshot(state, snapshot);
  },

  DescribeSnapshots({ params, state }) {
    const ids = params.strings('SnapshotId');
    const owners = params.strings('Owner');
    let snapshots = ids.length ? ids.map((id) => state.snapshot(id)) : [...state.snapshots.values()];
    if (owners.length && !owners.some((owner) => owner === 'self' || owner === state.accountId))
      snapshots = [];
    const filtered = applyFilters(
      snapshots,
      params,
      {
        'snapshot-id': (s) => s.snapshotId,
        'volume-id': (s) => s.volumeId,
        status: (s) => s.state,
        'owner-id': () => state.accountId,
        description: (s) => s.description,
        'volume-size': (s) => String(s.volumeSize),
        encrypted: (s) => String(s.encrypted),
      },
      (s) => s.tags,
    );
    const page = pageOf(filtered, params);
    return {
      snapshotSet: page.items.map((snapshot) => renderSnapshot(state, snapshot)),
      nextToken: page.next,
    };
  },

  DeleteSnapshot({ params, state, commit }) {
    const snapshot = state.snapshot(params.required('SnapshotId'));
    commit();
    state.snapshots.delete(snapshot.snapshotId);
    return ok;
  },
};
