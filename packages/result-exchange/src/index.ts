// @switchyard/result-exchange: status polls from any region (H9). A region answers other regions'
// lookups of its 202 results from its store (RemoteResults.serve) and asks them on a local miss
// (RemoteResults.lookup); the store is given as ClaimableResults, so this package knows no service.
export type {
  ClaimableResults,
  ClaimedResult,
  ClaimOutcome,
  RemoteOutcome,
  RemoteResultsOptions,
  ResultExchangeLogger,
} from './remote-results.ts';
export { RemoteResults } from './remote-results.ts';
