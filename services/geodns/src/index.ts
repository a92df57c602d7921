// @switchyard/geodns: authoritative geo DNS for grpc., *.invocation. and api.<domain> (D1, D2).

export type { GeoDnsDeps } from './app.ts';
export { GeoDns } from './app.ts';
export type { GeoDnsConfig, RegionSpec } from './config.ts';
export { GeoDnsConfigSchema, RegionSpecSchema } from './config.ts';
export type { AnswerResult, Zone } from './dns-answer.ts';
export { answerQuery, classifyName, encodeResponse, Rcode } from './dns-answer.ts';
export type { GeoPoint } from './geo-locate.ts';
export { distanceKm, locate } from './geo-locate.ts';
export type { HealthSource, RegionPick } from './region-pick.ts';
export { RegionPicker } from './region-pick.ts';
