import { functionHandlers } from '../../src/runtime/functions.ts';
import { container } from '../shared/runtime.ts';

/** `EC2 Instance State-change Notification`: the replacement runs, the old instance stops. */
export const handler = functionHandlers['state-change'](container);
