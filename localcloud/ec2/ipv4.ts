/** IPv4 arithmetic for VPC and subnet CIDR blocks. */

export interface Cidr {
  /** First address (the network address) as an unsigned 32-bit integer. */
  network: number;
  prefix: number;
  /** Number of addresses in the block. */
  size: number;
}

export function ipToInt(ip: string): number | undefined {
  const parts = ip.split('.');
  if (parts.length !== 4) return undefined;
  let value = 0;
  for (const part of parts) {
    if (!/^\d{1,3}$/.test(part)) return undefined;
    const octet = Number(part);
    if (octet > 255) return undefined;
    value = value * 256 + octet;
  }
  return value;
}

export function intToIp(value: number): string {
  return [value >>> 24, (value >>> 16) & 255, (value >>> 8) & 255, value & 255].join('.');
}

export function parseCidr(cidr: string): Cidr | undefined {
  const [ip, prefixText] = cidr.split('/');
  if (ip === undefined || prefixText === undefined || !/^\d{1,2}$/.test(prefixText)) return undefined;
  const prefix = Number(prefixText);
  const address = ipToInt(ip);
  if (address === undefined || prefix > 32) return undefined;
  const size = 2 ** (32 - prefix);
  const network = address - (address % size);
  if (network !== address) return undefined;
  return { network, prefix, size };
}

export function cidrContains(cidr: Cidr, ip: number): boolean {
  return ip >= cidr.network && ip < cidr.network + cidr.size;
}

export function cidrWithin(inner: Cidr, outer: Cidr): boolean {
  return inner.network >= outer.network && inner.network + inner.size <= outer.network + outer.size;
}

export function cidrsOverlap(a: Cidr, b: Cidr): boolean {
  return a.network < b.network + b.size && b.network < a.network + a.size;
}

/**
 * AWS reserves five addresses of every subnet: the network address, the next three (router, DNS,
 * future use) and the last one.
 */
export function isReserved(cidr: Cidr, ip: number): boolean {
  const offset = ip - cidr.network;
  return offset < 4 || offset === cidr.size - 1;
}

/** `ip-172-31-0-4.ec2.internal` in us-east-1, `ip-….<region>.compute.internal` elsewhere. */
export function privateDnsName(ip: string, region: string): string {
  const host = `ip-${ip.replaceAll('.', '-')}`;
  return region === 'us-east-1' ? `${host}.ec2.internal` : `${host}.${region}.compute.internal`;
}

export function publicDnsName(ip: string, region: string): string {
  const host = `ec2-${ip.replaceAll('.', '-')}`;
  return region === 'us-east-1'
    ? `${host}.compute-1.amazonaws.com`
    : `${host}.${region}.compute.amazonaws.com`;
}
