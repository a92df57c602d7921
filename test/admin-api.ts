// The operators' API as the end-to-end tests call it: JSON in and out with the admin token.
import assert from 'node:assert/strict';

/** Calls one admin API route; fails the test on any non-2xx answer. */
export type AdminApi = <T>(method: string, path: string, body?: unknown) => Promise<T>;

/**
 * An {@link AdminApi} for the API at `baseUrl()` (read per call: a region launched in `before` is not
 * there yet when the test file loads), authenticated with `adminToken`.
 */
export function adminApi(baseUrl: () => string, adminToken: string): AdminApi {
  return async <T>(method: string, path: string, body?: unknown): Promise<T> => {
    const res = await fetch(`${baseUrl()}${path}`, {
      method,
      headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    assert.ok(res.ok, `${method} ${path}: ${res.status} ${await res.clone().text()}`);
    return (await res.json()) as T;
  };
}
