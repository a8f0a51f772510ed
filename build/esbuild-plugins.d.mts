import type { Plugin } from 'esbuild';

export declare const SDK_SCHEMA_MODULE: RegExp;
export declare function literalSchemaKeys(source: string): { contents: string; keysRewritten: number };
export declare function slimSdkSchemas(): Plugin;
export declare const CREDENTIAL_CHAIN_MODULE: RegExp;
export declare function lambdaCredentials(): Plugin;
export declare function xraySemver(): Plugin;
export declare const PACKAGE_INFO_MODULE: RegExp;
export declare function packageVersions(): Plugin;
declare const plugins: Plugin[];
export default plugins;
