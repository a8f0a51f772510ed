import { describe, expect, it } from 'vitest';
import { createClients } from '../../src/aws/clients.ts';
import { ConfigError } from '../../src/config.ts';

describe('createClients', () => {
  it('retries in standard mode, 5 attempts unless AWS_MAX_ATTEMPTS says otherwise', async () => {
    const byDefault = createClients({ region: 'eu-west-1', env: {} });
    const configured = createClients({ region: 'eu-west-1', env: { AWS_MAX_ATTEMPTS: '8' } });

    expect(await byDefault.ec2.config.maxAttempts()).toBe(5);
    expect(byDefault.ec2.config.retryMode).toBe('standard');
    expect(await configured.elbv2.config.maxAttempts()).toBe(8);
    expect(await configured.dynamodb.config.region()).toBe('eu-west-1');
    expect(configured.documentClient.config.translateConfig?.marshallOptions?.removeUndefinedValues).toBe(
      true,
    );
  });

  it('refuses an AWS_MAX_ATTEMPTS that is not a positive whole number, naming it', () => {
    expect(() => createClients({ env: { AWS_MAX_ATTEMPTS: 'lots' } })).toThrow(ConfigError);
    expect(() => createClients({ env: { AWS_MAX_ATTEMPTS: '0' } })).toThrow(/AWS_MAX_ATTEMPTS/);
  });
});
