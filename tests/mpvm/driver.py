# Runs on the MicroPython VM: imports each test module, calls its test_
# functions in source order and prints one result line per test for pytest
# (tests/conftest.py) to read. Kept to what MicroPython 1.27 has.
import gc
import io
import json
import sys

FAILED = 0
_MARK = "@@mpvm "


def _report(module, test, outcome, detail):
    print(_MARK + json.dumps({"module": module, "test": test, "outcome": outcome,
                              "detail": detail}))


def _traceback(exc):
    buf = io.StringIO()
    sys.print_exception(exc, buf)
    return buf.getvalue()


def _tests_in(mod):
    # MicroPython keeps module globals in a dict without source order; sort
    # by name so every run is in the same order.
    names = [n for n in dir(mod) if n.startswith("test_")]
    names.sort()
    return [(n, getattr(mod, n)) for n in names if callable(getattr(mod, n))]


def main(modules):
    global FAILED
    print(_MARK + json.dumps({"vm": sys.version, "implementation": sys.implementation.name}))
    for name in modules:
        try:
            mod = __import__(name)
        except Exception as e:
            FAILED += 1
            _report(name, None, "error", "import failed:\n" + _traceback(e))
            continue
        for test, fn in _tests_in(mod):
            gc.collect()
            try:
                fn()
            except Exception as e:
                FAILED += 1
                _report(name, test, "failed", _traceback(e))
            else:
                _report(name, test, "passed", "")
        del sys.modules[name]
