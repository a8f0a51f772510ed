// How many containers of a queued function spend the account's EC2 and ELBv2 buckets at once: its
// queue's maximum concurrency (infra/delivery.cjs). With direct delivery nothing bounds them, and
// each spends half. The functions read it as HANDOFF_API_BUDGET_CONCURRENCY and each container
// spends 1/this of every bucket (src/aws/api-budget.ts), so together they stay within AWS's.
'use strict';

const { QUEUE_SOURCE, deliveryParam } = require('./delivery.cjs');

module.exports = async ({ resolveVariable }) =>
  String(
    deliveryParam(await resolveVariable('param:delivery')) === 'queue' ? QUEUE_SOURCE.maximumConcurrency : 2,
  );
