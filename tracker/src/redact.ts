/** Privacy helpers: redact sensitive URL parts, obscure emails and numbers in text. */

const EMAIL = /[\w.+-]{1,64}(?:@|%40)[\w-]{1,63}(?:\.[\w-]{1,63}){1,8}/g;
const SENSITIVE_NAME =
  /token|key|secret|pass|pwd|auth|session|sid|sig|code|credential|jwt|otp|ssn|email|mail|phone|card|cvv|iban/i;
export const REDACTED = "[redacted]";
const MAX_URL = 2048;

function stars(text: string): string {
  return text.replace(/[^@.%]/g, "*");
}

/** `jane.doe@example.com` -> `****.***@*******.com` (keeps the shape, drops the letters). */
export function obscureEmails(text: string): string {
  if (text.indexOf("@") < 0 && text.indexOf("%40") < 0) return text;
  return text.replace(EMAIL, (email) => {
    const dot = email.lastIndexOf(".");
    return stars(email.slice(0, dot)) + email.slice(dot);
  });
}

export function obscureNumbers(text: string): string {
  return text.replace(/\d/g, "*");
}

function redactParams(part: string): string {
  return part
    .split("&")
    .map((pair) => {
      const eq = pair.indexOf("=");
      if (eq < 0) return pair;
      let name = pair.slice(0, eq);
      try {
        name = decodeURIComponent(name.replace(/\+/g, " "));
      } catch {
        /* keep the raw name */
      }
      return SENSITIVE_NAME.test(name) ? `${pair.slice(0, eq)}=${REDACTED}` : pair;
    })
    .join("&");
}

/** The URL as recorded: no credentials, sensitive query and fragment values redacted, emails obscured. */
export function redactUrl(url: string, base?: string): string {
  let out: string;
  try {
    const parsed = new URL(url, base);
    parsed.username = "";
    parsed.password = "";
    const search = parsed.search ? `?${redactParams(parsed.search.slice(1))}` : "";
    const hash = parsed.hash.includes("=") ? `#${redactParams(parsed.hash.slice(1))}` : parsed.hash;
    out = `${parsed.origin === "null" ? `${parsed.protocol}` : parsed.origin}${parsed.pathname}${search}${hash}`;
  } catch {
    out = String(url);
  }
  out = obscureEmails(out);
  return out.length > MAX_URL ? `${out.slice(0, MAX_URL)}…` : out;
}

/** Shortens untrusted text for a devtools event. */
export function truncate(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max)}…[${text.length - max} more]` : text;
}
