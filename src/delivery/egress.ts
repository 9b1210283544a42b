import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { isIP, type LookupFunction, type Socket } from 'node:net';
import { Agent, buildConnector, type Dispatcher } from 'undici';
import { type ErrorDetail, fieldError } from '../errors.ts';
import { type IpAddress, type IpRange, inAllowlist, inPrefix, parseCidr, parseIp } from './ip.ts';

/**
 * The one egress policy (SSRF protection) of every outgoing call to a URL an API user chose:
 * webhook endpoints and http workflow executor URLs, and any later kind. Without it such a URL
 * could make the service POST to its own admin ports, the database, other hosts on the private
 * network or the cloud metadata service. Only public unicast addresses are reached, plus what
 * `EGRESS_ALLOWLIST` names. The check runs twice:
 * - {@link checkEndpointUrl} when the URL is written (subscription, workflow definition), to
 *   refuse early with a 400 `egress_denied` on that field;
 * - {@link createEgressDispatcher} on every connection, against the address actually connected,
 *   so a DNS answer that changes after creation (DNS rebinding), or a URL stored before the
 *   policy existed, does not get through. The app makes one such dispatcher and every outgoing
 *   HTTP call uses it, except webhooks sent from worker threads (sender-threads.ts): each
 *   thread makes its own from the same options, since a dispatcher cannot cross threads.
 * Endpoints the operator configures (DATABASE_URL, NATS_URL, OTEL_EXPORTER_OTLP_ENDPOINT) are
 * trusted configuration, not user input, and do not pass through it. The OAuth JWKS URL is
 * operator configuration as well, but an HTTP call made while serving requests: it connects
 * through a dispatcher of this guard that names its origin in
 * {@link EgressOptions.trustedOrigins}, so only that origin is let through.
 */

/** Why an address is not reached. */
export type DenyReason =
  | 'loopback'
  | 'private'
  | 'link_local'
  | 'unique_local'
  | 'cgnat'
  | 'cloud_metadata'
  | 'unspecified'
  | 'multicast'
  | 'broadcast'
  | 'reserved'
  | 'not_an_ip';

export type AddressClass = 'public' | DenyReason;

type Rule = readonly [range: IpRange, verdict: DenyReason | 'embedded_ipv4'];

const rule = (cidr: string, verdict: Rule[1]): Rule => [parseCidr(cidr), verdict];

// First match wins, so the narrow ranges come before the ones containing them.
const IPV4_RULES: readonly Rule[] = [
  rule('255.255.255.255', 'broadcast'),
  rule('169.254.169.254', 'cloud_metadata'),
  rule('0.0.0.0/8', 'unspecified'), // "this network"; 0.0.0.0 itself reaches the local host
  rule('10.0.0.0/8', 'private'),
  rule('100.64.0.0/10', 'cgnat'),
  rule('127.0.0.0/8', 'loopback'),
  rule('169.254.0.0/16', 'link_local'),
  rule('172.16.0.0/12', 'private'),
  rule('192.0.0.0/24', 'reserved'), // IETF protocol assignments
  rule('192.0.2.0/24', 'reserved'), // documentation
  rule('192.88.99.0/24', 'reserved'), // former 6to4 relay anycast
  rule('192.168.0.0/16', 'private'),
  rule('198.18.0.0/15', 'reserved'), // benchmarking
  rule('198.51.100.0/24', 'reserved'), // documentation
  rule('203.0.113.0/24', 'reserved'), // documentation
  rule('224.0.0.0/4', 'multicast'),
  rule('240.0.0.0/4', 'reserved'),
];

const IPV6_RULES: readonly Rule[] = [
  rule('::', 'unspecified'),
  rule('::1', 'loopback'),
  rule('::ffff:0:0/96', 'embedded_ipv4'), // IPv4-mapped: the IPv4 address itself
  rule('64:ff9b::/96', 'embedded_ipv4'), // NAT64: the gateway reaches the embedded IPv4
  rule('64:ff9b:1::/48', 'reserved'), // local-use NAT64, translation unknown
  rule('::/96', 'reserved'), // IPv4-compatible, deprecated
  rule('100::/64', 'reserved'), // discard-only
  rule('2001::/32', 'reserved'), // Teredo: tunnels to an obfuscated IPv4, never a webhook host
  rule('2001:2::/48', 'reserved'), // benchmarking
  rule('2001:10::/28', 'reserved'), // ORCHID
  rule('2001:20::/28', 'reserved'), // ORCHIDv2
  rule('2001:db8::/32', 'reserved'), // documentation
  rule('2002::/16', 'embedded_ipv4'), // 6to4: relays to the IPv4 in bits 16-47
  rule('3fff::/20', 'reserved'), // documentation
  rule('fd00:ec2::254', 'cloud_metadata'),
  rule('fc00::/7', 'unique_local'),
  rule('fe80::/10', 'link_local'),
  rule('fec0::/10', 'private'), // site-local, deprecated
  rule('ff00::/8', 'multicast'),
];

const GLOBAL_UNICAST_V6 = parseCidr('2000::/3');

/**
 * `'public'` for a public unicast address, otherwise why it is not one. IPv4-mapped, NAT64 and
 * 6to4 IPv6 addresses are judged by the IPv4 address they carry; IPv6 outside 2000::/3 is
 * `reserved`. Text that is not a strict IP address is `not_an_ip`.
 */
export function classifyAddress(ip: string): AddressClass {
  const address = parseIp(ip);
  return address === undefined ? 'not_an_ip' : classify(address);
}

function classify(address: IpAddress): AddressClass {
  const rules = address.family === 4 ? IPV4_RULES : IPV6_RULES;
  const match = rules.find(([range]) => inPrefix(address.bytes, range.bytes, range.prefixLength));
  if (match?.[1] === 'embedded_ipv4') {
    const start = match[0].prefixLength === 16 ? 2 : 12;
    return classify({ family: 4, bytes: address.bytes.slice(start, start + 4) });
  }
  if (match) return match[1];
  if (address.family === 6 && !inPrefix(address.bytes, GLOBAL_UNICAST_V6.bytes, 3)) {
    return 'reserved';
  }
  return 'public';
}

/** Why `ip` may not be reached, or undefined when it may: public, or in the allowlist. */
export function egressDenial(ip: string, allowlist: readonly IpRange[]): DenyReason | undefined {
  const address = parseIp(ip);
  if (address === undefined) return 'not_an_ip';
  if (inAllowlist(address, allowlist)) return undefined;
  const verdict = classify(address);
  return verdict === 'public' ? undefined : verdict;
}

export type EgressRefusal = DenyReason | 'invalid_url' | 'unsupported_scheme';

/** An outgoing URL or connection refused by the egress policy; `code` is `egress_denied`. */
export class EgressDeniedError extends Error {
  override name = 'EgressDeniedError';
  readonly code = 'egress_denied';
  constructor(
    readonly reason: EgressRefusal,
    /** The host as written in the URL. */
    readonly host: string,
    /** The refused address, when an address was refused. */
    readonly address?: string,
  ) {
    super(describe(reason, host, address));
  }

  /** As a 400 detail of the request field that held the URL. */
  toDetail(field: string): ErrorDetail {
    return fieldError(field, this.code, this.message);
  }
}

/**
 * The egress refusal behind a failed outgoing request, if that is why it failed: the connector's
 * refusal arrives as is, or wrapped as the cause (fetch and some undici paths wrap).
 */
export function egressRefusalOf(error: unknown): EgressDeniedError | undefined {
  if (error instanceof EgressDeniedError) return error;
  const cause = error instanceof Error ? error.cause : undefined;
  return cause instanceof EgressDeniedError ? cause : undefined;
}

function describe(reason: EgressRefusal, host: string, address: string | undefined): string {
  if (reason === 'invalid_url') return 'egress_denied: not a valid URL';
  if (reason === 'unsupported_scheme') {
    return `egress_denied: only http and https endpoints are allowed, not ${host}`;
  }
  const where = address === undefined || address === host ? address : `${address} (${host})`;
  return `egress_denied: ${where ?? host} is ${reason.replaceAll('_', ' ')} and not in EGRESS_ALLOWLIST`;
}

/** Resolves a host name to all its addresses, as `dns.lookup(host, { all: true })` does. */
export type Resolver = (hostname: string) => Promise<LookupAddress[]>;

/** The system resolver (getaddrinfo, so /etc/hosts counts, as it will when connecting). */
export const systemResolver: Resolver = (hostname) =>
  new Promise((resolve, reject) => {
    dnsLookup(hostname, { all: true }, (error, addresses) =>
      error ? reject(error) : resolve(addresses),
    );
  });

export interface EgressOptions {
  /** `EGRESS_ALLOWLIST`, parsed: addresses reached even though they are not public. */
  allowlist: readonly IpRange[];
  /** How host names are resolved. Default {@link systemResolver}. */
  resolve?: Resolver;
  /**
   * Origins (`http://host:port`, as `URL.origin` spells them) reached whatever their addresses:
   * only for URLs an operator wrote into the service's configuration, never for a URL a user
   * of the API chose. Give them to a dispatcher of their own, so that a webhook pointed at the
   * same origin is still refused by the shared one. Default none.
   */
  trustedOrigins?: readonly string[];
}

export interface CheckedEndpoint {
  url: URL;
  /** What the host resolved to now; empty when it did not resolve (it is checked again at connection time). */
  addresses: string[];
}

/**
 * The creation-time check of an outgoing URL (webhook endpoint, executor URL): http or https only, and every address its host
 * resolves to now must be allowed (one internal address among public ones is refused: the
 * connection could pick it). A host that does not resolve yet passes, since every connection is
 * checked anyway. Numeric IPv4 spellings (`2130706433`, `0x7f000001`, `127.1`) need no care
 * here: the WHATWG URL parser already turns them into `127.0.0.1`.
 * Throws {@link EgressDeniedError}.
 */
export async function checkEndpointUrl(
  endpoint: string,
  { allowlist, resolve = systemResolver }: EgressOptions,
): Promise<CheckedEndpoint> {
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    throw new EgressDeniedError('invalid_url', endpoint);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new EgressDeniedError('unsupported_scheme', url.protocol.replace(/:$/, ''));
  }
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  let addresses: string[];
  if (isIP(host)) {
    addresses = [host];
  } else {
    try {
      addresses = (await resolve(host)).map((entry) => entry.address);
    } catch {
      return { url, addresses: [] };
    }
  }
  refuseDenied(host, addresses, allowlist);
  return { url, addresses };
}

function refuseDenied(host: string, addresses: readonly string[], allowlist: readonly IpRange[]) {
  for (const address of addresses) {
    const reason = egressDenial(address, allowlist);
    if (reason) throw new EgressDeniedError(reason, host, address);
  }
}

/**
 * The undici dispatcher for every outgoing HTTP request: an Agent whose connections come from
 * {@link createEgressConnector}. Redirects are never followed: this is a plain Agent with no
 * redirect interceptor, so use undici's `request` (or `fetch` with `redirect: 'manual'`); a
 * client that follows redirects itself still has every hop checked.
 */
export function createEgressDispatcher(options: EgressOptions): Dispatcher {
  return new Agent({ connect: createEgressConnector(options) });
}

/**
 * An undici connector that checks every new connection three ways:
 * - a literal IP host is judged before connecting;
 * - a host name is resolved through a lookup that refuses the whole answer when any address in
 *   it is denied, so nothing connects to a denied address: the socket connects only to
 *   addresses this lookup returned, and it runs for every new connection (no answer from
 *   creation time is trusted, which is what defeats DNS rebinding);
 * - once connected, the socket's remote address is judged again before the socket is handed
 *   over for a request, and the socket is destroyed when it is denied. The lookup makes this
 *   unreachable in plain TCP; it stays as the last word in case a connection is ever made
 *   some other way (a different base connector, a future change in undici or node:net).
 * Refusals fail the request with {@link EgressDeniedError}.
 *
 * @param buildBase makes the connector that really connects, given the guarded lookup; default
 *   undici's `buildConnector` (tests pass a fake one).
 */
export function createEgressConnector(
  { allowlist, resolve = systemResolver, trustedOrigins = [] }: EgressOptions,
  buildBase: (options: { lookup: LookupFunction }) => buildConnector.connector = buildConnector,
): buildConnector.connector {
  const lookup: LookupFunction = (hostname, options, callback) => {
    resolve(hostname).then(
      (answer) => {
        const wanted = options.family === 4 || options.family === 6 ? options.family : undefined;
        const addresses = wanted ? answer.filter((entry) => entry.family === wanted) : answer;
        try {
          refuseDenied(
            hostname,
            addresses.map((entry) => entry.address),
            allowlist,
          );
        } catch (error) {
          callback(error as NodeJS.ErrnoException, '');
          return;
        }
        const [first] = addresses;
        if (first === undefined) {
          callback(
            Object.assign(new Error(`${hostname} has no address`), { code: 'ENOTFOUND' }),
            '',
          );
        } else if (options.all) {
          callback(null, addresses);
        } else {
          callback(null, first.address, first.family);
        }
      },
      (error: NodeJS.ErrnoException) => callback(error, ''),
    );
  };
  const base = buildBase({ lookup });
  const trusted = new Set(trustedOrigins.map((origin) => new URL(origin).origin));
  const trustedBase = trusted.size > 0 ? buildBase({ lookup: dnsLookup }) : undefined;

  return (options, callback) => {
    const host = options.hostname;
    if (trustedBase && trusted.has(originOf(options))) {
      trustedBase(options, callback);
      return;
    }
    if (isIP(host)) {
      const reason = egressDenial(host, allowlist);
      if (reason) {
        callback(new EgressDeniedError(reason, host, host), null);
        return;
      }
    }
    base(options, (error, socket) => {
      if (error || socket === null) {
        callback(error ?? new Error('no socket'), null);
        return;
      }
      const remote = (socket as Socket).remoteAddress ?? 'unknown address';
      const reason = egressDenial(remote, allowlist);
      if (reason) {
        socket.destroy();
        callback(new EgressDeniedError(reason, host, remote), null);
        return;
      }
      callback(null, socket);
    });
  };
}

/** The origin a connection is for, spelled as `URL.origin` spells it (default ports omitted). */
function originOf(options: buildConnector.Options): string {
  const host = isIP(options.hostname) === 6 ? `[${options.hostname}]` : options.hostname;
  return new URL(`${options.protocol}//${host}:${options.port}`).origin;
}
