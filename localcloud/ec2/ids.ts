import { randomBytes } from 'node:crypto';

/** Resource ids in AWS's format: a prefix and 17 lowercase hex digits (`i-0123456789abcdef0`). */
export function newId(prefix: string): string {
  return `${prefix}-${randomBytes(9).toString('hex').slice(0, 17)}`;
}

/** Spot request ids are shorter: `sir-` and 8 characters. */
export function newSpotRequestId(): string {
  return `sir-${randomBytes(4).toString('hex')}`;
}

/** Old (8 hex) and new (17 hex) id formats are both well-formed. */
export function isWellFormedId(prefix: string, id: string): boolean {
  if (!id.startsWith(`${prefix}-`)) return false;
  const rest = id.slice(prefix.length + 1);
  return /^[0-9a-f]{8}$/.test(rest) || /^[0-9a-f]{17}$/.test(rest);
}

/** A locally administered unicast MAC address. */
export function newMacAddress(): string {
  const bytes = randomBytes(6);
  bytes[0] = ((bytes[0] ?? 0) & 0xfc) | 0x02;
  return [...bytes].map((b) => b.toString(16).padStart(2, '0')).join(':');
}
