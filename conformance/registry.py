"""The checks, each registered against the requirement ID it shows and the lab
capabilities it needs (conformance/lab.py CAPABILITIES). A target that lacks one gets
"not shown" with the reason, never a pass."""

CHECKS = []  # (req_id, function, needs) in registration order


def check(req_id, needs=()):
    def register(fn):
        CHECKS.append((req_id, fn, tuple(needs)))
        return fn
    return register


def checks_for(ids=None):
    from conformance import checks  # noqa: F401  (registers every check module)

    if ids is None:
        return list(CHECKS)
    return [c for c in CHECKS if c[0] in ids]
