// geodns server, built without listening: one UDP socket and one TCP listener on the same port, each
// query decoded with dns-packet and answered by answerQuery from the live region health.
import dgram from 'node:dgram';
import { createServer, isIPv6, type Server, type Socket } from 'node:net';
import dnsPacket from 'dns-packet';
import type { Logger } from 'pino';
import type { GeoDnsConfig } from './config.ts';
import { type AnswerResult, answerQuery, encodeResponse, formatErrorFor, type Zone } from './dns-answer.ts';
import { loadGeoData } from './geo-locate.ts';
import { type HealthSource, RegionPicker } from './region-pick.ts';

/** What {@link GeoDns} is built from besides its configuration. */
export interface GeoDnsDeps {
  /** Live region health (a `RegionHealthView`). */
  health: HealthSource;
  /** Structured logger. */
  logger: Logger;
  /**
   * Called after each answered query (metrics).
   * @default undefined
   */
  onAnswer?: (result: AnswerResult, transport: 'udp' | 'tcp') => void;
}

/** How many times listen() retries when port 0 gave a UDP port whose TCP twin is taken. */
const PORT_PAIR_ATTEMPTS = 5;

/**
 * The authoritative DNS server for `config.domain` (D1, D2). Build it, then {@link listen}; answers
 * are computed per query from the health view, so a region that goes stale leaves answers at once.
 */
export class GeoDns {
  readonly config: GeoDnsConfig;
  /** Region choice, exposed for diagnostics and tests. */
  readonly picker: RegionPicker;
  readonly #deps: GeoDnsDeps;
  readonly #zone: Zone;
  #udp: dgram.Socket | undefined;
  #tcp: Server | undefined;
  readonly #connections = new Set<Socket>();

  /**
   * Loads the geoip data (about 70 ms, ~110 MB) so the first query is not slow.
   * @param config resolved configuration.
   * @param deps health view, logger, answer hook.
   */
  constructor(config: GeoDnsConfig, deps: GeoDnsDeps) {
    this.config = config;
    this.#deps = deps;
    this.picker = new RegionPicker(config, deps.health);
    this.#zone = {
      domain: config.domain,
      ttlSeconds: config.ttlSeconds,
      nameservers: [...config.nameservers],
      nameserverAddresses: new Map(
        Object.entries(config.nameserverAddresses).map(([name, addresses]) => [name.toLowerCase(), [...addresses]]),
      ),
      hostmaster: config.hostmaster ?? `hostmaster.${config.domain}`,
      serial: Math.floor(Date.now() / 1000) >>> 0,
    };
    loadGeoData();
  }

  /**
   * Binds UDP, then TCP on the same port (with port 0, retries until both get one free port).
   * @returns the bound port.
   * @throws the socket error (EADDRINUSE, EACCES for ports < 1024 without privilege).
   */
  async listen(): Promise<{ port: number }> {
    for (let attempt = 1; ; attempt++) {
      const udp = await this.#bindUdp(this.config.port);
      const port = udp.address().port;
      try {
        this.#tcp = await this.#listenTcp(port);
        this.#udp = udp;
        return { port };
      } catch (err) {
        udp.close();
        if (this.config.port !== 0 || attempt >= PORT_PAIR_ATTEMPTS) throw err;
      }
    }
  }

  /** Stops both listeners and closes open TCP connections. Idempotent. */
  async close(): Promise<void> {
    const udp = this.#udp;
    const tcp = this.#tcp;
    this.#udp = undefined;
    this.#tcp = undefined;
    for (const socket of this.#connections) socket.destroy();
    await Promise.all([
      udp && new Promise<void>((resolve) => udp.close(() => resolve())),
      tcp && new Promise<void>((resolve) => tcp.close(() => resolve())),
    ]);
  }

  /**
   * Answers raw query bytes (one DNS message, no TCP length prefix).
   * @returns the response bytes, or undefined when nothing must be sent (not a query, no header).
   */
  handle(bytes: Buffer, sourceAddress: string, transport: 'udp' | 'tcp'): Buffer | undefined {
    let query: dnsPacket.DecodedPacket;
    try {
      query = dnsPacket.decode(bytes);
    } catch {
      return formatErrorFor(bytes);
    }
    if (query.type !== 'query') return undefined;
    const result = answerQuery(query, sourceAddress, this.#zone, this.picker);
    this.#deps.onAnswer?.(result, transport);
    if (this.#deps.logger.isLevelEnabled('debug'))
      this.#deps.logger.debug(
        {
          name: query.questions?.[0]?.name,
          type: query.questions?.[0]?.type,
          rcode: result.rcode,
          region: result.region,
        },
        'dns query',
      );
    return encodeResponse(result, transport);
  }

  #bindUdp(port: number): Promise<dgram.Socket> {
    const socket = dgram.createSocket({ type: isIPv6(this.config.host) ? 'udp6' : 'udp4', reuseAddr: false });
    socket.on('message', (msg, rinfo) => {
      const reply = this.#safeHandle(msg, rinfo.address, 'udp');
      if (reply !== undefined) socket.send(reply, rinfo.port, rinfo.address);
    });
    return new Promise((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(port, this.config.host, () => {
        socket.off('error', reject);
        socket.on('error', (err) => this.#deps.logger.warn({ err }, 'udp socket error'));
        resolve(socket);
      });
    });
  }

  #listenTcp(port: number): Promise<Server> {
    const server = createServer((socket) => this.#serveTcp(socket));
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, this.config.host, () => {
        server.off('error', reject);
        resolve(server);
      });
    });
  }

  /** RFC 7766: messages framed by a 2-byte length; several per connection, answered in order. */
  #serveTcp(socket: Socket): void {
    this.#connections.add(socket);
    socket.setTimeout(this.config.tcpIdleTimeoutMs, () => socket.destroy());
    socket.on('error', () => socket.destroy());
    socket.on('close', () => this.#connections.delete(socket));
    let pending: Buffer = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
      while (pending.length >= 2) {
        const length = pending.readUInt16BE(0);
        if (pending.length < 2 + length) break;
        const message = pending.subarray(2, 2 + length);
        pending = pending.subarray(2 + length);
        const reply = this.#safeHandle(message, socket.remoteAddress ?? '', 'tcp');
        if (reply === undefined) continue;
        const frame = Buffer.alloc(2 + reply.length);
        frame.writeUInt16BE(reply.length, 0);
        reply.copy(frame, 2);
        socket.write(frame);
      }
    });
  }

  #safeHandle(bytes: Buffer, sourceAddress: string, transport: 'udp' | 'tcp'): Buffer | undefined {
    try {
      return this.handle(bytes, sourceAddress, transport);
    } catch (err) {
      // A bug must cost one query, not the server: SERVFAIL-less silence lets the resolver retry.
      this.#deps.logger.error({ err }, 'dns query failed');
      return undefined;
    }
  }
}
