"""ReplayLink: backend errors from your log providers, on each recorded session's timeline."""

__version__ = "0.1.0"
