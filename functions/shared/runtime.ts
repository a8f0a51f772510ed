import { readConfig } from '../../src/config.ts';
import { type Container, createContainer } from '../../src/runtime/container.ts';

/**
 * This function's container in Lambda, built once at cold start: configuration, endpoints and
 * Powertools settings from the function's environment (serverless.yml), the system clock.
 */
export const container: Container = createContainer({ config: () => readConfig(process.env) });
