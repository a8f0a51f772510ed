// Reads infra/iam.yml for `provider.iam.role.statements` and writes the managed tag key into
// condition keys (`{managedTagKey}`): Serverless resolves variables in values, never in keys.
// Values keep their `${…}` variables; Serverless resolves them after this returns.
'use strict';

const { readFileSync } = require('node:fs');
const { join } = require('node:path');
const { parse } = require('yaml');

const PLACEHOLDER = '{managedTagKey}';

function withTagKey(node, managedTagKey) {
  if (Array.isArray(node)) return node.map((item) => withTagKey(item, managedTagKey));
  if (node === null || typeof node !== 'object') return node;
  return Object.fromEntries(
    Object.entries(node).map(([key, value]) => [
      key.replaceAll(PLACEHOLDER, managedTagKey),
      withTagKey(value, managedTagKey),
    ]),
  );
}

/** The role statements with `managedTagKey` in place. */
function statements(managedTagKey) {
  if (typeof managedTagKey !== 'string' || managedTagKey === '' || managedTagKey.startsWith('aws:')) {
    throw new Error(`managedTagKey ${JSON.stringify(managedTagKey)} is not a valid tag key.`);
  }
  const document = parse(readFileSync(join(__dirname, 'iam.yml'), 'utf8'));
  return withTagKey(document.statements, managedTagKey);
}

module.exports = async ({ resolveVariable }) => statements(await resolveVariable('param:managedTagKey'));
module.exports.statements = statements;
