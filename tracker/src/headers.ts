/** Adding the session token to a request's headers without disturbing what the app set. */

import { BAGGAGE_KEY } from "./options";

/** What to add to one request: the token header (unless the app set it) and/or a baggage member. */
export interface TokenHeaders {
  name: string | false;
  token: string;
  baggage: boolean;
}

/** `existing` plus `openReplaySessionToken=<token>`; an existing member of that key is left as it is. */
export function mergeBaggage(existing: string | null | undefined, token: string): string {
  const member = `${BAGGAGE_KEY}=${encodeURIComponent(token)}`;
  const current = (existing ?? "").trim();
  if (!current) return member;
  const has = current.split(",").some((m) => m.split(";")[0]!.split("=")[0]!.trim() === BAGGAGE_KEY);
  return has ? current : `${current},${member}`;
}

/** A new `Headers` with the token added; `source` is whatever `fetch` accepts as `init.headers`. */
export function withToken(source: HeadersInit | undefined, add: TokenHeaders): Headers {
  const headers = new Headers(source);
  if (add.name && !headers.has(add.name)) headers.set(add.name, add.token);
  if (add.baggage) headers.set("baggage", mergeBaggage(headers.get("baggage"), add.token));
  return headers;
}
