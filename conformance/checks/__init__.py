"""The checks, one module per area; importing this package registers them all
(conformance/registry.py). Each check takes (target, result): it opens its own lab with
target.lab(...), acts on the charger from outside and records what it measured."""

from conformance.checks import (  # noqa: F401
    backend,
    control,
    iec61851,
    measurement,
    owner,
    power_quality,
    resilience,
    secure_link,
    security,
    security_station,
)
