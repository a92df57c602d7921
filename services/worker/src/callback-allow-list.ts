// The callback allow-list (W4): a worker dials only front ends whose callback URI is a bare
// `http://host:port` or `https://host:port` (TLS, checked against the worker's CA for that host: the
// name the allow-list accepts is the name TLS verifies) that starts with one of its configured prefixes. Tickets naming any other URI are
// dropped, and reconnect requests naming one are refused with SY_CALLBACK_NOT_ALLOWED.

/**
 * True when `callbackUri` may be dialled: it parses as `http(s)://host:port` (optionally with a trailing
 * `/`), has no userinfo, path, query or fragment, and its canonical form starts with a prefix of
 * `allowList` (e.g. `http://127.0.0.1:`). Never throws; an unparsable URI is not allowed.
 *
 * W4: the prefix test runs on the URI rebuilt from what will be dialled (scheme, host, port), so
 * `http://127.0.0.1:1@evil:80` (userinfo), paths, queries and odd spellings cannot pass as allowed.
 */
export function isCallbackAllowed(callbackUri: string, allowList: readonly string[]): boolean {
  let url: URL;
  try {
    url = new URL(callbackUri);
  } catch {
    return false;
  }
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.username || url.password || url.search || url.hash)
    return false;
  if (url.pathname !== '/') return false;
  const canonical = `${url.protocol}//${url.host}`;
  if (callbackUri !== canonical && callbackUri !== `${canonical}/`) return false;
  return allowList.some((prefix) => canonical.startsWith(prefix));
}
