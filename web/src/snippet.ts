// The install lines of Preferences > Project, filled in with this server's address and the project key.

export function trackerSnippet(server: string, projectKey: string): string {
  // The README's snippet (tracker/src reads `_q` and `_cfg` from this stub), filled in.
  return `<script>
(function (w, d, src, cfg) {
  if (w.OpenReplay) return;
  var q = [], r = (w.OpenReplay = { _q: q, _cfg: cfg });
  ["start", "stop", "setUserID", "setMetadata", "event", "handleError"].forEach(function (m) {
    r[m] = function () {
      var a = [].slice.call(arguments);
      return new Promise(function (res) { q.push([m, a, res]); });
    };
  });
  r.getSessionToken = r.getSessionID = r.getSessionURL = function () { return null; };
  r.isActive = function () { return false; };
  var s = d.createElement("script"); s.async = true; s.src = src;
  (d.head || d.documentElement).appendChild(s);
})(window, document, ${JSON.stringify(server + "/static/tracker.js")}, {
  projectKey: ${JSON.stringify(projectKey)},
  network: { tokenOrigins: [] } // add your API's origins, e.g. "https://api.example.com"
});
OpenReplay.start();
</script>`;
}

export function npmLines(server: string, projectKey: string): string {
  return `make tracker                             # in your ReplayLink checkout: builds tracker/dist
npm install /path/to/replaylink/tracker  # in your app's directory (not on the npm registry)

import Tracker from "@replaylink/tracker";

const tracker = new Tracker({
  projectKey: ${JSON.stringify(projectKey)},
  ingestPoint: ${JSON.stringify(server)},
});
tracker.start();`;
}

export const HEADER_LINES = `const headers = { Accept: "application/json", "Content-Type": "application/json" };
if (tracker.getSessionToken()) { // or window.OpenReplay with the snippet
  headers["X-OpenReplay-SessionToken"] = tracker.getSessionToken();
}
fetch("https://api.your-backend.com/orders", { method: "GET", headers });`;

export const PYTHON_LINES = `pip install ./sdk/python  # in your ReplayLink checkout's root, into your app's environment

import replaylink_sdk
replaylink_sdk.logging.install()                                              # plain logging
app.wsgi_app = replaylink_sdk.wsgi.SessionTokenMiddleware(app.wsgi_app)       # Flask (any WSGI app)
app.add_middleware(replaylink_sdk.asgi.SessionTokenMiddleware)                 # FastAPI / Starlette
MIDDLEWARE = ["replaylink_sdk.django.SessionTokenMiddleware", ...]            # Django
sentry_sdk.init(dsn=..., integrations=[replaylink_sdk.sentry.ReplayLinkIntegration()])  # Sentry`;

export const MARKER_LINE = "[openReplaySessionToken=<token>] your error message";
