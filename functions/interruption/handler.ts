import { functionHandlers } from '../../src/runtime/functions.ts';
import { container } from '../shared/runtime.ts';

/** `EC2 Spot Instance Interruption Warning` and `EC2 Instance Rebalance Recommendation`. */
export const handler = functionHandlers.interruption(container);
