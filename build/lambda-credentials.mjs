/**
 * What the functions' bundles get for `@aws-sdk/credential-provider-node` (see `lambdaCredentials`
 * in esbuild-plugins.mjs): the SDK's default credential chain reduced to its first link, the
 * environment. Lambda gives a function its role's credentials in `AWS_ACCESS_KEY_ID`,
 * `AWS_SECRET_ACCESS_KEY` and `AWS_SESSION_TOKEN`, and there the default chain stops at that same
 * link (`fromEnv`), so the credentials, and the requests signed with them, are the same. The other
 * links (SSO, ini files, credential processes, web identity, container and instance metadata) and
 * the STS/SSO clients they carry are left out of the bundles. Local runs, tests and the `handoff`
 * command are not bundled with this: they keep the whole chain.
 *
 * Plain JavaScript: esbuild bundles it in place of the SDK module.
 */

import { fromEnv } from '@aws-sdk/credential-provider-env';

/**
 * The bundles' `defaultProvider`: the environment's credentials, read on each request (the SDK
 * asks before signing; reading `process.env` is all it costs).
 * @param {{ logger?: { debug?: (message: string) => void } }} [init]
 */
export const defaultProvider =
  (init = {}) =>
  async () => {
    try {
      return await fromEnv(init)();
    } catch (error) {
      const message =
        'No AWS credentials in the environment: the functions read AWS_ACCESS_KEY_ID, ' +
        'AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN, which Lambda sets from the function role. ' +
        'Outside Lambda, set them, or pass credentials to createClients().';
      throw Object.assign(new Error(message, { cause: error }), { name: 'CredentialsProviderError' });
    }
  };
