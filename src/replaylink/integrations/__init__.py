"""The integration use case: a project's provider credentials, checked, encrypted and audited.

- ``settings``: validate, split secrets from the rest, mask, merge, diff (no I/O).
- ``connect``: open a provider with the process's outbound guard and limits.
- ``failures``: what a provider failure means for the user (one vocabulary everywhere).
- ``service``: save, patch, check, delete, pause, resume, re-encrypt, history; what routers
  and the CLI call.
"""
