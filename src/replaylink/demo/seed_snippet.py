"""The Elasticsearch seed page's Python monkey patch, as written (``--snippet-mode seed``).

Everything below the marker line is the page's code byte for byte (``tests/test_demo_seed_snippet.py``
compares it with the page when the seed documents are at hand). It keeps the real stdout as
``old_f``, replaces ``sys.stderr`` and ``traceback.print_exception``, and reads the module global
``OPENREPLAY_SESSION_TOKEN``, which the seed-mode shop sets for each request. Importing this module
applies the patch to the whole process.
"""

# ruff: noqa
# fmt: off
# mypy: ignore-errors
# ---- the seed page's snippet starts here ----
import sys
import traceback
#...
old_tb = traceback.print_exception
old_f = sys.stdout
old_e = sys.stderr
OPENREPLAY_SESSION_TOKEN = None

class F:
    def write(self, x):
        if OPENREPLAY_SESSION_TOKEN is not None and x != '\n':
            old_f.write(f"[openReplaySessionToken={OPENREPLAY_SESSION_TOKEN}] {x}")
        else:
            old_f.write(x)

    def flush(self):
        pass

def tb_print_exception(etype, value, tb, limit=None, file=None, chain=True):
    if OPENREPLAY_SESSION_TOKEN is not None:
        value = type(value)(f"[openReplaySessionToken={OPENREPLAY_SESSION_TOKEN}] " + str(value))
    old_tb(etype, value, tb, limit, file, chain)

traceback.print_exception = tb_print_exception

sys.stderr = F()
