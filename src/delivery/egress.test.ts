import { createServer, type Server } from 'node:http';
import net, { type AddressInfo, isIP, type Socket } from 'node:net';
import tls from 'node:tls';
import { type buildConnector, fetch, request } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { SSRF_FORMS } from '../testing/ssrf-forms.ts';
import {
  checkEndpointUrl,
  classifyAddress,
  createEgressConnector,
  createEgressDispatcher,
  EgressDeniedError,
  egressDenial,
  type Resolver,
} from './egress.ts';
import { parseAllowlist } from './ip.ts';

// Only loopback servers are ever connected to. Private, link-local and metadata addresses are
// judged before any connection, and the tests below check that no connection was attempted.

async function refusal(promise: Promise<unknown>): Promise<EgressDeniedError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (error instanceof EgressDeniedError) return error;
  // fetch wraps dispatcher errors in a TypeError with the original as the cause.
  if (error instanceof Error && error.cause instanceof EgressDeniedError) return error.cause;
  throw new Error(`expected an egress refusal, got ${String(error)}`);
}

describe('classifyAddress', () => {
  it.each([
    ['8.8.8.8', 'public'],
    ['93.184.216.34', 'public'],
    ['172.32.0.1', 'public'],
    ['100.128.0.1', 'public'],
    ['127.0.0.1', 'loopback'],
    ['127.255.255.254', 'loopback'],
    ['10.0.0.1', 'private'],
    ['172.16.0.1', 'private'],
    ['172.31.255.255', 'private'],
    ['192.168.1.1', 'private'],
    ['100.64.0.1', 'cgnat'],
    ['100.127.255.255', 'cgnat'],
    ['169.254.169.254', 'cloud_metadata'],
    ['169.254.1.1', 'link_local'],
    ['0.0.0.0', 'unspecified'],
    ['0.1.2.3', 'unspecified'],
    ['255.255.255.255', 'broadcast'],
    ['224.0.0.1', 'multicast'],
    ['239.255.255.250', 'multicast'],
    ['240.0.0.1', 'reserved'],
    ['192.0.2.1', 'reserved'],
    ['198.18.0.1', 'reserved'],
    ['2606:4700:4700::1111', 'public'],
    ['2a00:1450:4001:80b::200e', 'public'],
    ['::1', 'loopback'],
    ['::', 'unspecified'],
    ['::ffff:127.0.0.1', 'loopback'],
    ['::ffff:7f00:1', 'loopback'],
    ['::ffff:169.254.169.254', 'cloud_metadata'],
    ['::ffff:10.0.0.1', 'private'],
    ['::ffff:8.8.8.8', 'public'],
    ['64:ff9b::10.0.0.1', 'private'],
    ['64:ff9b::7f00:1', 'loopback'],
    ['64:ff9b::8.8.8.8', 'public'],
    ['2002:7f00:1::', 'loopback'],
    ['2002:a9fe:a9fe::1', 'cloud_metadata'],
    ['2002:808:808::1', 'public'],
    ['2001:0:4136:e378:8000:63bf:3fff:fdd2', 'reserved'],
    ['fd00:ec2::254', 'cloud_metadata'],
    ['fd12:3456::1', 'unique_local'],
    ['fc00::1', 'unique_local'],
    ['fe80::1', 'link_local'],
    ['fe80::1%eth0', 'link_local'],
    ['fec0::1', 'private'],
    ['ff02::1', 'multicast'],
    ['2001:db8::1', 'reserved'],
    ['::127.0.0.1', 'reserved'],
    ['100::1', 'reserved'],
    ['4000::1', 'reserved'],
    ['localhost', 'not_an_ip'],
    ['2130706433', 'not_an_ip'],
    ['0x7f000001', 'not_an_ip'],
    ['127.1', 'not_an_ip'],
  ])('%s is %s', (address, verdict) => {
    expect(classifyAddress(address)).toBe(verdict);
  });
});

describe('egressDenial', () => {
  it('lets public and allowlisted addresses through, and says why others are denied', () => {
    const allowlist = parseAllowlist('127.0.0.1, 10.8.0.0/16');
    expect(egressDenial('8.8.8.8', allowlist)).toBeUndefined();
    expect(egressDenial('127.0.0.1', allowlist)).toBeUndefined();
    expect(egressDenial('::ffff:127.0.0.1', allowlist)).toBeUndefined();
    expect(egressDenial('10.8.3.4', allowlist)).toBeUndefined();
    expect(egressDenial('127.0.0.2', allowlist)).toBe('loopback');
    expect(egressDenial('10.9.0.1', allowlist)).toBe('private');
    expect(egressDenial('::1', allowlist)).toBe('loopback');
    expect(egressDenial('', allowlist)).toBe('not_an_ip');
  });
});

describe('checkEndpointUrl', () => {
  const publicResolver: Resolver = async () => [{ address: '93.184.216.34', family: 4 }];
  const none = { allowlist: [], resolve: publicResolver };

  it('lets the URL parser normalise numeric IPv4 hosts, so they are judged as addresses', () => {
    for (const host of ['2130706433', '0x7f000001', '017700000001', '127.1', '0x7f.1']) {
      expect(new URL(`http://${host}/`).hostname).toBe('127.0.0.1');
    }
    expect(new URL('http://[::ffff:127.0.0.1]/').hostname).toBe('[::ffff:7f00:1]');
  });

  it.each([
    ['http://127.0.0.1:8080/hook', 'loopback', '127.0.0.1'],
    ['http://169.254.169.254/latest/meta-data/', 'cloud_metadata', '169.254.169.254'],
    ['http://10.0.0.1/', 'private', '10.0.0.1'],
    ['http://[::1]/', 'loopback', '::1'],
    ['http://[::ffff:127.0.0.1]/', 'loopback', '::ffff:7f00:1'],
    ['http://2130706433/', 'loopback', '127.0.0.1'],
    ['http://0x7f000001/', 'loopback', '127.0.0.1'],
    ['http://017700000001/', 'loopback', '127.0.0.1'],
    ['http://127.1/', 'loopback', '127.0.0.1'],
    ['https://[fd00:ec2::254]/', 'cloud_metadata', 'fd00:ec2::254'],
    ['http://100.64.1.1/', 'cgnat', '100.64.1.1'],
    ['http://[fd12::1]/', 'unique_local', 'fd12::1'],
  ])('refuses %s (%s)', async (url, reason, address) => {
    const error = await refusal(checkEndpointUrl(url, none));
    expect(error).toMatchObject({ code: 'egress_denied', reason, address });
    expect(error.message).toContain(address);
    expect(error.message).toContain(reason.replace('_', ' '));
    expect(error.toDetail('subscriber.endpoint')).toEqual({
      field: 'subscriber.endpoint',
      code: 'egress_denied',
      message: error.message,
    });
  });

  it(`refuses every one of the ${SSRF_FORMS.length} SSRF forms for its reason`, async () => {
    const verdicts = await Promise.all(
      SSRF_FORMS.map(async ([url]) => [
        url,
        (await refusal(checkEndpointUrl(url, { allowlist: [] }))).reason,
      ]),
    );
    expect(verdicts).toEqual(SSRF_FORMS.map(([url, reason]) => [url, reason]));
  });

  it.each([
    ['ftp://example.com/file', 'unsupported_scheme'],
    ['file:///etc/passwd', 'unsupported_scheme'],
    ['gopher://example.com/', 'unsupported_scheme'],
    ['not a url', 'invalid_url'],
  ])('refuses %s (%s)', async (url, reason) => {
    expect(await refusal(checkEndpointUrl(url, none))).toMatchObject({ reason });
  });

  it('refuses a host name resolving to an internal address, naming both', async () => {
    const resolve: Resolver = async () => [{ address: '10.1.2.3', family: 4 }];
    const error = await refusal(
      checkEndpointUrl('https://hooks.example.com/x', { allowlist: [], resolve }),
    );
    expect(error).toMatchObject({
      reason: 'private',
      host: 'hooks.example.com',
      address: '10.1.2.3',
    });
    expect(error.message).toBe(
      'egress_denied: 10.1.2.3 (hooks.example.com) is private and not in EGRESS_ALLOWLIST',
    );
  });

  it('refuses when any one of the resolved addresses is internal', async () => {
    const resolve: Resolver = async () => [
      { address: '93.184.216.34', family: 4 },
      { address: 'fe80::1', family: 6 },
    ];
    const error = await refusal(
      checkEndpointUrl('https://mixed.example/', { allowlist: [], resolve }),
    );
    expect(error).toMatchObject({ reason: 'link_local', address: 'fe80::1' });
  });

  it('accepts public endpoints and allowlisted ones, returning what they resolved to', async () => {
    await expect(checkEndpointUrl('https://hooks.example.com/x', none)).resolves.toMatchObject({
      addresses: ['93.184.216.34'],
    });
    const allowlist = parseAllowlist('127.0.0.1');
    await expect(checkEndpointUrl('http://127.0.0.1:9/x', { allowlist })).resolves.toMatchObject({
      addresses: ['127.0.0.1'],
    });
    await expect(checkEndpointUrl('http://2130706433:9/', { allowlist })).resolves.toMatchObject({
      addresses: ['127.0.0.1'],
    });
  });

  it('resolves host names with the system resolver by default (localhost is loopback)', async () => {
    expect(await refusal(checkEndpointUrl('http://localhost:1/', { allowlist: [] }))).toMatchObject(
      {
        reason: 'loopback',
        host: 'localhost',
      },
    );
  });

  it('lets a host that does not resolve yet through (connections are checked anyway)', async () => {
    const resolve: Resolver = async () => {
      throw Object.assign(new Error('getaddrinfo ENOTFOUND'), { code: 'ENOTFOUND' });
    };
    await expect(
      checkEndpointUrl('https://not-yet.example/', { allowlist: [], resolve }),
    ).resolves.toMatchObject({ addresses: [] });
  });
});

interface Receiver {
  server: Server;
  port: number;
  hits: number;
  url(path?: string): string;
}

async function receiver(
  host: string,
  respond: (res: import('node:http').ServerResponse) => void = (res) => res.end('ok'),
): Promise<Receiver> {
  const state = { hits: 0 };
  const server = createServer((_, res) => {
    state.hits++;
    respond(res);
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    server,
    port,
    get hits() {
      return state.hits;
    },
    url: (path = '/') => `http://${host}:${port}${path}`,
  };
}

describe('createEgressDispatcher, against real loopback servers', () => {
  let target: Receiver;
  let redirector: Receiver;
  let other: Receiver;
  // Every TCP connection attempt made through node:net (undici's connector uses it), by address.
  const attempts: string[] = [];
  const realConnect = net.connect;
  const realTlsConnect = tls.connect;
  const isLoopback = (address: string) =>
    address.startsWith('127.') || address === '::1' || address.startsWith('::ffff:127.');

  beforeAll(async () => {
    target = await receiver('127.0.0.1');
    // 127.0.0.2 is loopback too (all of 127/8 is), but outside an allowlist of 127.0.0.1.
    other = await receiver('127.0.0.2');
    redirector = await receiver('127.0.0.1', (res) => {
      res.writeHead(302, { location: other.url('/stolen') }).end();
    });
    vi.spyOn(net, 'connect').mockImplementation(((options: net.NetConnectOpts) =>
      guarded(options, realConnect)) as typeof net.connect);
    vi.spyOn(tls, 'connect').mockImplementation(((options: tls.ConnectionOptions) =>
      guarded(options, realTlsConnect)) as typeof tls.connect);
  });

  // Wraps node's connect so that, even if the code under test regressed, no packet leaves for a
  // non-loopback address: such a target is recorded as an attempt and failed locally instead.
  function guarded<T extends Socket>(
    options: (net.NetConnectOpts | tls.ConnectionOptions) & {
      host?: string;
      lookup?: net.LookupFunction;
    },
    connect: (options: never) => T,
  ): T {
    const host = options.host ?? '';
    if (isIP(host) && !isLoopback(host)) {
      attempts.push(host);
      const socket = new net.Socket() as T;
      process.nextTick(() => socket.destroy(new Error(`test guard: no connection to ${host}`)));
      return socket;
    }
    const lookup = options.lookup;
    const socket = connect({
      ...options,
      ...(lookup && {
        lookup: ((hostname, lookupOptions, callback) =>
          lookup(hostname, lookupOptions, (error, address, family) => {
            if (error) return callback(error, address, family);
            const list = typeof address === 'string' ? [address] : address.map((a) => a.address);
            const outside = list.find((a) => !isLoopback(a));
            if (outside === undefined) return callback(null, address, family);
            attempts.push(outside);
            callback(new Error(`test guard: no connection to ${outside}`), '');
          })) as net.LookupFunction,
      }),
    } as never);
    socket.on('connectionAttempt', (ip: string) => attempts.push(ip));
    return socket;
  }

  afterEach(() => {
    attempts.length = 0;
    vi.mocked(net.connect).mockClear();
    vi.mocked(tls.connect).mockClear();
  });

  afterAll(async () => {
    vi.restoreAllMocks();
    for (const r of [target, other, redirector]) {
      r.server.closeAllConnections();
      await new Promise((resolve) => r.server.close(resolve));
    }
  });

  it('refuses 127.0.0.1 when it is not allowlisted, before connecting', async () => {
    const dispatcher = createEgressDispatcher({ allowlist: [] });
    const error = await refusal(request(target.url(), { dispatcher, method: 'POST', body: '{}' }));
    expect(error).toMatchObject({ reason: 'loopback', address: '127.0.0.1' });
    expect(net.connect).not.toHaveBeenCalled();
    expect(target.hits).toBe(0);
  });

  it('reaches 127.0.0.1 when it is allowlisted', async () => {
    const dispatcher = createEgressDispatcher({ allowlist: parseAllowlist('127.0.0.1') });
    const response = await request(target.url(), { dispatcher, method: 'POST', body: '{}' });
    expect(response.statusCode).toBe(200);
    expect(await response.body.text()).toBe('ok');
    expect(target.hits).toBe(1);
    // The attempt log sees real connections: the refusals below that log none mean something.
    expect(attempts).toEqual(['127.0.0.1']);
  });

  it('reaches an origin the operator configured, and nothing else, through a dispatcher of its own', async () => {
    const trusting = createEgressDispatcher({
      allowlist: [],
      trustedOrigins: [new URL(target.url()).origin],
    });
    const response = await request(target.url(), { dispatcher: trusting });
    expect(response.statusCode).toBe(200);
    await response.body.text();
    // Another loopback host, or the same host on another port, is refused as before.
    expect(await refusal(request(other.url(), { dispatcher: trusting }))).toMatchObject({
      reason: 'loopback',
    });
    expect(await refusal(request(redirector.url(), { dispatcher: trusting }))).toMatchObject({
      reason: 'loopback',
    });
    // The shared dispatcher knows nothing of it.
    const shared = createEgressDispatcher({ allowlist: [] });
    expect(await refusal(request(target.url(), { dispatcher: shared }))).toMatchObject({
      reason: 'loopback',
    });
  });

  it('refuses localhost at connection time, with no creation-time check', async () => {
    const dispatcher = createEgressDispatcher({ allowlist: [] });
    const before = target.hits;
    const error = await refusal(request(`http://localhost:${target.port}/`, { dispatcher }));
    expect(error).toMatchObject({ reason: 'loopback', host: 'localhost' });
    expect(attempts).toEqual([]);
    expect(target.hits).toBe(before);
  });

  it('does not pass DNS rebinding: the answer at connection time is the one judged', async () => {
    const answers = ['93.184.216.34', '127.0.0.1'];
    const resolve: Resolver = async () => [{ address: answers.shift()!, family: 4 }];
    const url = `http://rebinding.example:${target.port}/`;
    await expect(checkEndpointUrl(url, { allowlist: [], resolve })).resolves.toBeDefined();

    const before = target.hits;
    const dispatcher = createEgressDispatcher({ allowlist: [], resolve });
    const error = await refusal(request(url, { dispatcher }));
    expect(error).toMatchObject({ reason: 'loopback', address: '127.0.0.1' });
    expect(attempts).toEqual([]);
    expect(target.hits).toBe(before);
  });

  it('refuses a whole answer with one denied address, even when another is allowlisted', async () => {
    const resolve: Resolver = async () => [
      { address: '127.0.0.1', family: 4 },
      { address: '10.0.0.1', family: 4 },
    ];
    const dispatcher = createEgressDispatcher({ allowlist: parseAllowlist('127.0.0.1'), resolve });
    const error = await refusal(request(`http://two.example:${target.port}/`, { dispatcher }));
    expect(error).toMatchObject({ reason: 'private', address: '10.0.0.1' });
    expect(attempts).toEqual([]);
  });

  it('uses the resolver for allowed names and connects to what it returned', async () => {
    const resolve: Resolver = async () => [{ address: '127.0.0.1', family: 4 }];
    const dispatcher = createEgressDispatcher({ allowlist: parseAllowlist('127.0.0.1'), resolve });
    const response = await request(`http://receiver.test:${target.port}/`, { dispatcher });
    expect(response.statusCode).toBe(200);
    await response.body.dump();
    expect(attempts).toEqual(['127.0.0.1']);
  });

  it.each([
    ['http://10.0.0.1/', 'private'],
    ['http://169.254.169.254/latest/meta-data/', 'cloud_metadata'],
    ['https://169.254.169.254/', 'cloud_metadata'],
    ['http://[fd00:ec2::254]/', 'cloud_metadata'],
    ['http://[::1]:PORT/', 'loopback'],
    ['http://[::ffff:127.0.0.1]:PORT/', 'loopback'],
    ['http://2130706433:PORT/', 'loopback'],
    ['http://0x7f000001:PORT/', 'loopback'],
    ['https://127.0.0.1:PORT/', 'loopback'],
  ])('refuses %s (%s) without any connection attempt', async (template, reason) => {
    const dispatcher = createEgressDispatcher({ allowlist: [] });
    const url = template.replace('PORT', String(target.port));
    expect(await refusal(request(url, { dispatcher }))).toMatchObject({ reason });
    expect(net.connect).not.toHaveBeenCalled();
    expect(tls.connect).not.toHaveBeenCalled();
  });

  it(`refuses every one of the ${SSRF_FORMS.length} SSRF forms at connect time, reaching nothing`, async () => {
    const dispatcher = createEgressDispatcher({ allowlist: [] });
    const hits = target.hits;
    for (const [url, reason] of SSRF_FORMS) {
      expect([url, (await refusal(request(url, { dispatcher }))).reason]).toEqual([url, reason]);
    }
    expect(attempts).toEqual([]);
    expect(target.hits).toBe(hits);
    await dispatcher.close();
  });

  it.each([
    ['10.0.0.1', 'private'],
    ['169.254.169.254', 'cloud_metadata'],
    ['fd00:ec2::254', 'cloud_metadata'],
  ])(
    'refuses a name resolving to %s in the lookup, before any attempt',
    async (address, reason) => {
      const resolve: Resolver = async () => [{ address, family: address.includes(':') ? 6 : 4 }];
      const dispatcher = createEgressDispatcher({ allowlist: [], resolve });
      expect(await refusal(request('http://internal.example/', { dispatcher }))).toMatchObject({
        reason,
        address,
      });
      expect(attempts).toEqual([]);
    },
  );

  it('does not follow a redirect to loopback', async () => {
    const dispatcher = createEgressDispatcher({ allowlist: parseAllowlist('127.0.0.0/8') });
    const response = await request(redirector.url(), { dispatcher, method: 'POST', body: '{}' });
    expect(response.statusCode).toBe(302);
    expect(response.headers.location).toBe(other.url('/stolen'));
    await response.body.dump();
    expect(other.hits).toBe(0);
  });

  it('still checks every hop when a client follows redirects itself (fetch)', async () => {
    const narrow = createEgressDispatcher({ allowlist: parseAllowlist('127.0.0.1') });
    const error = await refusal(fetch(redirector.url(), { dispatcher: narrow }));
    expect(error).toMatchObject({ reason: 'loopback', address: '127.0.0.2' });
    expect(other.hits).toBe(0);

    // Control: with 127.0.0.2 allowed the same fetch does arrive there, so the 0 above is real.
    const wide = createEgressDispatcher({ allowlist: parseAllowlist('127.0.0.0/8') });
    const response = await fetch(redirector.url(), { dispatcher: wide });
    expect(response.status).toBe(200);
    expect(other.hits).toBe(1);
  });
});

describe('createEgressConnector', () => {
  type FakeSocket = { remoteAddress: string; destroyed: boolean; destroy(): void };
  const fakeBase = (remoteAddress: string, sockets: FakeSocket[]) => () =>
    ((_options, callback) => {
      const socket: FakeSocket = {
        remoteAddress,
        destroyed: false,
        destroy() {
          this.destroyed = true;
        },
      };
      sockets.push(socket);
      callback(null, socket as unknown as Socket);
    }) as buildConnector.connector;
  const options = {
    hostname: 'hooks.example.com',
    host: 'hooks.example.com',
    protocol: 'https:',
    port: '443',
  };

  it('judges the address actually connected and destroys a denied socket', async () => {
    const sockets: FakeSocket[] = [];
    const connect = createEgressConnector({ allowlist: [] }, fakeBase('10.0.0.7', sockets));
    const result = await new Promise<[Error | null, unknown]>((resolve) =>
      connect(options, (error, socket) => resolve([error, socket])),
    );
    expect(result[0]).toBeInstanceOf(EgressDeniedError);
    expect(result[0]).toMatchObject({
      reason: 'private',
      address: '10.0.0.7',
      host: 'hooks.example.com',
    });
    expect(result[1]).toBeNull();
    expect(sockets[0]!.destroyed).toBe(true);
  });

  it('hands over a socket connected to a public address', async () => {
    const sockets: FakeSocket[] = [];
    const connect = createEgressConnector({ allowlist: [] }, fakeBase('93.184.216.34', sockets));
    const [error, socket] = await new Promise<[Error | null, unknown]>((resolve) =>
      connect(options, (e, s) => resolve([e, s])),
    );
    expect(error).toBeNull();
    expect(socket).toBe(sockets[0]);
    expect(sockets[0]!.destroyed).toBe(false);
  });
});
