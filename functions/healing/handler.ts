import { functionHandlers } from '../../src/runtime/functions.ts';
import { container } from '../shared/runtime.ts';

/** CloudWatch alarms into ALARM: each managed instance an alarm marked for healing names is replaced carefully. */
export const handler = functionHandlers.healing(container);
