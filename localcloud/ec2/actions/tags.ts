import { AwsError } from '../../contracts.ts';
import { missingParameter } from '../errors.ts';
import { applyFilters, pageOf } from '../query.ts';
import { type Action, assertTag, ok } from './context.ts';

/** CreateTags, DeleteTags, DescribeTags over every taggable resource. */
export const tagActions: Record<string, Action> = {
  CreateTags({ params, state, commit }) {
    const resourceIds = params.strings('ResourceId');
    if (!resourceIds.length) throw missingParameter('ResourceId');
    const tags = params
      .structs('Tag')
      .map((tag): [string, string] => [tag.required('Key'), tag.get('Value') ?? '']);
    if (!tags.length) throw missingParameter('Tag');
    for (const [key, value] of tags) assertTag(key, value);
    const targets = resourceIds.map((id) => state.taggable(id).tags);
    for (const target of targets) {
      const keys = new Set([...target.keys(), ...tags.map(([key]) => key)]);
      if (keys.size > 50) {
        throw new AwsError('TagLimitExceeded', 'The maximum number of Tags for a resource has been reached.');
      }
    }
    commit();
    for (const target of targets) for (const [key, value] of tags) target.set(key, value);
    return ok;
  },

  DeleteTags({ params, state, commit }) {
    const resourceIds = params.strings('ResourceId');
    if (!resourceIds.length) throw missingParameter('ResourceId');
    const tags = params.structs('Tag').map((tag) => ({ key: tag.required('Key'), value: tag.get('Value') }));
    for (const { key } of tags) {
      if (key.toLowerCase().startsWith('aws:')) {
        throw new AwsError(
          'InvalidParameterValue',
          `Tag keys starting with 'aws:' are reserved for internal use`,
        );
      }
    }
    const targets = resourceIds.map((id) => state.taggable(id).tags);
    commit();
    for (const target of targets) {
      if (!tags.length) {
        for (const key of [...target.keys()]) if (!key.startsWith('aws:')) target.delete(key);
        continue;
      }
      for (const { key, value } of tags) {
        if (value === undefined || target.get(key) === value) target.delete(key);
      }
    }
    return ok;
  },

  DescribeTags({ params, state }) {
    const rows = [...state.allTaggables()].flatMap(({ resourceId, resourceType, tags }) =>
      [...tags].map(([key, value]) => ({ resourceId, resourceType, key, value })),
    );
    const filtered = applyFilters(
      rows,
      params,
      {
        'resource-id': (r) => r.resourceId,
        'resource-type': (r) => r.resourceType,
        key: (r) => r.key,
        value: (r) => r.value,
      },
      (r) => new Map([[r.key, r.value]]),
    );
    const page = pageOf(filtered, params);
    return { tagSet: page.items, nextToken: page.next };
  },
};
