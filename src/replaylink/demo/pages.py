"""The shop's HTML pages: one layout, the tracker snippet on every page, a strict CSP.

The pages hold no user data: ``static/shop.js`` renders the catalogue, the cart (kept in
``localStorage``) and the checkout result with ``textContent`` only.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from html import escape

PAGES = {
    "catalogue": ("/", "Catalogue"),
    "cart": ("/cart", "Cart"),
    "checkout": ("/checkout", "Checkout"),
}


@dataclass(frozen=True)
class PageContext:
    replaylink_url: str
    project_key: str
    mode: str


def tracker_snippet(replaylink_url: str, project_key: str) -> str:
    """The tracker snippet exactly as ReplayLink's README documents it, for this server and project.

    The shop's API is on the page's own origin, so the tracker adds the token header by itself
    (no ``tokenOrigins`` needed); ``shop.js`` also sets it as the seed page's example does.
    """
    src = json.dumps(replaylink_url + "/static/tracker.js")
    config = json.dumps({"projectKey": project_key})
    return f"""
(function (w, d, src, cfg) {{
  if (w.OpenReplay) return;
  var q = [], r = (w.OpenReplay = {{ _q: q, _cfg: cfg }});
  ["start", "stop", "setUserID", "setMetadata", "event", "handleError"].forEach(function (m) {{
    r[m] = function () {{
      var a = [].slice.call(arguments);
      return new Promise(function (res) {{ q.push([m, a, res]); }});
    }};
  }});
  r.getSessionToken = r.getSessionID = r.getSessionURL = function () {{ return null; }};
  r.isActive = function () {{ return false; }};
  var s = d.createElement("script"); s.async = true; s.src = src;
  (d.head || d.documentElement).appendChild(s);
}})(window, document, {src}, {config});
OpenReplay.start();
"""


def _hash(script: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(script.encode()).digest()).decode() + "'"


def content_security_policy(ctx: PageContext, inline_scripts: list[str]) -> str:
    hashes = " ".join(_hash(s) for s in inline_scripts)
    origin = ctx.replaylink_url
    return (
        f"default-src 'self'; script-src 'self' {origin} {hashes}; connect-src 'self' {origin}; "
        "img-src 'self' data:; style-src 'self'; "
        "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
    )


def render(page: str, ctx: PageContext) -> tuple[str, str]:
    """(HTML, Content-Security-Policy) of ``page``."""
    _path, title = PAGES[page]
    snippet = tracker_snippet(ctx.replaylink_url, ctx.project_key)
    nav = " ".join(
        f'<a href="{path}"{" aria-current=page" if name == page else ""}>{label}</a>'
        for name, (path, label) in PAGES.items()
    )
    config = escape(json.dumps({"page": page, "mode": ctx.mode}), quote=False)
    html = f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · ReplayLink demo shop</title>
<link rel="stylesheet" href="/static/shop.css">
<script>{snippet}</script>
<script type="application/json" id="shop-config">{config}</script>
<script src="/static/shop.js" defer></script>
</head>
<body>
<header><strong>ReplayLink demo shop</strong><nav>{nav}</nav><span id="cart-count"></span></header>
<main id="{page}">
<h1>{title}</h1>
{_BODIES[page]}
</main>
<footer>Every page records a replay; backend errors land in the log store
and show up on this session's timeline in ReplayLink.</footer>
</body>
</html>
"""
    return html, content_security_policy(ctx, [snippet])


_BODIES = {
    "catalogue": '<ul id="products" class="grid"></ul>',
    "cart": (
        '<table id="cart-lines"><thead><tr><th>Product</th><th>Quantity</th><th>Price</th><th></th></tr>'
        '</thead><tbody></tbody></table><p id="cart-total"></p>'
        '<p><a id="to-checkout" class="button" href="/checkout">Check out</a></p>'
    ),
    "checkout": """<form id="checkout-form">
<label>Name <input name="name" value="Ada Lovelace" maxlength="100" required></label>
<label>Card number <input name="card_number" value="4242 4242 4242 4242" maxlength="25"
 autocomplete="off" required></label>
<label>Shipping <select name="shipping"><option value="standard">Standard</option>
<option value="express">Express</option></select></label>
<label>Split the bill between <input name="split_between" type="number" value="1" min="0" max="20">
 people</label>
<button type="submit" id="pay">Pay</button>
</form>
<p id="checkout-result" role="status"></p>
<details open><summary>How to break it</summary><ul>
<li>card <code>4000 0000 0000 0002</code>: the bank declines it</li>
<li>Express shipping: the carrier times out</li>
<li>split between <code>0</code> people: division by zero</li>
</ul></details>""",
}
