"""Helpers shared by the tests."""

from __future__ import annotations

import os
import tempfile
import unittest
from unittest import mock

_KEEP = ("SECRETBROKER_TEST_DAEMON", "SECRETBROKER_TEST_LEGACY_CONFIG")
_DROP = ("XDG_STATE_HOME", "RPA_SECRET_MANAGER", "RC_VAULT_SECRET_MANAGER")


def isolate_env(test: unittest.TestCase, **values: str) -> str:
    """Replaces os.environ for the duration of test: no SECRETBROKER_*
    variable (but the test harness's), no XDG_STATE_HOME, HOME an empty
    temporary directory (so no real admin.token is found), then ``values``.
    Returns that HOME."""
    home = tempfile.mkdtemp(prefix="sbpy-home-")
    test.addCleanup(_rmtree, home)
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in _DROP and (not k.startswith("SECRETBROKER_") or k in _KEEP)
    }
    env["HOME"] = home
    env.update(values)
    patcher = mock.patch.dict(os.environ, env, clear=True)
    patcher.start()
    test.addCleanup(patcher.stop)
    return home


def _rmtree(path: str) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)
