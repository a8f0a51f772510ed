import { eventFunction } from '../shared/middleware.ts';

/** `EC2 Spot Instance Interruption Warning` and `EC2 Instance Rebalance Recommendation`. */
export const handler = eventFunction(['warning', 'rebalance']);
