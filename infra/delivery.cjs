// How EventBridge delivers events to the event functions (param `delivery`):
// - `queue` (default): each function's rule targets an SQS queue of its own; an event source
//   mapping hands the function batches (up to QUEUE_SOURCE.batchSize events gathered for up to
//   maximumBatchingWindow seconds, at most maximumConcurrency batches at once) and the function
//   reports the events to retry as batch item failures. A batch shares its describes, one
//   DeregisterTargets per target group and its launches; a throttled event comes back after the
//   visibility timeout instead of failing the invocation. After maxReceiveCount receives an event
//   goes to the dead-letter queue (whose alarm notifies).
// - `direct`: the rules invoke the functions asynchronously, one event per invocation (the lowest
//   single-event latency; a mass reclaim becomes one invocation per warning).
// The benchmark (`npm run bench`, README "Benchmark") compares both.
// Returned as a `resources:` fragment; osls merges it (`extensions` retarget the generated rules).
'use strict';

/** The event source mapping of each queue; the local bus plays the same settings. */
const QUEUE_SOURCE = { batchSize: 25, maximumBatchingWindow: 1, maximumConcurrency: 20 };
/** Receives before an event goes to the dead-letter queue. */
const MAX_RECEIVE_COUNT = 5;
/**
 * Twice the functions' 60 s timeout: a record a batch reports as failed (work AWS throttled) comes
 * back within two minutes, inside a Spot warning's lead; meanwhile the sweep (every minute) resumes
 * any workflow already recorded. AWS's advice of six times the timeout guards against redelivery
 * while Lambda itself is throttled; a redelivered record is harmless here (every step idempotent).
 */
const VISIBILITY_TIMEOUT_SECONDS = 120;
/** The functions fed by EventBridge rules: each one's queue (logical id) and rule (key in custom.ruleNames). */
const QUEUED_FUNCTIONS = {
  interruption: { queue: 'InterruptionQueue', rule: 'interruption' },
  'state-change': { queue: 'StateChangeQueue', rule: 'stateChange' },
};

function deliveryParam(value) {
  if (value === 'queue' || value === 'direct') return value;
  throw new Error(`Param delivery ${JSON.stringify(value)} is not valid: use queue or direct.`);
}

/** osls's logical ids: `state-change` → `StateDashchange`; its rule `Spothandoffdevstatechangerule1EventBridgeRule`. */
const functionLogicalId = (name) =>
  `${name.charAt(0).toUpperCase()}${name.slice(1).replaceAll('-', 'Dash').replaceAll('_', 'Underscore')}`;
const ruleLogicalId = (deployedName) => {
  const stub = `${deployedName}-rule-1`.replace(/[^0-9A-Za-z]/g, '');
  return `${stub.charAt(0).toUpperCase()}${stub.slice(1)}EventBridgeRule`;
};

/** `ruleNames`: the deployed name of each rule, by its key in custom.ruleNames. */
function queueResources({ ruleNames }) {
  const Resources = {};
  const extensions = {};
  const queueArns = [];
  for (const [name, { queue, rule }] of Object.entries(QUEUED_FUNCTIONS)) {
    const arn = { 'Fn::GetAtt': [queue, 'Arn'] };
    queueArns.push(arn);
    Resources[queue] = {
      Type: 'AWS::SQS::Queue',
      Properties: {
        VisibilityTimeout: VISIBILITY_TIMEOUT_SECONDS,
        MessageRetentionPeriod: 86_400,
        SqsManagedSseEnabled: true,
        RedrivePolicy: {
          deadLetterTargetArn: { 'Fn::GetAtt': ['DeadLetterQueue', 'Arn'] },
          maxReceiveCount: MAX_RECEIVE_COUNT,
        },
      },
    };
    Resources[`${queue}EventSourceMapping`] = {
      Type: 'AWS::Lambda::EventSourceMapping',
      DependsOn: ['EventQueuesConsumerPolicy'],
      Properties: {
        FunctionName: { Ref: `${functionLogicalId(name)}LambdaFunction` },
        EventSourceArn: arn,
        BatchSize: QUEUE_SOURCE.batchSize,
        MaximumBatchingWindowInSeconds: QUEUE_SOURCE.maximumBatchingWindow,
        FunctionResponseTypes: ['ReportBatchItemFailures'],
        ScalingConfig: { MaximumConcurrency: QUEUE_SOURCE.maximumConcurrency },
      },
    };
    const ruleName = ruleNames[rule];
    if (!ruleName)
      throw new Error(`custom.ruleNames.${rule} is missing: the ${name} function's rule has no name.`);
    extensions[ruleLogicalId(ruleName)] = {
      Properties: {
        Targets: [
          {
            Arn: arn,
            Id: `${queue}-target`,
            RetryPolicy: { MaximumEventAgeInSeconds: 3600, MaximumRetryAttempts: 185 },
            DeadLetterConfig: { Arn: { 'Fn::GetAtt': ['DeadLetterQueue', 'Arn'] } },
          },
        ],
      },
    };
    Resources[`${queue}Policy`] = {
      Type: 'AWS::SQS::QueuePolicy',
      Properties: {
        Queues: [{ Ref: queue }],
        PolicyDocument: {
          Version: '2012-10-17',
          Statement: [
            {
              Sid: 'EventBridgeRule',
              Effect: 'Allow',
              Principal: { Service: 'events.amazonaws.com' },
              Action: 'sqs:SendMessage',
              Resource: arn,
              Condition: {
                ArnEquals: {
                  'aws:SourceArn': {
                    'Fn::Sub': `arn:\${AWS::Partition}:events:\${AWS::Region}:\${AWS::AccountId}:rule/${ruleName}`,
                  },
                },
              },
            },
          ],
        },
      },
    };
  }
  // The functions read their own queue only: receive, delete, change visibility.
  Resources.EventQueuesConsumerPolicy = {
    Type: 'AWS::IAM::Policy',
    Properties: {
      PolicyName: 'event-queues',
      Roles: [{ Ref: 'IamRoleLambdaExecution' }],
      PolicyDocument: {
        Version: '2012-10-17',
        Statement: [
          {
            Effect: 'Allow',
            Action: [
              'sqs:ReceiveMessage',
              'sqs:DeleteMessage',
              'sqs:ChangeMessageVisibility',
              'sqs:GetQueueAttributes',
            ],
            Resource: queueArns,
          },
        ],
      },
    },
  };
  return { Resources, extensions };
}

module.exports = async ({ resolveVariable }) => {
  const delivery = deliveryParam(await resolveVariable('param:delivery'));
  if (delivery === 'direct') return { Resources: {} };
  const ruleNames = {};
  for (const { rule } of Object.values(QUEUED_FUNCTIONS)) {
    ruleNames[rule] = String(await resolveVariable(`self:custom.ruleNames.${rule}`));
  }
  return queueResources({ ruleNames });
};
module.exports.QUEUE_SOURCE = QUEUE_SOURCE;
module.exports.deliveryParam = deliveryParam;
module.exports.QUEUED_FUNCTIONS = QUEUED_FUNCTIONS;
module.exports.MAX_RECEIVE_COUNT = MAX_RECEIVE_COUNT;
module.exports.VISIBILITY_TIMEOUT_SECONDS = VISIBILITY_TIMEOUT_SECONDS;
module.exports.queueResources = queueResources;
