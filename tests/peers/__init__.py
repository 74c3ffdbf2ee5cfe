"""Every peer the tests talk to instead of a real provider, in one place, named by one rule.

- ``<provider>_fake.py`` (``<provider>_<purpose>_fake.py`` for a variant): a server written
  here that speaks the provider's API contract (datadog, sentry, sumologic, elasticsearch).
- ``<server>_peer.py``: a real server package started for the tests (moto for CloudWatch,
  osmem-server for OpenSearch), with helpers to seed and reset it.
- ``common.py``: what they share (free ports, serving an app on plain or TLS HTTP).
"""
