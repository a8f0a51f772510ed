// Game days: an AWS FIS experiment template that interrupts managed Spot instances of one group the
// way EC2 does (the rebalance recommendation at once, the interruption warning two minutes before
// the interruption), so a deployment rehearses its handoffs before a real reclaim.
//
// Created only with `--param="gameDay=true" --param="gameDayGroup=<name>"` (condition
// GameDayEnabled; a normal deployment carries the template in CloudFormation but creates nothing).
// Targets: running Spot instances tagged `<managedTagKey>=true` and `<groupTagKey>=<group>`;
// `gameDayInstances` of them (FIS allows at most 5 per action). The experiment stops when a handoff
// fails, a drain is late or an event reaches the dead-letter queue (infra/alarms.yml), and cannot
// start while any of them is in ALARM.
//
// JavaScript, not YAML: the tag keys are params, and Serverless resolves variables in values only,
// never in keys (condition keys, ResourceTags keys).
'use strict';

/** FIS's limit on the instances one `aws:ec2:send-spot-instance-interruptions` action interrupts. */
const MAX_INSTANCES_PER_ACTION = 5;

/** The alarms that stop an experiment (logical ids in infra/alarms.yml). */
const STOP_ALARMS = ['HandoffFailedAlarm', 'DrainLateAlarm', 'DeadLetterQueueAlarm'];

/** `arn:<partition>:<service>:<region>:<account>:<resource>` of this stack's account and Region. */
function arnInThisAccount(service, resource) {
  const pseudo = (name) => ({ Ref: `AWS::${name}` });
  return {
    'Fn::Join': [
      '',
      [
        'arn:',
        pseudo('Partition'),
        `:${service}:`,
        pseudo('Region'),
        ':',
        pseudo('AccountId'),
        `:${resource}`,
      ],
    ],
  };
}

/**
 * The FIS role, the experiment template and its output.
 *
 * @param {object} settings
 * @param {string} settings.service
 * @param {string} settings.stage
 * @param {boolean} settings.enabled `gameDay`
 * @param {string} settings.managedTagKey
 * @param {string} settings.groupTagKey
 * @param {string} settings.group `gameDayGroup`
 * @param {number} settings.instances `gameDayInstances`, 1 to 5
 * @param {string} settings.durationBeforeInterruption `PT2M` to `PT15M`
 */
function gameDay({
  service,
  stage,
  enabled,
  managedTagKey,
  groupTagKey,
  group,
  instances,
  durationBeforeInterruption,
}) {
  const selected = { [managedTagKey]: 'true', [groupTagKey]: group };
  return {
    Conditions: {
      GameDayEnabled: { 'Fn::Equals': [enabled ? 'true' : 'false', 'true'] },
    },
    Resources: {
      GameDayRole: {
        Type: 'AWS::IAM::Role',
        Condition: 'GameDayEnabled',
        Properties: {
          Description: `Lets AWS FIS interrupt the ${service} (${stage}) game day's Spot instances, and nothing else.`,
          AssumeRolePolicyDocument: {
            Version: '2012-10-17',
            Statement: [
              {
                Effect: 'Allow',
                Principal: { Service: 'fis.amazonaws.com' },
                Action: 'sts:AssumeRole',
                Condition: {
                  StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } },
                  ArnLike: {
                    'aws:SourceArn': arnInThisAccount('fis', 'experiment/*'),
                  },
                },
              },
            ],
          },
          Policies: [
            {
              PolicyName: 'interrupt-game-day-spot-instances',
              PolicyDocument: {
                Version: '2012-10-17',
                Statement: [
                  {
                    Sid: 'InterruptManagedSpotInstancesOfTheGroup',
                    Effect: 'Allow',
                    Action: 'ec2:SendSpotInstanceInterruptions',
                    Resource: arnInThisAccount('ec2', 'instance/*'),
                    Condition: {
                      StringEquals: Object.fromEntries(
                        Object.entries(selected).map(([key, value]) => [`aws:ResourceTag/${key}`, value]),
                      ),
                    },
                  },
                  {
                    // FIS resolves the targets by their tags; EC2 cannot scope describes.
                    Sid: 'FindTheTargets',
                    Effect: 'Allow',
                    Action: 'ec2:DescribeInstances',
                    Resource: '*',
                    Condition: { StringEquals: { 'aws:RequestedRegion': { Ref: 'AWS::Region' } } },
                  },
                ],
              },
            },
          ],
          Tags: [{ Key: 'spot-handoff:stage', Value: stage }],
        },
      },
      GameDayExperimentTemplate: {
        Type: 'AWS::FIS::ExperimentTemplate',
        Condition: 'GameDayEnabled',
        Properties: {
          Description: `${service} (${stage}) game day: interrupt ${instances} running managed Spot instances of group "${group}", the warning ${durationBeforeInterruption} ahead.`,
          RoleArn: { 'Fn::GetAtt': ['GameDayRole', 'Arn'] },
          Targets: {
            GroupSpotInstances: {
              ResourceType: 'aws:ec2:spot-instance',
              ResourceTags: selected,
              Filters: [{ Path: 'State.Name', Values: ['running'] }],
              SelectionMode: `COUNT(${instances})`,
            },
          },
          Actions: {
            InterruptGroupSpotInstances: {
              ActionId: 'aws:ec2:send-spot-instance-interruptions',
              Description: `Rebalance recommendation now, interruption after ${durationBeforeInterruption}.`,
              Parameters: { durationBeforeInterruption },
              Targets: { SpotInstances: 'GroupSpotInstances' },
            },
          },
          StopConditions: STOP_ALARMS.map((alarm) => ({
            Source: 'aws:cloudwatch:alarm',
            Value: { 'Fn::GetAtt': [alarm, 'Arn'] },
          })),
          ExperimentOptions: { AccountTargeting: 'single-account', EmptyTargetResolutionMode: 'fail' },
          Tags: { Name: `${service}-${stage}-game-day`, 'spot-handoff:stage': stage },
        },
      },
    },
    Outputs: {
      GameDayExperimentTemplateId: {
        Condition: 'GameDayEnabled',
        Description:
          'FIS experiment template of the game day (aws fis start-experiment --experiment-template-id …)',
        Value: { Ref: 'GameDayExperimentTemplate' },
      },
    },
  };
}

module.exports = async ({ resolveVariable }) =>
  gameDay({
    service: await resolveVariable('self:service'),
    stage: await resolveVariable('sls:stage'),
    enabled: String(await resolveVariable('param:gameDay')) === 'true',
    managedTagKey: await resolveVariable('param:managedTagKey'),
    groupTagKey: await resolveVariable('param:groupTagKey'),
    group: String(await resolveVariable('param:gameDayGroup')),
    instances: Number(await resolveVariable('param:gameDayInstances')),
    durationBeforeInterruption: await resolveVariable('param:gameDayDurationBeforeInterruption'),
  });
module.exports.gameDay = gameDay;
module.exports.MAX_INSTANCES_PER_ACTION = MAX_INSTANCES_PER_ACTION;
module.exports.STOP_ALARMS = STOP_ALARMS;
