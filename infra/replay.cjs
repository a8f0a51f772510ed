// The replay bus: only when the deployment enables replay (param `replayEnabled`), an event bus
// that admits only the principals the deployment names (param `replayPrincipalArns`), with one rule
// per EventBridge rule of serverless.yml, matching the same events from the replay source
// `spot-handoff.replay` and invoking the same function with the same retries and dead-letter queue.
// The default bus never matches the replay source: anyone in the account may put events there.
//
// Always defines the CloudFormation condition `ReplayEnabled` (infra/dlq.yml admits the replay
// rules' dead letters under it). Returned as a `resources:` fragment; osls merges it.
'use strict';

const { readFileSync } = require('node:fs');
const { join } = require('node:path');
const { parse } = require('yaml');
const { listParam } = require('./iam.cjs');

const REPLAY_SOURCE = 'spot-handoff.replay';
const PRINCIPAL_ARN = /^arn:aws(?:-[a-z]+)*:iam::\d{12}:(?:role|user)\/(?:[\w+=,.@-]+\/)*[\w+=,.@-]{1,64}$/;

/** osls's logical id prefix of a function: `state-change` → `StateDashchange`. */
const functionLogicalId = (name) =>
  `${name.charAt(0).toUpperCase()}${name.slice(1).replaceAll('-', 'Dash').replaceAll('_', 'Underscore')}`;

function enabledParam(value) {
  if (value === true || value === 'true') return true;
  if (value === false || value === 'false' || value === undefined || value === null || value === '')
    return false;
  throw new Error(`Param replayEnabled ${JSON.stringify(value)} is not valid: use true or false.`);
}

function principalArns(value) {
  const arns = listParam(value);
  if (arns.length === 0) {
    throw new Error(
      'Param replayPrincipalArns is empty but replayEnabled is true: name the IAM roles or users that may replay events, e.g. --param="replayPrincipalArns=arn:aws:iam::123456789012:role/ops", or leave replay off.',
    );
  }
  for (const arn of arns) {
    if (!PRINCIPAL_ARN.test(arn)) {
      throw new Error(
        `Param replayPrincipalArns: ${JSON.stringify(arn)} is not an IAM role or user ARN (arn:aws:iam::123456789012:role/name); wildcards and accounts are not allowed.`,
      );
    }
  }
  return arns;
}

/**
 * The EventBridge rules of a Serverless file, as `{ functionName, name, pattern, retryPolicy,
 * deadLetterQueueArn }`: `name` as written (a `${…}` variable or a literal).
 */
function eventBridgeRules(serverlessFile) {
  const document = parse(readFileSync(serverlessFile, 'utf8'));
  return Object.entries(document.functions ?? {}).flatMap(([functionName, definition]) =>
    (definition.events ?? [])
      .filter((event) => event?.eventBridge?.pattern)
      .map((event) => ({ functionName, ...event.eventBridge })),
  );
}

/**
 * The fragment for a deployment.
 * @param {{ enabled: unknown, principalArns: unknown, busName: string,
 *   rules: { functionName: string, name: string, pattern: object, retryPolicy?: object,
 *   deadLetterQueueArn?: unknown }[] }} options `rules[].name` resolved
 */
function replayResources(options) {
  const enabled = enabledParam(options.enabled);
  const condition = { ReplayEnabled: { 'Fn::Equals': [String(enabled), 'true'] } };
  if (!enabled) return { Conditions: condition };

  const principals = principalArns(options.principalArns);
  const busArn = {
    'Fn::Sub': `arn:\${AWS::Partition}:events:\${AWS::Region}:\${AWS::AccountId}:event-bus/${options.busName}`,
  };
  const resources = {
    ReplayEventBus: { Type: 'AWS::Events::EventBus', Properties: { Name: options.busName } },
    ReplayEventBusAllowNamedPrincipals: {
      Type: 'AWS::Events::EventBusPolicy',
      Properties: {
        EventBusName: { Ref: 'ReplayEventBus' },
        StatementId: 'AllowNamedPrincipals',
        Statement: {
          Effect: 'Allow',
          Principal: { AWS: principals },
          Action: 'events:PutEvents',
          Resource: busArn,
        },
      },
    },
    // Same-account principals need no resource policy to put events; this Deny stops them.
    ReplayEventBusDenyOthers: {
      Type: 'AWS::Events::EventBusPolicy',
      Properties: {
        EventBusName: { Ref: 'ReplayEventBus' },
        StatementId: 'DenyEveryoneElse',
        Statement: {
          Effect: 'Deny',
          Principal: '*',
          Action: 'events:PutEvents',
          Resource: busArn,
          Condition: { ArnNotEquals: { 'aws:PrincipalArn': principals } },
        },
      },
    },
  };
  for (const rule of options.rules) {
    const fn = functionLogicalId(rule.functionName);
    const retry = rule.retryPolicy ?? {};
    resources[`Replay${fn}Rule`] = {
      Type: 'AWS::Events::Rule',
      Properties: {
        Name: `${rule.name}-replay`,
        Description: `Replayed events for ${rule.functionName} (source ${REPLAY_SOURCE}).`,
        EventBusName: { Ref: 'ReplayEventBus' },
        EventPattern: { ...rule.pattern, source: [REPLAY_SOURCE] },
        State: 'ENABLED',
        Targets: [
          {
            Arn: { 'Fn::GetAtt': [`${fn}LambdaFunction`, 'Arn'] },
            Id: `${rule.functionName}-replay`,
            ...(retry.maximumEventAge !== undefined || retry.maximumRetryAttempts !== undefined
              ? {
                  RetryPolicy: {
                    MaximumEventAgeInSeconds: retry.maximumEventAge,
                    MaximumRetryAttempts: retry.maximumRetryAttempts,
                  },
                }
              : {}),
            ...(rule.deadLetterQueueArn ? { DeadLetterConfig: { Arn: rule.deadLetterQueueArn } } : {}),
          },
        ],
      },
    };
    resources[`Replay${fn}LambdaPermission`] = {
      Type: 'AWS::Lambda::Permission',
      Properties: {
        Action: 'lambda:InvokeFunction',
        FunctionName: { 'Fn::GetAtt': [`${fn}LambdaFunction`, 'Arn'] },
        Principal: 'events.amazonaws.com',
        SourceArn: { 'Fn::GetAtt': [`Replay${fn}Rule`, 'Arn'] },
      },
    };
  }
  return {
    Conditions: condition,
    Resources: resources,
    Outputs: {
      ReplayEventBusName: {
        Description:
          'Event bus for replayed events (handoff replay --bus NAME); only the named principals may put events',
        Value: { Ref: 'ReplayEventBus' },
      },
      ReplayEventBusArn: {
        Description: 'Replay event bus ARN',
        Value: { 'Fn::GetAtt': ['ReplayEventBus', 'Arn'] },
      },
    },
  };
}

/** A rule name as written (`${self:custom.ruleNames.interruption}` or a literal), resolved. */
async function resolveName(name, resolveVariable) {
  const variable = /^\$\{([^{}]+)\}$/.exec(String(name));
  return variable ? String(await resolveVariable(variable[1])) : String(name);
}

module.exports = async ({ resolveVariable }) => {
  const enabled = await resolveVariable('param:replayEnabled');
  if (!enabledParam(enabled)) return replayResources({ enabled });
  const rules = await Promise.all(
    eventBridgeRules(join(__dirname, '..', 'serverless.yml')).map(async (rule) => ({
      ...rule,
      name: await resolveName(rule.name, resolveVariable),
    })),
  );
  return replayResources({
    enabled,
    principalArns: await resolveVariable('param:replayPrincipalArns'),
    busName: await resolveVariable('self:custom.replayBusName'),
    rules,
  });
};
module.exports.replayResources = replayResources;
module.exports.eventBridgeRules = eventBridgeRules;
module.exports.REPLAY_SOURCE = REPLAY_SOURCE;
