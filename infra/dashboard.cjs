// The CloudWatch dashboard of a deployment: the alarms' states, then every metric of
// infra/metrics.cjs, the dead-letter queue, and the functions' errors, throttles and durations.
//
// DashboardBody is one JSON string. The names CloudFormation knows only at deploy time (function
// names, alarm ARNs, the queue, the Region) are spliced in with Fn::Join, so the body carries no
// `${…}` for Serverless or Fn::Sub to misread.
'use strict';

const { readFileSync } = require('node:fs');
const { join } = require('node:path');
const { parse } = require('yaml');
const { NAMESPACE, DIMENSIONS, metric } = require('./metrics.cjs');

/** A value CloudFormation resolves at deploy time (`Ref`, `Fn::GetAtt`), inside the JSON body. */
class Intrinsic {
  constructor(value) {
    this.value = value;
  }
}
const ref = (logicalId) => new Intrinsic({ Ref: logicalId });
const arnOf = (logicalId) => new Intrinsic({ 'Fn::GetAtt': [logicalId, 'Arn'] });
const REGION = ref('AWS::Region');

/** osls's logical id of a function: `state-change` → `StateDashchangeLambdaFunction`. */
function lambdaLogicalId(functionName) {
  const normalized = functionName.replaceAll('-', 'Dash').replaceAll('_', 'Underscore');
  return `${normalized.charAt(0).toUpperCase()}${normalized.slice(1)}LambdaFunction`;
}

/** The logical ids of the alarms in infra/alarms.yml, in file order. */
function alarmLogicalIds() {
  const { Resources } = parse(readFileSync(join(__dirname, 'alarms.yml'), 'utf8'));
  return Object.keys(Resources).filter((id) => Resources[id].Type === 'AWS::CloudWatch::Alarm');
}

/** One of our metrics on a graph: `stat` is `Sum`, `Maximum`, `p50`, …; `label` defaults to its name. */
function ours(name, stat = 'Sum', label = name) {
  metric(name);
  const dimensions = Object.entries(DIMENSIONS).flat();
  return [NAMESPACE, name, ...dimensions, { stat, label }];
}

const WIDTH = 8;
const HEIGHT = 6;

function graph(title, metrics, options = {}) {
  return {
    type: 'metric',
    width: WIDTH,
    height: HEIGHT,
    properties: {
      title,
      view: 'timeSeries',
      stacked: false,
      region: REGION,
      period: 60,
      metrics,
      ...options,
    },
  };
}

/** Durations from the interruption signal, at one statistic. */
function durations(stat) {
  return ['EventToDrainSeconds', 'EventToLaunchSeconds', 'EventToRegistrationSeconds', 'HandoffSeconds'].map(
    (name) => ours(name, stat, `${name.replace(/Seconds$/, '')} ${stat}`),
  );
}

/** Every function, at one AWS/Lambda metric. */
function perFunction(functionNames, metricName, stat) {
  return functionNames.map((name) => [
    'AWS/Lambda',
    metricName,
    'FunctionName',
    ref(lambdaLogicalId(name)),
    { stat, label: `${name} ${metricName}${stat === 'Sum' ? '' : ` ${stat}`}` },
  ]);
}

/** The dashboard's widgets, top to bottom, left to right (CloudWatch flows them into rows of 24). */
function widgets({ service, stage, functionNames }) {
  return [
    {
      type: 'text',
      width: 24,
      height: 2,
      properties: {
        markdown: [
          `## ${service} · stage \`${stage}\``,
          'Pages: a failed handoff, a late drain, an overdue workflow, dead letters, a failing sweep. ' +
            'Notices: a mass reclaim in progress, event functions failing for 15 minutes. ' +
            'Workflows: `handoff status` with `HANDOFF_TABLE_NAME` set to the stack output `StateTableName`. ' +
            "See the README's Operations section.",
        ].join('\n\n'),
      },
    },
    {
      type: 'alarm',
      width: 24,
      height: 3,
      properties: { title: 'Alarms', alarms: alarmLogicalIds().map(arnOf) },
    },
    graph('Interruptions by kind', [ours('InterruptionWarnings'), ours('RebalanceRecommendations')]),
    graph('Handoffs', [ours('WorkflowsStarted'), ours('WorkflowsCompleted'), ours('WorkflowsFailed')]),
    graph('Open and overdue workflows', [
      ours('WorkflowsSwept', 'Maximum', 'open (swept)'),
      ours('OverdueWorkflows', 'Maximum', 'overdue'),
      ours('StepsLate'),
    ]),
    graph('Drains', [ours('TargetsDeregistered'), ours('DrainsLate'), ours('ElbApiCalls')]),
    graph('Launches by capacity type', [
      ours('SpotReplacementsLaunched', 'Sum', 'Spot'),
      ours('OnDemandReplacementsLaunched', 'Sum', 'On-Demand'),
      ours('ReplacementsLaunched', 'Sum', 'all'),
      ours('ReplacementLaunchFailures', 'Sum', 'failed attempts'),
      ours('TargetsRegistered'),
    ]),
    graph('Events received and refused', [
      ours('EventsReceived'),
      ours('RefusedEvents'),
      ours('UntimelyEvents'),
      ours('UnknownInstanceEvents'),
      ours('InvalidEvents'),
      ours('IgnoredEvents'),
      ours('UnmanagedInstancesSkipped'),
      ours('RecordsRetried'),
      ours('ThrottledWorkLeftToSweep'),
    ]),
    graph('Seconds from the event, median', durations('p50')),
    graph('Seconds from the event, p99', durations('p99')),
    graph('Sweep: guarded instances, write conflicts', [ours('InstancesGuarded'), ours('WriteConflicts')]),
    graph('Careful replaces, standbys and healing', [
      ours('CarefulReplacesStarted'),
      ours('OldInstancesTerminated'),
      ours('ChurnBudgetExceeded'),
      ours('StandbysPromoted'),
      ours('StandbysRetired'),
      ours('HealingAlarms'),
      ours('InstancesHealed'),
      ours('HealingSkippedCooldown'),
      ours('HealingSuspended'),
    ]),
    graph(
      'Dead-letter queue',
      [
        [
          'AWS/SQS',
          'ApproximateNumberOfMessagesVisible',
          'QueueName',
          new Intrinsic({ 'Fn::GetAtt': ['DeadLetterQueue', 'QueueName'] }),
          { stat: 'Maximum', label: 'messages' },
        ],
        [
          'AWS/SQS',
          'ApproximateAgeOfOldestMessage',
          'QueueName',
          new Intrinsic({ 'Fn::GetAtt': ['DeadLetterQueue', 'QueueName'] }),
          { stat: 'Maximum', label: 'oldest (s)', yAxis: 'right' },
        ],
      ],
      { period: 300 },
    ),
    graph('Function errors and throttles', [
      ...perFunction(functionNames, 'Errors', 'Sum'),
      ...perFunction(functionNames, 'Throttles', 'Sum'),
    ]),
    graph('Function invocations and duration', [
      ...perFunction(functionNames, 'Invocations', 'Sum'),
      ...perFunction(functionNames, 'Duration', 'p99').map(([ns, name, dim, value, options]) => [
        ns,
        name,
        dim,
        value,
        { ...options, yAxis: 'right' },
      ]),
    ]),
  ];
}

/** `body` as CloudFormation: a JSON string with the intrinsics spliced in by Fn::Join. */
function joined(body) {
  const intrinsics = [];
  const text = JSON.stringify(body, (_key, value) =>
    value instanceof Intrinsic ? `@@${intrinsics.push(value.value) - 1}@@` : value,
  );
  const parts = text
    .split(/@@(\d+)@@/)
    .map((part, index) => (index % 2 === 1 ? intrinsics[Number(part)] : part));
  return { 'Fn::Join': ['', parts.filter((part) => part !== '')] };
}

/** The dashboard resource and its outputs, for a service, stage and functions. */
function dashboard({ service, stage, functionNames }) {
  const name = { 'Fn::Join': ['-', [service, stage, { Ref: 'AWS::Region' }]] };
  const body = {
    start: '-PT6H',
    periodOverride: 'inherit',
    widgets: widgets({ service, stage, functionNames }),
  };
  return {
    Resources: {
      Dashboard: {
        Type: 'AWS::CloudWatch::Dashboard',
        Properties: { DashboardName: name, DashboardBody: joined(body) },
      },
    },
    Outputs: {
      DashboardUrl: {
        Description: 'CloudWatch dashboard of this deployment',
        Value: {
          'Fn::Join': [
            '',
            [
              'https://console.aws.amazon.com/cloudwatch/home?region=',
              { Ref: 'AWS::Region' },
              '#dashboards/dashboard/',
              { Ref: 'Dashboard' },
            ],
          ],
        },
      },
    },
  };
}

module.exports = async ({ resolveConfigurationProperty, resolveVariable }) =>
  dashboard({
    service: await resolveVariable('self:service'),
    stage: await resolveVariable('sls:stage'),
    functionNames: Object.keys((await resolveConfigurationProperty(['functions'])) ?? {}),
  });
module.exports.dashboard = dashboard;
module.exports.lambdaLogicalId = lambdaLogicalId;
