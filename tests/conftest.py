import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "mpvm"))

import pytest_plugin as _mpvm  # noqa: E402


def pytest_configure(config):
    config.pluginmanager.register(_mpvm, "mpvm")

try:
    from hypothesis import settings
except ImportError:  # hypothesis is a dev dependency; portable tests do not need it
    pass
else:
    # No per-example deadline: CI machines have two busy cores and timing is
    # not what the property tests check.
    settings.register_profile("default", deadline=None, print_blob=True)
    settings.load_profile("default")
