import { AwsError } from '../../contracts.ts';
import type { Params } from '../../query.ts';
import type { XmlObject } from '../../xml.ts';
import { dryRunOperation, invalidParameterValue } from '../errors.ts';
import type { TagSpecification, Tags } from '../model.ts';
import { isDryRun } from '../query.ts';
import type { Ec2State } from '../state.ts';

export interface ActionContext {
  params: Params;
  state: Ec2State;
  /**
   * Call after validating and before changing state: with `DryRun=true` this fails with
   * `DryRunOperation`, as EC2 does once it has checked that the request would succeed.
   */
  commit(): void;
}

/** One EC2 action: validates, changes state, returns the response body (without `requestId`). */
export type Action = (context: ActionContext) => XmlObject;

export function createContext(params: Params, state: Ec2State): ActionContext {
  return {
    params,
    state,
    commit() {
      if (isDryRun(params)) throw dryRunOperation();
    },
  };
}

export function assertTag(key: string, value: string) {
  if (key.length === 0 || key.length > 128)
    throw invalidParameterValue(`Tag key must be 1 to 128 characters: '${key}'`);
  if (value.length > 256)
    throw invalidParameterValue(`Tag value exceeds the maximum length of 256 characters`);
  if (key.toLowerCase().startsWith('aws:')) {
    throw invalidParameterValue(`Tag keys starting with 'aws:' are reserved for internal use`);
  }
}

/** `TagSpecification.N.ResourceType` + `TagSpecification.N.Tag.M.Key/Value`, checked against the types the action tags. */
export function parseTagSpecifications(
  params: Params,
  allowed: readonly string[],
  name = 'TagSpecification',
): TagSpecification[] {
  return params.structs(name).map((spec) => {
    const resourceType = spec.required('ResourceType');
    if (!allowed.includes(resourceType)) {
      throw invalidParameterValue(
        `'${resourceType}' is not a valid taggable resource type for this operation.`,
      );
    }
    const tags = spec.structs('Tag').map((tag): [string, string] => {
      const key = tag.required('Key');
      const value = tag.get('Value') ?? '';
      assertTag(key, value);
      return [key, value];
    });
    if (tags.length > 50) {
      throw new AwsError('TagLimitExceeded', 'The maximum number of Tags for a resource has been reached.');
    }
    return { resourceType, tags };
  });
}

/** The tags the specifications give one resource type (later specifications win). */
export function tagsFor(specs: readonly TagSpecification[], resourceType: string): Tags {
  const tags: Tags = new Map();
  for (const spec of specs) {
    if (spec.resourceType !== resourceType) continue;
    for (const [key, value] of spec.tags) tags.set(key, value);
  }
  return tags;
}

export const ok: XmlObject = { return: true };
