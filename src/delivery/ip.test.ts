import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { inAllowlist, parseAllowlist, parseCidr, parseIp } from './ip.ts';

const ip = (text: string) => {
  const address = parseIp(text);
  if (!address) throw new Error(`${text} did not parse`);
  return address;
};

describe('parseIp', () => {
  it('reads dotted-quad IPv4 and IPv6 in every spelling', () => {
    expect(ip('192.168.1.20')).toEqual({ family: 4, bytes: Uint8Array.from([192, 168, 1, 20]) });
    expect(ip('::1').bytes).toEqual(Uint8Array.from([...Array(15).fill(0), 1]));
    expect(ip('::ffff:127.0.0.1')).toEqual(ip('::ffff:7f00:1'));
    expect(ip('2001:db8::8a2e:370:7334')).toEqual(ip('2001:0db8:0000:0000:0000:8a2e:0370:7334'));
    expect(ip('fe80::1%eth0')).toEqual(ip('fe80::1'));
    expect(ip('1::')).toEqual(ip('1:0:0:0:0:0:0:0'));
  });

  it.each([
    '',
    'localhost',
    '2130706433',
    '0x7f000001',
    '127.1',
    '017700000001',
    '1.2.3.4.5',
    ':::1',
  ])('is not an address: %j', (text) => {
    expect(parseIp(text)).toBeUndefined();
  });

  it('reads back any 16 bytes, written in full or compressed by the URL parser', () => {
    // The URL parser is an independent IPv6 implementation: its canonical text uses "::" and
    // embedded forms that the full spelling does not.
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 16, maxLength: 16 }), (bytes) => {
        const groups = [];
        for (let i = 0; i < 16; i += 2)
          groups.push(((bytes[i]! << 8) | bytes[i + 1]!).toString(16));
        const full = groups.join(':');
        const compressed = new URL(`http://[${full}]/`).hostname.slice(1, -1);
        return (
          Buffer.from(ip(full).bytes).equals(bytes) &&
          Buffer.from(ip(compressed).bytes).equals(bytes)
        );
      }),
      {
        examples: [
          [new Uint8Array(16)],
          [Uint8Array.from([...Array(10).fill(0), 255, 255, 127, 0, 0, 1])],
        ],
      },
    );
  });

  it('reads any IPv6 text the generator makes, including dotted tails', () => {
    fc.assert(fc.property(fc.ipV6(), (text) => parseIp(text)?.family === 6));
  });

  it('reads any IPv4 address back to its four numbers', () => {
    fc.assert(fc.property(fc.ipV4(), (text) => ip(text).bytes.join('.') === text));
  });
});

describe('parseCidr', () => {
  it('reads addresses as /32 or /128 and ranges with their prefix', () => {
    expect(parseCidr('127.0.0.1')).toMatchObject({ family: 4, prefixLength: 32 });
    expect(parseCidr('10.0.0.0/8')).toMatchObject({ family: 4, prefixLength: 8 });
    expect(parseCidr('fd00::/8')).toMatchObject({ family: 6, prefixLength: 8 });
    expect(parseCidr('::1')).toMatchObject({ family: 6, prefixLength: 128 });
    expect(parseCidr('0.0.0.0/0')).toMatchObject({ family: 4, prefixLength: 0 });
  });

  it.each([
    ['localhost', /not an IP address/],
    ['10.0.0.0/8/8', /not an IP address/],
    ['10.0.0.0/', /invalid prefix/],
    ['10.0.0.0/x', /invalid prefix/],
    ['10.0.0.0/33', /longer than 32/],
    ['::/129', /longer than 128/],
    ['10.0.0.1/8', /host bits/],
    ['fe80::1%eth0', /not an IP address/],
  ])('refuses %j', (text, message) => {
    expect(() => parseCidr(text)).toThrow(message);
  });
});

describe('allowlist', () => {
  it('parses a comma-separated list with spaces and empty entries', () => {
    const list = parseAllowlist(' 127.0.0.1, 10.1.0.0/16 ,,::1 ');
    expect(list.map((range) => range.text)).toEqual(['127.0.0.1', '10.1.0.0/16', '::1']);
    expect(parseAllowlist('')).toEqual([]);
  });

  it('names the malformed entry', () => {
    expect(() => parseAllowlist('127.0.0.1, 10.0.0.0/40')).toThrow('"10.0.0.0/40"');
  });

  it('matches addresses inside the ranges only, at bit precision', () => {
    const list = parseAllowlist('127.0.0.1, 10.1.0.0/16, 172.16.0.0/13, fd12:3456::/32');
    expect(inAllowlist(ip('127.0.0.1'), list)).toBe(true);
    expect(inAllowlist(ip('127.0.0.2'), list)).toBe(false);
    expect(inAllowlist(ip('10.1.255.255'), list)).toBe(true);
    expect(inAllowlist(ip('10.2.0.0'), list)).toBe(false);
    expect(inAllowlist(ip('172.23.255.255'), list)).toBe(true);
    expect(inAllowlist(ip('172.24.0.0'), list)).toBe(false);
    expect(inAllowlist(ip('fd12:3456:ffff::1'), list)).toBe(true);
    expect(inAllowlist(ip('fd12:3457::1'), list)).toBe(false);
  });

  it('treats an IPv4-mapped IPv6 address as its IPv4 address, both ways', () => {
    expect(inAllowlist(ip('::ffff:127.0.0.1'), parseAllowlist('127.0.0.1'))).toBe(true);
    expect(inAllowlist(ip('127.0.0.1'), parseAllowlist('::ffff:127.0.0.0/104'))).toBe(true);
    expect(inAllowlist(ip('127.0.0.1'), parseAllowlist('::1'))).toBe(false);
    expect(inAllowlist(ip('::1'), parseAllowlist('127.0.0.1'))).toBe(false);
  });
});
