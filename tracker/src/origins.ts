/** Which request URLs get the session token: the page's origin and the configured `tokenOrigins`. */

import type { OriginPattern } from "./options";

export type OriginTest = (origin: string) => boolean;

const DEFAULT_PORT: Record<string, string> = { "http:": "80", "https:": "443" };

/** `https://API.example.com:443/x` -> `https://api.example.com`; null when not an http(s) URL. */
export function originOf(url: string, base?: string): string | null {
  try {
    const parsed = new URL(url, base);
    if (parsed.protocol !== "http:" && parsed.protocol !== "https:") return null;
    return parsed.origin;
  } catch {
    return null;
  }
}

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** `https://*.example.com[:port|:*]`: any subdomain (one or more labels, not the apex), like CSP. */
function wildcard(pattern: string): RegExp | null {
  const m = /^(https?):\/\/\*\.([a-z0-9.-]+)(?::(\d{1,5}|\*))?\/?$/i.exec(pattern.trim());
  if (!m) return null;
  const scheme = m[1]!.toLowerCase();
  const host = m[2]!.toLowerCase().replace(/\.$/, "");
  const port = m[3];
  let portPart = "";
  if (port === "*") portPart = "(?::\\d{1,5})?";
  else if (port && port !== DEFAULT_PORT[`${scheme}:`]) portPart = `:${port}`;
  return new RegExp(`^${scheme}://(?:[a-z0-9-]+\\.)+${escape(host)}${portPart}$`);
}

/** Compiles `tokenOrigins`; a malformed entry is reported through `onInvalid` and matches nothing. */
export function compileOrigins(patterns: OriginPattern[] | undefined, onInvalid: (p: string) => void): OriginTest {
  const exact = new Set<string>();
  const regexps: RegExp[] = [];
  for (const pattern of patterns ?? []) {
    if (pattern instanceof RegExp) {
      regexps.push(new RegExp(pattern.source, pattern.flags.replace(/[gy]/g, "")));
      continue;
    }
    if (typeof pattern !== "string") {
      onInvalid(String(pattern));
      continue;
    }
    if (pattern.includes("*")) {
      const re = wildcard(pattern);
      if (re) regexps.push(re);
      else onInvalid(pattern);
      continue;
    }
    const origin = originOf(pattern);
    if (origin && new URL(pattern).pathname.replace(/\/$/, "") === "") exact.add(origin);
    else onInvalid(pattern);
  }
  return (origin) => exact.has(origin) || regexps.some((re) => re.test(origin));
}
