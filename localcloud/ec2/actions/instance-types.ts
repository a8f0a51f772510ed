import { invalidParameterValue, missingParameter } from '../errors.ts';
import { instanceTypeInfo, requirementsOf, typesMatching } from '../instance-types.ts';
import { pageOf } from '../query.ts';
import type { Action } from './context.ts';

/**
 * Attribute-based instance type selection, as EC2 answers it before any launch: the instance
 * types of the catalog (`../instance-types.ts`) with the given architectures and virtualization
 * types that meet the InstanceRequirements, a page at a time.
 */

const ARCHITECTURES = ['i386', 'x86_64', 'arm64', 'x86_64_mac', 'arm64_mac'];
const VIRTUALIZATION = ['hvm', 'paravirtual'];

/** A required list whose every entry is one of `allowed`. */
function listOf(values: string[], name: string, allowed: readonly string[]): string[] {
  if (!values.length) throw missingParameter(name);
  for (const value of values) {
    if (!allowed.includes(value))
      throw invalidParameterValue(
        `Invalid value '${value}' for ${name}. Valid values: ${allowed.join(', ')}`,
      );
  }
  return values;
}

export const instanceTypeActions: Record<string, Action> = {
  GetInstanceTypesFromInstanceRequirements({ params, state }) {
    const architectures = listOf(params.strings('ArchitectureType'), 'ArchitectureTypes', ARCHITECTURES);
    const virtualization = listOf(
      params.strings('VirtualizationType'),
      'VirtualizationTypes',
      VIRTUALIZATION,
    );
    const requirements = requirementsOf(params);
    if (!requirements) throw missingParameter('InstanceRequirements');
    for (const field of ['VCpuCount.Min', 'MemoryMiB.Min'])
      if (requirements[field] === undefined) throw missingParameter(`InstanceRequirements.${field}`);
    // Every type of the catalog is HVM.
    const types = virtualization.includes('hvm')
      ? typesMatching(state.prices.knownTypes(), requirements).filter((type) =>
          architectures.includes(instanceTypeInfo(type).architecture),
        )
      : [];
    const { items, next: nextToken } = pageOf(types.sort(), params, { min: 1, max: 1000 });
    return { instanceTypeSet: items.map((instanceType) => ({ instanceType })), nextToken };
  },
};
