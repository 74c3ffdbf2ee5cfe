"""``replaylink demo``: the whole loop on one machine, with real parts and no cloud account.

- ``run``: the orchestration: osmem-server, ``replaylink serve`` with its importer, the shop,
  optionally a simulation; every process in its own process group, all stopped on every path.
- ``bootstrap``: the demo's data directory: schema, project, sign-in and API key.
- ``shop``: the demo shop (catalogue, cart, checkout) whose checkout fails on purpose.
- ``logstore``: ships the shop's error logs into OpenSearch in the Elasticsearch seed page's format.
- ``seed_snippet``: the seed page's Python monkey patch, verbatim (``--snippet-mode seed``).
- ``simulate``: scripted shopping sessions in Chromium through Playwright.
- ``processes`` and ``ports``: process groups and loopback ports.

The shop talks to ReplayLink only through the browser tracker and the log store; ReplayLink
finds the errors by polling like any Elasticsearch integration.
"""
