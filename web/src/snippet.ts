// The install lines of Preferences > Project, filled in with this server's address and the project key.

export function trackerSnippet(server: string, projectKey: string): string {
  return `<script>
  (function (w, d, s) {
    var q = [];
    var api = {};
    ["start", "stop", "setUserID", "setMetadata", "event", "handleError"].forEach(function (m) {
      api[m] = function () { q.push([m, [].slice.call(arguments)]); };
    });
    api.getSessionToken = function () { return undefined; };
    api.getSessionID = function () { return undefined; };
    api.getSessionURL = function () { return undefined; };
    api.isActive = function () { return false; };
    api._q = q;
    api._options = { projectKey: ${JSON.stringify(projectKey)}, ingestPoint: ${JSON.stringify(server)} };
    w.OpenReplay = w.OpenReplay || api;
    var t = d.createElement(s);
    t.async = true;
    t.src = ${JSON.stringify(server + "/static/tracker.js")};
    d.head.appendChild(t);
  })(window, document, "script");
</script>`;
}

export function npmLines(server: string, projectKey: string): string {
  return `npm i @replaylink/tracker

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

export const PYTHON_LINES = `pip install replaylink-sdk

import replaylink_sdk
replaylink_sdk.logging.install()                                              # plain logging
app.wsgi_app = replaylink_sdk.wsgi.SessionTokenMiddleware(app.wsgi_app)       # Flask (any WSGI app)
app.add_middleware(replaylink_sdk.asgi.SessionTokenMiddleware)                 # FastAPI / Starlette
MIDDLEWARE = ["replaylink_sdk.django.SessionTokenMiddleware", ...]            # Django
sentry_sdk.init(dsn=..., integrations=[replaylink_sdk.sentry.ReplayLinkIntegration()])  # Sentry`;

export const MARKER_LINE = "[openReplaySessionToken=<token>] your error message";
