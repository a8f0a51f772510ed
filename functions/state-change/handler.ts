import { eventFunction } from '../shared/middleware.ts';

/** `EC2 Instance State-change Notification`: the replacement runs, the old instance stops. */
export const handler = eventFunction(['state-change']);
