// Builds the authoritative answer to one decoded DNS query: which names the zone serves, NXDOMAIN and
// NODATA with the SOA, REFUSED outside the zone, and the EDNS Client Subnet echo (RFC 7871).
import { isIPv4, isIPv6 } from 'node:net';
import * as ipCodec from '@leichtgewicht/ip-codec';
import type { AddressService } from '@switchyard/region-health';
import dnsPacket, { type Answer, type DecodedPacket, type OptAnswer, type Packet, type Question } from 'dns-packet';
import type { RegionPicker } from './region-pick.ts';

/** DNS response codes this server sends. */
export const Rcode = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 } as const;
export type Rcode = keyof typeof Rcode;

/** EDNS option code of Client Subnet. */
const ECS_OPTION = 8;
/** EDNS UDP payload size this server advertises and honours at most (the DNS flag day 2020 value). */
export const MAX_UDP_PAYLOAD_BYTES = 1232;
/** UDP payload limit without EDNS. */
export const CLASSIC_UDP_PAYLOAD_BYTES = 512;

/** The zone's fixed data, resolved from the configuration. */
export interface Zone {
  /** Apex, lower case, no trailing dot. */
  domain: string;
  /** TTL of positive answers and of negative ones (SOA minimum), in seconds. */
  ttlSeconds: number;
  /** NS names of the apex. */
  nameservers: string[];
  /**
   * Addresses of the NS names inside the zone (lower case, no trailing dot): their A/AAAA answers
   * and the additional records of the apex NS answer, the same as the parent's glue.
   */
  nameserverAddresses: ReadonlyMap<string, readonly string[]>;
  /** SOA RNAME. */
  hostmaster: string;
  /** SOA serial (seconds since the epoch when the server started). */
  serial: number;
}

/** One answered query. */
export interface AnswerResult {
  /** Response to encode. */
  response: Packet;
  /** Response code, for logs and metrics. */
  rcode: Rcode | 'BADVERS';
  /** Region whose addresses were answered, when any. */
  region?: string;
  /** Largest UDP response the client accepts, in bytes. */
  udpLimitBytes: number;
  /** True when the query carried an EDNS Client Subnet option (valid or not), for metrics. */
  ecs: boolean;
}

interface ClientSubnet {
  family: 1 | 2;
  sourcePrefixLength: number;
  ip: string;
}

type Target =
  | { kind: 'apex' }
  | { kind: 'service'; service: AddressService }
  | { kind: 'nameserver'; addresses: readonly string[] }
  | { kind: 'empty' }
  | { kind: 'none' };

/**
 * Classifies a query name relative to the zone: `grpc`, `api`, `<labels>.invocation` are services;
 * `invocation` itself has names below it (NODATA); anything else in the zone does not exist; names
 * outside the zone are `undefined` (REFUSED).
 */
export function classifyName(name: string, domain: string): Target | undefined {
  const n = name.toLowerCase().replace(/\.$/, '');
  if (n === domain) return { kind: 'apex' };
  if (!n.endsWith(`.${domain}`)) return undefined;
  const rel = n.slice(0, -domain.length - 1);
  if (rel === 'grpc') return { kind: 'service', service: 'grpc' };
  if (rel === 'api') return { kind: 'service', service: 'api' };
  if (rel.endsWith('.invocation') && rel.length > '.invocation'.length) return { kind: 'service', service: 'http' };
  if (rel === 'invocation') return { kind: 'empty' };
  return { kind: 'none' };
}

/**
 * Answers one query. Contract (D1): A/AAAA for `grpc.`, `*.invocation.` and `api.<domain>` carry the
 * addresses of the region {@link RegionPicker} chooses for the ECS address when one is sent (source
 * prefix > 0), else for `sourceAddress`; the ECS option is echoed with scope = source prefix when the
 * answer depends on location, 0 when it does not. The apex has SOA and NS (with the addresses of the
 * NS names inside the zone as additional records); those NS names have their configured A/AAAA.
 * Other names in the zone: NXDOMAIN + SOA; other types: NODATA + SOA; names outside the zone: REFUSED;
 * opcodes other than QUERY: NOTIMP.
 *
 * @param query decoded request (`type: 'query'`).
 * @param sourceAddress the resolver's address as the socket saw it.
 */
export function answerQuery(
  query: DecodedPacket,
  sourceAddress: string,
  zone: Zone,
  picker: RegionPicker,
): AnswerResult {
  const opt = query.additionals?.find((a): a is OptAnswer => a.type === 'OPT');
  const ecsPresent = opt?.options?.some((o) => Number(o.code) === ECS_OPTION) ?? false;
  const udpLimitBytes =
    opt === undefined
      ? CLASSIC_UDP_PAYLOAD_BYTES
      : Math.min(MAX_UDP_PAYLOAD_BYTES, Math.max(CLASSIC_UDP_PAYLOAD_BYTES, opt.udpPayloadSize));
  const response: Packet & {
    questions: Question[];
    answers: Answer[];
    authorities: Answer[];
    additionals: Answer[];
  } = {
    type: 'response',
    id: query.id,
    flags: (query.flags ?? 0) & (dnsPacket.RECURSION_DESIRED | (0xf << 11)), // keep RD and the opcode
    questions: query.questions ?? [],
    answers: [],
    authorities: [],
    additionals: [],
  };
  const responseOpt: OptAnswer | undefined =
    opt === undefined
      ? undefined
      : {
          type: 'OPT',
          name: '.',
          udpPayloadSize: MAX_UDP_PAYLOAD_BYTES,
          extendedRcode: 0,
          ednsVersion: 0,
          flags: 0,
          flag_do: false,
          options: [],
        };
  if (responseOpt !== undefined) response.additionals.push(responseOpt);
  const finish = (rcode: Rcode, authoritative: boolean, region?: string): AnswerResult => {
    response.flags = (response.flags ?? 0) | Rcode[rcode] | (authoritative ? dnsPacket.AUTHORITATIVE_ANSWER : 0);
    return { response, rcode, region, udpLimitBytes, ecs: ecsPresent };
  };

  if ((((query.flags ?? 0) >> 11) & 0xf) !== 0) return finish('NOTIMP', false); // opcode QUERY only
  if (response.questions.length !== 1) return finish('FORMERR', false);
  if (opt !== undefined && opt.ednsVersion > 0) {
    // RFC 6891: BADVERS is extended rcode 16 = OPT extendedRcode 1 with header rcode 0.
    if (responseOpt !== undefined) responseOpt.extendedRcode = 1;
    return { ...finish('NOERROR', false), rcode: 'BADVERS' };
  }
  const ecs = readClientSubnet(opt);
  if (ecs === 'invalid') return finish('FORMERR', false);

  const [question] = response.questions;
  if (question.class !== undefined && question.class !== 'IN' && question.class !== 'ANY')
    return finish('REFUSED', false);
  const nsAddresses = zone.nameserverAddresses.get(question.name.toLowerCase().replace(/\.$/, ''));
  const target: Target | undefined =
    nsAddresses !== undefined
      ? { kind: 'nameserver', addresses: nsAddresses }
      : classifyName(question.name, zone.domain);
  if (target === undefined) return finish('REFUSED', false);

  const soa = soaRecord(zone);
  const qtype: string = question.type; // 'ANY' (255) decodes as such but is missing from the typings
  switch (target.kind) {
    case 'none':
      response.authorities.push(soa);
      return finish('NXDOMAIN', true);
    case 'empty':
      response.authorities.push(soa);
      return finish('NOERROR', true);
    case 'apex':
      if (qtype === 'SOA' || qtype === 'ANY') response.answers.push(soa);
      if (qtype === 'NS' || qtype === 'ANY')
        for (const ns of nameservers(zone)) {
          response.answers.push({ type: 'NS', name: zone.domain, ttl: zone.ttlSeconds, data: ns });
          // the in-zone NS names' addresses, before the OPT record (RFC 1034 4.3.2 additional section)
          const glue = addressRecords(ns, zone.nameserverAddresses.get(ns) ?? [], 'ANY', zone.ttlSeconds);
          response.additionals.splice(response.additionals.length - (responseOpt ? 1 : 0), 0, ...glue);
        }
      if (response.answers.length === 0) response.authorities.push(soa);
      return finish('NOERROR', true);
    case 'nameserver':
      response.answers.push(...addressRecords(question.name, target.addresses, qtype, zone.ttlSeconds));
      if (response.answers.length === 0) response.authorities.push(soa); // NODATA: the name exists
      return finish('NOERROR', true);
    case 'service': {
      const wantsA = qtype === 'A' || qtype === 'ANY';
      const wantsAAAA = qtype === 'AAAA' || qtype === 'ANY';
      if (!wantsA && !wantsAAAA) {
        response.authorities.push(soa);
        return finish('NOERROR', true);
      }
      const client = ecs !== undefined && ecs.sourcePrefixLength > 0 ? ecs.ip : sourceAddress;
      const pick = picker.pick(target.service, client);
      response.answers.push(...addressRecords(question.name, pick.addresses, qtype, zone.ttlSeconds));
      if (response.answers.length === 0) response.authorities.push(soa);
      if (ecs !== undefined && responseOpt !== undefined)
        responseOpt.options.push({
          code: ECS_OPTION,
          family: ecs.family,
          sourcePrefixLength: ecs.sourcePrefixLength,
          scopePrefixLength: pick.byLocation ? ecs.sourcePrefixLength : 0,
          ip: ecs.ip,
        } as OptAnswer['options'][number]);
      return finish('NOERROR', true, pick.region);
    }
  }
}

/**
 * Encodes a response for the transport: over UDP, one larger than the client's limit is sent with
 * TC set and no records (the client retries over TCP).
 */
export function encodeResponse(result: AnswerResult, transport: 'udp' | 'tcp'): Buffer {
  const bytes = dnsPacket.encode(result.response);
  if (transport === 'tcp' || bytes.length <= result.udpLimitBytes) return bytes;
  const opt = result.response.additionals?.filter((a) => a.type === 'OPT') ?? [];
  return dnsPacket.encode({
    ...result.response,
    flags: (result.response.flags ?? 0) | dnsPacket.TRUNCATED_RESPONSE,
    answers: [],
    authorities: [],
    additionals: opt,
  });
}

/**
 * A FORMERR reply for a packet whose header parsed but whose body did not, or undefined when even the
 * 12-byte header is missing (then nothing is sent).
 */
export function formatErrorFor(bytes: Buffer): Buffer | undefined {
  if (bytes.length < 12) return undefined;
  const reply = Buffer.alloc(12);
  bytes.copy(reply, 0, 0, 2); // id
  const flags = bytes.readUInt16BE(2);
  if (flags & 0x8000) return undefined; // a response: never answer one
  reply.writeUInt16BE(0x8000 | (flags & (0xf << 11)) | (flags & dnsPacket.RECURSION_DESIRED) | Rcode.FORMERR, 2);
  return reply;
}

/** A and AAAA records of `name` for the addresses of the family `qtype` asks for (both for ANY). */
function addressRecords(name: string, addresses: readonly string[], qtype: string, ttl: number): Answer[] {
  const out: Answer[] = [];
  for (const address of addresses) {
    if ((qtype === 'A' || qtype === 'ANY') && isIPv4(address)) out.push({ type: 'A', name, ttl, data: address });
    if ((qtype === 'AAAA' || qtype === 'ANY') && isIPv6(address)) out.push({ type: 'AAAA', name, ttl, data: address });
  }
  return out;
}

function soaRecord(zone: Zone): Answer & { type: 'SOA' } {
  return {
    type: 'SOA',
    name: zone.domain,
    ttl: zone.ttlSeconds,
    data: {
      mname: nameservers(zone)[0],
      rname: zone.hostmaster,
      serial: zone.serial,
      refresh: 3600,
      retry: 600,
      expire: 604_800,
      minimum: zone.ttlSeconds,
    },
  };
}

function nameservers(zone: Zone): string[] {
  return zone.nameservers.length > 0 ? zone.nameservers : [`ns.${zone.domain}`];
}

/** The ECS option of a query, masked to its source prefix; 'invalid' for a malformed one (FORMERR). */
function readClientSubnet(opt: OptAnswer | undefined): ClientSubnet | undefined | 'invalid' {
  const option = opt?.options.find((o) => Number(o.code) === ECS_OPTION) as
    | { family?: number; sourcePrefixLength?: number; ip?: string }
    | undefined;
  if (option === undefined) return undefined;
  const { family, sourcePrefixLength: prefix, ip } = option;
  if ((family !== 1 && family !== 2) || prefix === undefined || ip === undefined) return 'invalid';
  const bits = family === 1 ? 32 : 128;
  if (prefix > bits) return 'invalid';
  const bytes = ipCodec.encode(ip);
  if (bytes.length * 8 !== bits) return 'invalid';
  for (let i = 0; i < bytes.length; i++) {
    const keep = Math.max(0, Math.min(8, prefix - i * 8));
    bytes[i] &= (0xff << (8 - keep)) & 0xff;
  }
  return { family, sourcePrefixLength: prefix, ip: ipCodec.decode(bytes) };
}
