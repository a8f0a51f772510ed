/**
 * The plan of a dry run: every mutating call the adapters would have made, in the order they were
 * asked for. EC2 checks a request for real (`DryRun: true`), so its entries say `would-succeed`;
 * ELBv2 and DynamoDB have no dry run, so theirs say `skipped`.
 */

export interface PlanEntry {
  service: 'ec2' | 'elbv2' | 'dynamodb';
  /** The API action, e.g. `RunInstances`, `DeregisterTargets`, `PutItem`. */
  action: string;
  /** The request as it would have been sent. */
  params: unknown;
  /**
   * `denied-to-caller`: EC2 answered `UnauthorizedOperation` to the credentials of whoever runs the
   * dry run (read-only ones, typically); the deployed functions' role is another matter.
   */
  outcome: 'would-succeed' | 'skipped' | 'denied-to-caller';
}

export interface PlanLog {
  record(entry: PlanEntry): void;
  /** A copy of the entries recorded so far. */
  entries(): PlanEntry[];
}

/**
 * An in-memory plan.
 * @example
 * const plan = createPlanLog();
 * const compute = new Ec2Compute({ client, dryRun: true, plan });
 * await compute.launch(request);
 * plan.entries(); // [{ service: 'ec2', action: 'RunInstances', params: {…}, outcome: 'would-succeed' }]
 */
export function createPlanLog(): PlanLog {
  const recorded: PlanEntry[] = [];
  return {
    record(entry) {
      recorded.push(entry);
    },
    entries() {
      return [...recorded];
    },
  };
}
