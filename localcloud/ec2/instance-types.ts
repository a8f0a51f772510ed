import type { Params } from '../query.ts';
import { invalidParameterCombination, invalidParameterValue } from './errors.ts';

/**
 * The local EC2's instance types: every type with a known price (`PriceBook.knownTypes`), each
 * with what attribute-based selection (`InstanceRequirements`) compares — vCPUs, memory,
 * architecture, family, burstable, bare metal, generation — derived from its name the way EC2
 * names them (`m6g.xlarge`: family m6g, Graviton, 4 vCPUs, 16 GiB). CreateFleet's
 * InstanceRequirements overrides and GetInstanceTypesFromInstanceRequirements select from it.
 */

export interface InstanceTypeInfo {
  instanceType: string;
  family: string;
  vcpus: number;
  memoryMiB: number;
  architecture: 'x86_64' | 'arm64';
  /** T families: burstable performance (EC2 selects them only when asked). */
  burstable: boolean;
  bareMetal: boolean;
  generation: 'current' | 'previous';
}

/** Memory per vCPU (GiB) by family class: compute 2, general 4, memory 8. */
const GIB_PER_VCPU: Record<string, number> = { c: 2, m: 4, r: 8, t: 4 };

/** How many `large`s a size is worth: nano 1/16 … large 1, xlarge 2, 4xlarge 8, metal 48. */
export function sizeFactor(size: string): number {
  const small: Record<string, number> = { nano: 1 / 16, micro: 1 / 8, small: 1 / 4, medium: 1 / 2, large: 1 };
  if (size in small) return small[size]!;
  if (size === 'xlarge' || size === 'metal') return size === 'metal' ? 48 : 2;
  const times = /^(\d+)xlarge$/.exec(size);
  return times ? 2 * Number(times[1]) : 1;
}

/**
 * What EC2 would say about an instance type: 2 vCPUs up to `large`, then 2 per `large`'s worth;
 * memory from the family class; Graviton (arm64) when the family's attributes after its
 * generation hold a `g` (m6g, c7gn, t4g); generations 1–4 are previous.
 */
export function instanceTypeInfo(instanceType: string): InstanceTypeInfo {
  const [family = '', size = 'large'] = instanceType.split('.');
  const factor = sizeFactor(size);
  const vcpus = Math.max(2, Math.round(2 * factor));
  const perVcpu = GIB_PER_VCPU[family.charAt(0)] ?? 4;
  const memoryGiB = factor < 1 ? 8 * factor : vcpus * perVcpu;
  const [, , generation = '5', attributes = ''] = /^([a-z]+)(\d+)([a-z-]*)$/.exec(family) ?? [];
  return {
    instanceType,
    family,
    vcpus,
    memoryMiB: Math.round(memoryGiB * 1024),
    architecture: attributes.includes('g') || family === 'a1' ? 'arm64' : 'x86_64',
    burstable: family.startsWith('t'),
    bareMetal: size.startsWith('metal'),
    generation: Number(generation) <= 4 ? 'previous' : 'current',
  };
}

const glob = (pattern: string) =>
  new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*')}$`);

const INCLUSION = ['included', 'required', 'excluded'] as const;

/**
 * The types of `catalog` that InstanceRequirements select, given as the Query API sends them
 * under `InstanceRequirements.` (`VCpuCount.Min` → `2`, `ExcludedInstanceType.1` → `t3.*`). As
 * EC2 does: burstable and bare-metal types only when asked (`BurstablePerformance`, `BareMetal`
 * default `excluded`); allowed and excluded types (with `*`) not both.
 */
export function typesMatching(catalog: readonly string[], requirements: Record<string, string>): string[] {
  const range = (name: string) => {
    const bound = (end: 'Min' | 'Max', fallback: number) => {
      const raw = requirements[`${name}.${end}`];
      if (raw === undefined) return fallback;
      const value = Number(raw);
      if (!Number.isInteger(value) || value < 0)
        throw invalidParameterValue(`Invalid value '${raw}' for InstanceRequirements.${name}.${end}`);
      return value;
    };
    const found = { min: bound('Min', 0), max: bound('Max', Number.POSITIVE_INFINITY) };
    if (found.max < found.min)
      throw invalidParameterValue(
        `The value of InstanceRequirements.${name}.Max (${found.max}) must be greater than or equal to ${name}.Min (${found.min}).`,
      );
    return found;
  };
  const listed = (name: string) =>
    Object.entries(requirements)
      .filter(([k]) => new RegExp(`^${name}\\.\\d+$`).test(k))
      .map(([, v]) => v);
  const inclusion = (name: string) => {
    const value = requirements[name] ?? 'excluded';
    if (!(INCLUSION as readonly string[]).includes(value))
      throw invalidParameterValue(
        `Invalid value '${value}' for InstanceRequirements.${name}. Valid values: ${INCLUSION.join(', ')}`,
      );
    return value as (typeof INCLUSION)[number];
  };
  const admits = (option: (typeof INCLUSION)[number], has: boolean) =>
    option === 'included' || (option === 'required') === has;
  const vcpus = range('VCpuCount');
  const memory = range('MemoryMiB');
  const allowedNames = listed('AllowedInstanceType');
  const excludedNames = listed('ExcludedInstanceType');
  if (allowedNames.length && excludedNames.length)
    throw invalidParameterCombination(
      'You can specify either AllowedInstanceTypes or ExcludedInstanceTypes, but not both.',
    );
  for (const name of [...allowedNames, ...excludedNames])
    if (!/^[a-z0-9.*-]{1,30}$/.test(name))
      throw invalidParameterValue(`Invalid value '${name}' for an allowed or excluded instance type.`);
  const allowed = allowedNames.map(glob);
  const excluded = excludedNames.map(glob);
  const generations = listed('InstanceGeneration');
  const burstable = inclusion('BurstablePerformance');
  const bareMetal = inclusion('BareMetal');
  return catalog.filter((type) => {
    const info = instanceTypeInfo(type);
    return (
      info.vcpus >= vcpus.min &&
      info.vcpus <= vcpus.max &&
      info.memoryMiB >= memory.min &&
      info.memoryMiB <= memory.max &&
      (!allowed.length || allowed.some((p) => p.test(type))) &&
      !excluded.some((p) => p.test(type)) &&
      (!generations.length || generations.includes(info.generation)) &&
      admits(burstable, info.burstable) &&
      admits(bareMetal, info.bareMetal)
    );
  });
}

/** The fields under a request's `InstanceRequirements.` as {@link typesMatching} reads them (undefined: none sent). */
export function requirementsOf(params: Params): Record<string, string> | undefined {
  const scope = params.scope('InstanceRequirements');
  if (!scope.present()) return undefined;
  const prefix = 'InstanceRequirements.';
  return Object.fromEntries(scope.entries().map(([k, v]) => [k.slice(k.indexOf(prefix) + prefix.length), v]));
}
