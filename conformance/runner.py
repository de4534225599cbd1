"""Runs the checks against a target and turns them into one verdict per requirement ID."""

import time
import traceback

from conformance import lab as lab_mod
from conformance.registry import checks_for
from conformance.requirements import IDS
from conformance.result import (
    FAIL,
    NOT_APPLICABLE,
    NOT_SHOWN,
    PASS,
    NotApplicable,
    NotShown,
    Result,
)


def run_check(target, req_id, fn, needs, plots_dir=None):
    r = Result(req_id, fn.__name__)
    r.plots_dir = plots_dir
    lacking = lab_mod.missing(target, needs)
    if lacking:
        r.verdict = NOT_SHOWN
        r.reason = "the %s target cannot: %s" % (target.name, ", ".join(lacking))
        return r
    t0 = time.monotonic()
    try:
        fn(target, r)
        r.finish()
    except NotShown as e:
        r.verdict, r.reason = NOT_SHOWN, str(e)
    except NotApplicable as e:
        r.verdict, r.reason = NOT_APPLICABLE, str(e)
    except Exception as e:  # a check that crashes is a failure, reported with its cause
        r.finish(error="%s: %s\n%s" % (type(e).__name__, e, traceback.format_exc(limit=4)))
    r.duration_s = time.monotonic() - t0
    return r


def id_verdict(results):
    """One verdict for an ID from its checks' results: any fail fails; all pass (or pass
    and not applicable) passes; only not applicable is not applicable; else not shown."""
    vs = [r.verdict for r in results]
    if not vs:
        return NOT_SHOWN
    if FAIL in vs:
        return FAIL
    if NOT_SHOWN in vs:
        return NOT_SHOWN
    if PASS in vs:
        return PASS
    return NOT_APPLICABLE


def run(target, ids=None, plots_dir=None, progress=None):
    """-> {req_id: [Result]} for every ID of DESIGN §6 (or of ids), in report order."""
    wanted = IDS if ids is None else [i for i in IDS if i in ids]
    by_id = {i: [] for i in wanted}
    try:
        for req_id, fn, needs in checks_for(wanted):
            r = run_check(target, req_id, fn, needs, plots_dir)
            by_id[req_id].append(r)
            if progress:
                progress(r)
    finally:
        release = getattr(target, "release_shared_labs", None)  # labs checks share
        if release is not None:
            release()
    return by_id
