// Reads infra/iam.yml for `provider.iam.role.statements` and fills in its placeholders from the
// deployment's params (see the head of iam.yml). Serverless resolves variables in values, never in
// keys, so the tag keys are written here. A param with a wrong value fails packaging with a message
// that names it.
'use strict';

const { readFileSync } = require('node:fs');
const { join } = require('node:path');
const { parse } = require('yaml');

/** Tag keys the role may write on existing managed resources (its bookkeeping). */
const OWN_TAG_KEYS = [
  'spot-handoff:workflow',
  'spot-handoff:state',
  'spot-handoff:left-available',
  'spot-handoff:migrated-to',
];

const ROLE_NAME = /^[\w+=,.@-]{1,64}$/;
const ROLE_ARN = /^arn:aws(?:-[a-z]+)*:iam::\d{12}:role\/(?:[\w+=,.@-]+\/)*[\w+=,.@-]{1,64}$/;
const TARGET_GROUP_ARN =
  /^arn:aws(?:-[a-z]+)*:elasticloadbalancing:[a-z0-9-]+:\d{12}:targetgroup\/[A-Za-z0-9-]{1,32}\/[0-9a-f]{16}$/;

/** A param's list: a YAML list, or a comma-separated string (`--param="name=a,b"`); blanks dropped. */
function listParam(value) {
  if (value === undefined || value === null) return [];
  const items = Array.isArray(value) ? value : String(value).split(',');
  return items.map((item) => String(item).trim()).filter((item) => item !== '');
}

function checkTagKey(name, key) {
  if (typeof key !== 'string' || key === '' || key.length > 128 || key.startsWith('aws:')) {
    throw new Error(
      `Param ${name} ${JSON.stringify(key)} is not a valid tag key: at most 128 characters, not starting with "aws:".`,
    );
  }
  if (OWN_TAG_KEYS.includes(key)) {
    throw new Error(
      `Param ${name} ${JSON.stringify(key)} is a key spot-handoff writes itself (${OWN_TAG_KEYS.join(', ')}): choose another key.`,
    );
  }
}

/** Role names become ARNs in the stack's account; ARNs are taken as they are. No wildcards. */
function instanceRoleResources(names) {
  return names.map((name) => {
    if (ROLE_ARN.test(name)) return name;
    if (ROLE_NAME.test(name))
      return { 'Fn::Sub': `arn:\${AWS::Partition}:iam::\${AWS::AccountId}:role/${name}` };
    throw new Error(
      `Param instanceRoleArns: ${JSON.stringify(name)} is neither an IAM role ARN (arn:aws:iam::123456789012:role/name) nor a role name; wildcards are not allowed. List the instance profile roles of your launch templates, comma-separated.`,
    );
  });
}

function checkTargetGroupArns(arns) {
  for (const arn of arns) {
    if (!TARGET_GROUP_ARN.test(arn)) {
      throw new Error(
        `Param targetGroupArns: ${JSON.stringify(arn)} is not a target group ARN (arn:aws:elasticloadbalancing:<region>:<account>:targetgroup/<name>/<id>); wildcards are not allowed. Leave it empty to allow the target groups tagged with the managed tag.`,
      );
    }
  }
}

function fill(node, placeholders) {
  if (node === '{ownTagKeys}') return [...OWN_TAG_KEYS];
  if (Array.isArray(node)) return node.map((item) => fill(item, placeholders));
  if (typeof node === 'string')
    return placeholders.reduce((text, [from, to]) => text.replaceAll(from, to), node);
  if (node === null || typeof node !== 'object') return node;
  return Object.fromEntries(
    Object.entries(node).map(([key, value]) => [fill(key, placeholders), fill(value, placeholders)]),
  );
}

/**
 * The role statements for a deployment.
 * @param {string} managedTagKey param `managedTagKey`
 * @param {{ statefulTagKey?: string, instanceRoleArns?: unknown, targetGroupArns?: unknown }} [options]
 *   the other params (defaults: `spot-handoff:stateful`, none, none)
 * @example statements('spot-handoff:managed', { instanceRoleArns: 'web-instance' })
 */
function statements(managedTagKey, options = {}) {
  const statefulTagKey = options.statefulTagKey ?? 'spot-handoff:stateful';
  checkTagKey('managedTagKey', managedTagKey);
  checkTagKey('statefulTagKey', statefulTagKey);
  if (managedTagKey === statefulTagKey) {
    throw new Error('Params managedTagKey and statefulTagKey are the same key: they must differ.');
  }
  const roles = instanceRoleResources(listParam(options.instanceRoleArns));
  const targetGroups = listParam(options.targetGroupArns);
  checkTargetGroupArns(targetGroups);

  const document = parse(readFileSync(join(__dirname, 'iam.yml'), 'utf8'));
  const filled = fill(document.statements, [
    ['{managedTagKey}', managedTagKey],
    ['{statefulTagKey}', statefulTagKey],
  ]);
  return filled.flatMap((statement) => {
    if (statement.Resource === '{instanceRoleArns}') {
      return roles.length === 0 ? [] : [{ ...statement, Resource: roles }];
    }
    if (statement.Sid === 'MoveTargetsInManagedTargetGroups' && targetGroups.length > 0) {
      const { Condition: _byTag, ...listed } = statement;
      return [{ ...listed, Sid: 'MoveTargetsInListedTargetGroups', Resource: targetGroups }];
    }
    return [statement];
  });
}

module.exports = async ({ resolveVariable }) =>
  statements(await resolveVariable('param:managedTagKey'), {
    statefulTagKey: await resolveVariable('param:statefulTagKey'),
    instanceRoleArns: await resolveVariable('param:instanceRoleArns'),
    targetGroupArns: await resolveVariable('param:targetGroupArns'),
  });
module.exports.statements = statements;
module.exports.listParam = listParam;
module.exports.OWN_TAG_KEYS = OWN_TAG_KEYS;
