import { describe, expect, it } from 'vitest';
import { createClients, createHandoffClients } from '../../src/aws/clients.ts';
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

  it("builds a function's clients alone, configured the same, without EventBridge's", async () => {
    const clients = createHandoffClients({
      region: 'eu-west-1',
      env: { AWS_MAX_ATTEMPTS: '3' },
      endpoints: { ec2: 'http://127.0.0.1:4000', eventBridge: 'http://127.0.0.1:4001' },
    });

    expect(Object.keys(clients).sort()).toEqual(['documentClient', 'dynamodb', 'ec2', 'elbv2']);
    expect(await clients.ec2.config.maxAttempts()).toBe(3);
    expect((await clients.ec2.config.endpoint!()).port).toBe(4000);
    expect(await clients.elbv2.config.region()).toBe('eu-west-1');
  });
});
