/**
 * Hostile and broken events: each one must change nothing. The answer each should get:
 * - `refused`: not this deployment's own (size, depth, account, Region) — a counted no-op;
 * - `invalid`: not the shape AWS sends — an `InvalidEventError` naming the field;
 * - `no-op`: well-formed and ours, but it must not start anything (a kind we do not handle, a
 *   time far from now, an instance EC2 does not know, a state EC2 contradicts) — a logged no-op.
 */

export type Answer = 'refused' | 'invalid' | 'no-op';

/** What an event may name: a running, managed, serving instance of the fleet, and the time now. */
export interface CorpusContext {
  running: string;
  now: string;
  account: string;
  region: string;
}

export interface HostileEvent {
  name: string;
  answer: Answer;
  event: (context: CorpusContext) => unknown;
}

const WARNING = 'EC2 Spot Instance Interruption Warning';
const REBALANCE = 'EC2 Instance Rebalance Recommendation';
const STATE_CHANGE = 'EC2 Instance State-change Notification';
const OTHER_ACCOUNT = '999999999999';
const UNKNOWN_ID = 'i-0fedcba9876543210';

type Envelope = Record<string, unknown>;

function envelope(
  context: CorpusContext,
  detailType: string,
  detail: unknown,
  overrides: Envelope = {},
): Envelope {
  const instanceId =
    typeof detail === 'object' && detail !== null ? (detail as Record<string, unknown>)['instance-id'] : '';
  return {
    version: '0',
    id: '7bf73129-1428-4cd3-a780-95db273d1602',
    'detail-type': detailType,
    source: 'aws.ec2',
    account: context.account,
    time: context.now,
    region: context.region,
    resources: [`arn:aws:ec2:${context.region}:${context.account}:instance/${String(instanceId)}`],
    detail,
    ...overrides,
  };
}

const warning = (context: CorpusContext, overrides: Envelope = {}, detail: Envelope = {}) =>
  envelope(
    context,
    WARNING,
    { 'instance-id': context.running, 'instance-action': 'terminate', ...detail },
    overrides,
  );
const rebalance = (context: CorpusContext, overrides: Envelope = {}, detail: Envelope = {}) =>
  envelope(context, REBALANCE, { 'instance-id': context.running, ...detail }, overrides);
const stateChange = (
  context: CorpusContext,
  state: string,
  overrides: Envelope = {},
  detail: Envelope = {},
) => envelope(context, STATE_CHANGE, { 'instance-id': context.running, state, ...detail }, overrides);

/** A value nested `depth` levels deep. */
function nested(depth: number): unknown {
  let value: unknown = 'bottom';
  for (let level = 0; level < depth; level++) value = { next: value };
  return value;
}

export const HOSTILE_EVENTS: readonly HostileEvent[] = [
  // Not ours: another account or Region, or a replay from elsewhere.
  {
    name: 'warning from another account',
    answer: 'refused',
    event: (c) => warning(c, { account: OTHER_ACCOUNT }),
  },
  {
    name: 'warning from another Region',
    answer: 'refused',
    event: (c) => warning(c, { region: 'eu-west-1' }),
  },
  {
    name: 'rebalance from another account',
    answer: 'refused',
    event: (c) => rebalance(c, { account: OTHER_ACCOUNT }),
  },
  {
    name: 'state change from another Region',
    answer: 'refused',
    event: (c) => stateChange(c, 'shutting-down', { region: 'us-west-2' }),
  },
  {
    name: 'replay from another account',
    answer: 'refused',
    event: (c) => warning(c, { source: 'spot-handoff.replay', account: OTHER_ACCOUNT }),
  },
  {
    name: 'replay from another Region',
    answer: 'refused',
    event: (c) => warning(c, { source: 'spot-handoff.replay', region: 'ap-south-1' }),
  },
  {
    name: 'account id one digit short',
    answer: 'refused',
    event: (c) => warning(c, { account: c.account.slice(1) }),
  },
  {
    name: 'account id with a trailing NUL',
    answer: 'refused',
    event: (c) => warning(c, { account: `${c.account}\u0000` }),
  },
  {
    name: 'Region with a trailing space',
    answer: 'refused',
    event: (c) => warning(c, { region: `${c.region} ` }),
  },
  {
    name: 'AWS documented example without version, from another account',
    answer: 'refused',
    event: (c) => {
      const { version: _version, ...event } = stateChange(c, 'terminated', { account: OTHER_ACCOUNT });
      return event;
    },
  },
  // Too large or too deep.
  {
    name: '5 MB instance id',
    answer: 'refused',
    event: (c) => warning(c, {}, { 'instance-id': `i-${'0'.repeat(5 * 1024 * 1024)}` }),
  },
  {
    name: 'over 256 KB in an extra detail field',
    answer: 'refused',
    event: (c) => warning(c, {}, { padding: 'x'.repeat(300 * 1024) }),
  },
  {
    name: 'over 256 KB of resources',
    answer: 'refused',
    event: (c) =>
      warning(c, {
        resources: Array.from({ length: 5_000 }, (_, i) => `arn:aws:ec2:::${'r'.repeat(60)}${i}`),
      }),
  },
  {
    name: 'multi-byte characters over 256 KB (fewer than 256 K characters)',
    answer: 'refused',
    event: (c) => warning(c, {}, { note: '€'.repeat(100_000) }),
  },
  { name: 'detail nested 100 deep', answer: 'refused', event: (c) => warning(c, {}, { extra: nested(100) }) },
  {
    name: 'envelope nested 20 000 deep',
    answer: 'refused',
    event: (c) => warning(c, { extra: nested(20_000) }),
  },
  // Untimely: may not start anything.
  { name: 'warning dated 1970', answer: 'no-op', event: (c) => warning(c, { time: '1970-01-01T00:00:00Z' }) },
  { name: 'warning dated 2999', answer: 'no-op', event: (c) => warning(c, { time: '2999-12-31T23:59:59Z' }) },
  {
    name: 'rebalance dated 1970',
    answer: 'no-op',
    event: (c) => rebalance(c, { time: '1970-01-01T00:00:00Z' }),
  },
  {
    name: 'warning a day old',
    answer: 'no-op',
    event: (c) => warning(c, { time: new Date(Date.parse(c.now) - 86_400_000).toISOString() }),
  },
  {
    name: 'warning an hour ahead',
    answer: 'no-op',
    event: (c) => warning(c, { time: new Date(Date.parse(c.now) + 3_600_000).toISOString() }),
  },
  {
    name: 'hibernate warning dated 2999',
    answer: 'no-op',
    event: (c) => warning(c, { time: '2999-01-01T00:00:00+14:00' }, { 'instance-action': 'hibernate' }),
  },
  {
    name: 'replayed warning dated 1970',
    answer: 'no-op',
    event: (c) => warning(c, { source: 'spot-handoff.replay', time: '1970-01-01T00:00:00Z' }),
  },
  // Instances that do not exist.
  {
    name: 'warning for an unknown 17-digit id',
    answer: 'no-op',
    event: (c) => warning(c, {}, { 'instance-id': UNKNOWN_ID }),
  },
  {
    name: 'warning for an unknown 8-digit id',
    answer: 'no-op',
    event: (c) => warning(c, {}, { 'instance-id': 'i-0badf00d' }),
  },
  {
    name: 'rebalance for an unknown id',
    answer: 'no-op',
    event: (c) => rebalance(c, {}, { 'instance-id': UNKNOWN_ID }),
  },
  {
    name: 'spot-interruption state change for an unknown id',
    answer: 'no-op',
    event: (c) => stateChange(c, 'shutting-down', {}, { 'instance-id': UNKNOWN_ID }),
  },
  {
    name: 'replayed warning for an unknown id',
    answer: 'no-op',
    event: (c) => warning(c, { source: 'spot-handoff.replay' }, { 'instance-id': 'i-00000000' }),
  },
  // States EC2 contradicts, for a running instance.
  {
    name: 'spoofed terminated for a running instance',
    answer: 'no-op',
    event: (c) => stateChange(c, 'terminated'),
  },
  {
    name: 'spoofed shutting-down for a running instance',
    answer: 'no-op',
    event: (c) => stateChange(c, 'shutting-down'),
  },
  {
    name: 'spoofed stopped for a running instance',
    answer: 'no-op',
    event: (c) => stateChange(c, 'stopped'),
  },
  {
    name: 'spoofed stopping, without version (as documented)',
    answer: 'no-op',
    event: (c) => {
      const { version: _version, ...event } = stateChange(c, 'stopping');
      return event;
    },
  },
  // Look-alike kinds and sources.
  {
    name: 'detail-type with a trailing space',
    answer: 'no-op',
    event: (c) => warning(c, { 'detail-type': `${WARNING} ` }),
  },
  {
    name: 'detail-type in lower case',
    answer: 'no-op',
    event: (c) => warning(c, { 'detail-type': WARNING.toLowerCase() }),
  },
  {
    name: 'detail-type with a Cyrillic letter',
    answer: 'no-op',
    event: (c) => warning(c, { 'detail-type': WARNING.replace('o', '\u043e') }),
  },
  { name: 'source aws.ec2 with a space', answer: 'no-op', event: (c) => warning(c, { source: 'aws.ec2 ' }) },
  { name: 'source AWS.EC2', answer: 'no-op', event: (c) => warning(c, { source: 'AWS.EC2' }) },
  { name: 'source aws.ec2.spot', answer: 'no-op', event: (c) => warning(c, { source: 'aws.ec2.spot' }) },
  {
    name: 'source spot-handoff.replay2',
    answer: 'no-op',
    event: (c) => warning(c, { source: 'spot-handoff.replay2' }),
  },
  {
    name: 'detail-type carrying markup',
    answer: 'no-op',
    event: (c) => warning(c, { 'detail-type': '<script>alert(1)</script>' }),
  },
  // Injection strings and control characters where ids go.
  {
    name: 'SQL in the instance id',
    answer: 'invalid',
    event: (c) => warning(c, {}, { 'instance-id': "i-0123'; DROP TABLE workflows;--" }),
  },
  {
    name: 'JNDI lookup in the instance id',
    answer: 'invalid',
    event: (c) => warning(c, {}, { 'instance-id': `\${jndi:ldap://x/a}` }),
  },
  {
    name: 'DynamoDB expression in the instance id',
    answer: 'invalid',
    event: (c) => warning(c, {}, { 'instance-id': 'i-0 OR attribute_exists(pk)' }),
  },
  {
    name: 'newline after the instance id',
    answer: 'invalid',
    event: (c) => warning(c, {}, { 'instance-id': `${c.running}\n` }),
  },
  {
    name: 'NUL inside the instance id',
    answer: 'invalid',
    event: (c) => warning(c, {}, { 'instance-id': `${c.running}\u0000x` }),
  },
  {
    name: 'Cyrillic i in the instance id',
    answer: 'invalid',
    event: (c) => warning(c, {}, { 'instance-id': `\u0456${c.running.slice(1)}` }),
  },
  {
    name: 'upper-case hex instance id',
    answer: 'invalid',
    event: (c) => warning(c, {}, { 'instance-id': 'i-0123456789ABCDEF0' }),
  },
  {
    name: '18 hex digits',
    answer: 'invalid',
    event: (c) => warning(c, {}, { 'instance-id': 'i-0123456789abcdef01' }),
  },
  { name: '9 hex digits', answer: 'invalid', event: (c) => warning(c, {}, { 'instance-id': 'i-012345678' }) },
  {
    name: 'path traversal in the instance id',
    answer: 'invalid',
    event: (c) => warning(c, {}, { 'instance-id': 'i-../../etc/passwd' }),
  },
  { name: 'event id of 10 KB', answer: 'invalid', event: (c) => warning(c, { id: 'e'.repeat(10_240) }) },
  // Wrong types and missing fields.
  {
    name: 'instance id as a number',
    answer: 'invalid',
    event: (c) => warning(c, {}, { 'instance-id': 1234567890 }),
  },
  {
    name: 'instance id as an array',
    answer: 'invalid',
    event: (c) => warning(c, {}, { 'instance-id': [c.running] }),
  },
  { name: 'instance id null', answer: 'invalid', event: (c) => warning(c, {}, { 'instance-id': null }) },
  {
    name: 'instance id as an object',
    answer: 'invalid',
    event: (c) => warning(c, {}, { 'instance-id': { id: c.running } }),
  },
  {
    name: 'instance-action reboot',
    answer: 'invalid',
    event: (c) => warning(c, {}, { 'instance-action': 'reboot' }),
  },
  {
    name: 'instance-action in upper case',
    answer: 'invalid',
    event: (c) => warning(c, {}, { 'instance-action': 'TERMINATE' }),
  },
  { name: 'state exploded', answer: 'invalid', event: (c) => stateChange(c, 'exploded') },
  {
    name: 'detail as a string',
    answer: 'invalid',
    event: (c) => warning(c, { detail: `{"instance-id":"${c.running}"}` }),
  },
  {
    name: 'detail as an array',
    answer: 'invalid',
    event: (c) => warning(c, { detail: [{ 'instance-id': c.running }] }),
  },
  { name: 'detail missing', answer: 'invalid', event: (c) => warning(c, { detail: undefined }) },
  { name: 'time missing', answer: 'invalid', event: (c) => warning(c, { time: undefined }) },
  { name: 'time in words', answer: 'invalid', event: (c) => warning(c, { time: 'yesterday' }) },
  {
    name: 'time out of range',
    answer: 'invalid',
    event: (c) => warning(c, { time: '2026-13-45T99:99:99Z' }),
  },
  { name: 'time as epoch number', answer: 'invalid', event: (c) => warning(c, { time: Date.parse(c.now) }) },
  {
    name: 'account as a number',
    answer: 'invalid',
    event: (c) => warning(c, { account: Number(c.account) }),
  },
  { name: 'account as an array', answer: 'invalid', event: (c) => warning(c, { account: [c.account] }) },
  { name: 'Region missing', answer: 'invalid', event: (c) => warning(c, { region: undefined }) },
  {
    name: 'resources as a string',
    answer: 'invalid',
    event: (c) => warning(c, { resources: 'arn:aws:ec2' }),
  },
  { name: 'id missing', answer: 'invalid', event: (c) => warning(c, { id: undefined }) },
  { name: 'an empty object', answer: 'invalid', event: () => ({}) },
  { name: 'null', answer: 'invalid', event: () => null },
  { name: 'a string', answer: 'invalid', event: () => 'EC2 Spot Instance Interruption Warning' },
  { name: 'an array of events', answer: 'invalid', event: (c) => [warning(c)] },
  // Prototype keys.
  {
    name: '__proto__ carrying the account (parsed JSON, no own account)',
    answer: 'invalid',
    event: (c) => {
      const { account: _account, ...event } = warning(c);
      return JSON.parse(`{"__proto__":{"account":"${c.account}"},${JSON.stringify(event).slice(1)}`);
    },
  },
  {
    name: '__proto__ in the detail of a spoofed state change',
    answer: 'no-op',
    event: (c) =>
      JSON.parse(
        JSON.stringify(stateChange(c, 'terminated')).replace(
          '"detail":{',
          '"detail":{"__proto__":{"polluted":true},',
        ),
      ),
  },
  {
    name: 'constructor.prototype in the detail of an unknown instance',
    answer: 'no-op',
    event: (c) =>
      warning(c, {}, { 'instance-id': UNKNOWN_ID, constructor: { prototype: { polluted: true } } }),
  },
];
