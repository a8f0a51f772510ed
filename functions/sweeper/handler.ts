import { functionHandlers } from '../../src/runtime/functions.ts';
import { container } from '../shared/runtime.ts';

/** Scheduled every minute: advances open workflows (lost events, capacity retries, attachments in progress). */
export const handler = functionHandlers.sweeper(container);
