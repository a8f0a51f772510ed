import { sweepFunction } from '../shared/middleware.ts';

/** Scheduled every minute: advances open workflows (lost events, capacity retries, attachments in progress). */
export const handler = sweepFunction();
