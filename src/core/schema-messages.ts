import * as z from 'zod/mini';
import en from 'zod/v4/locales/en.js';

/**
 * The schemas are built with `zod/mini`, which builds each schema without attaching zod's methods
 * to it (about 60 ms less CPU when a function's bundle loads) and loads no locale: this gives its
 * issues the English messages (`Invalid input: expected string, received number`) that the error
 * texts quote. Imported, for this effect, by every module that builds a schema. `z.config()` reads
 * the settings: reaching them through the `z.core` namespace would bring every locale into the bundles.
 */
if (!z.config().localeError) z.config(en());

/**
 * `build`'s schemas, built on first use rather than when a function's bundle loads: a function
 * builds only the schemas it uses (the sweeper no event schema, a deployment without policy.yml no
 * policy schema), and its cold start loads sooner.
 *
 * @example
 * const schemas = builtOnFirstUse(() => ({ id: z.string() }));
 * schemas().id.parse('x');
 */
export function builtOnFirstUse<T>(build: () => T): () => T {
  let built: T | undefined;
  return () => {
    built ??= build();
    return built;
  };
}
