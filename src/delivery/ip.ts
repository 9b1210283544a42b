import { isIPv4, isIPv6 } from 'node:net';

/**
 * IP addresses as bytes, CIDR ranges and the egress allowlist. Strict: only dotted-quad IPv4 and
 * standard IPv6 text; the numeric IPv4 spellings (`2130706433`, `0x7f000001`, `127.1`) are not
 * addresses here (URLs normalise them before they get this far).
 */

export interface IpAddress {
  family: 4 | 6;
  /** 4 or 16 bytes, network order. */
  bytes: Uint8Array;
}

export interface IpRange {
  /** The entry as written, for messages. */
  text: string;
  family: 4 | 6;
  /** The network address, 4 or 16 bytes. */
  bytes: Uint8Array;
  prefixLength: number;
}

/** The address in `text` (IPv6 may carry a `%zone`, which is dropped), or undefined. */
export function parseIp(text: string): IpAddress | undefined {
  if (isIPv4(text)) return { family: 4, bytes: Uint8Array.from(text.split('.'), Number) };
  const address = text.split('%', 1)[0]!;
  if (!isIPv6(address)) return undefined;
  return { family: 6, bytes: ipv6Bytes(address) };
}

function ipv6Bytes(text: string): Uint8Array {
  let groupsText = text;
  // A trailing dotted quad (::ffff:127.0.0.1) stands for the last two 16-bit groups.
  const lastColon = text.lastIndexOf(':');
  const tail = text.slice(lastColon + 1);
  if (tail.includes('.')) {
    const [a, b, c, d] = tail.split('.').map(Number) as [number, number, number, number];
    groupsText = `${text.slice(0, lastColon + 1)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = '', rest] = groupsText.split('::');
  const headGroups = head === '' ? [] : head.split(':');
  const restGroups = rest === undefined || rest === '' ? [] : rest.split(':');
  const zeros = rest === undefined ? 0 : 8 - headGroups.length - restGroups.length;
  const groups = [...headGroups, ...Array<string>(zeros).fill('0'), ...restGroups];
  const bytes = new Uint8Array(16);
  groups.forEach((group, i) => {
    const value = Number.parseInt(group, 16);
    bytes[i * 2] = value >> 8;
    bytes[i * 2 + 1] = value & 0xff;
  });
  return bytes;
}

/** `::ffff:a.b.c.d` is the IPv4 address a.b.c.d on a dual-stack socket: the same endpoint. */
export function unmapIpv4(address: IpAddress): IpAddress {
  if (address.family === 6 && inPrefix(address.bytes, IPV4_MAPPED, 96)) {
    return { family: 4, bytes: address.bytes.slice(12) };
  }
  return address;
}

const IPV4_MAPPED = Uint8Array.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 0, 0]);

/** True when the first `prefixLength` bits of `bytes` equal those of `network`. */
export function inPrefix(bytes: Uint8Array, network: Uint8Array, prefixLength: number): boolean {
  if (bytes.length !== network.length) return false;
  const whole = prefixLength >> 3;
  for (let i = 0; i < whole; i++) if (bytes[i] !== network[i]) return false;
  const bits = prefixLength & 7;
  if (bits === 0) return true;
  const maskByte = (0xff << (8 - bits)) & 0xff;
  return ((bytes[whole]! ^ network[whole]!) & maskByte) === 0;
}

/**
 * `a.b.c.d`, `a.b.c.d/n`, an IPv6 address or `v6/n`. A bare address is a /32 or /128. Throws when
 * malformed, or when the address has bits set past the prefix (`10.0.0.1/8` is a typo for
 * `10.0.0.0/8` or `10.0.0.1/32`, and guessing which would widen or narrow the list silently).
 */
export function parseCidr(text: string): IpRange {
  const [addressText = '', prefixText, ...extra] = text.split('/');
  const address = addressText.includes('%') ? undefined : parseIp(addressText);
  if (address === undefined || extra.length > 0) {
    throw new Error(`"${text}" is not an IP address or CIDR range`);
  }
  const max = address.family === 4 ? 32 : 128;
  if (prefixText !== undefined && !/^\d{1,3}$/.test(prefixText)) {
    throw new Error(`"${text}" has an invalid prefix length`);
  }
  const prefixLength = prefixText === undefined ? max : Number(prefixText);
  if (prefixLength > max) throw new Error(`"${text}" has a prefix longer than ${max}`);
  const network = new Uint8Array(address.bytes.length);
  const whole = prefixLength >> 3;
  network.set(address.bytes.subarray(0, whole));
  if (prefixLength & 7) {
    network[whole] = address.bytes[whole]! & ((0xff << (8 - (prefixLength & 7))) & 0xff);
  }
  if (!network.every((byte, i) => byte === address.bytes[i])) {
    throw new Error(`"${text}" has host bits set past /${prefixLength}`);
  }
  return { text, family: address.family, bytes: network, prefixLength };
}

/**
 * `EGRESS_ALLOWLIST`: comma-separated addresses and CIDR ranges, spaces allowed; empty → none.
 * An IPv4-mapped IPv6 range of /96 or longer becomes the IPv4 range it stands for, since
 * {@link inAllowlist} compares mapped addresses as IPv4.
 */
export function parseAllowlist(text: string): IpRange[] {
  return text
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '')
    .map((entry) => {
      const range = parseCidr(entry);
      if (
        range.family === 6 &&
        range.prefixLength >= 96 &&
        inPrefix(range.bytes, IPV4_MAPPED, 96)
      ) {
        return {
          text: entry,
          family: 4,
          bytes: range.bytes.slice(12),
          prefixLength: range.prefixLength - 96,
        };
      }
      return range;
    });
}

/** True when `address` (IPv4-mapped IPv6 counts as its IPv4) is in one of the ranges. */
export function inAllowlist(address: IpAddress, allowlist: readonly IpRange[]): boolean {
  const { family, bytes } = unmapIpv4(address);
  return allowlist.some(
    (range) => range.family === family && inPrefix(bytes, range.bytes, range.prefixLength),
  );
}
