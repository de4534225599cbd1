"""The chargers a suite run can be pointed at. A target opens a fresh lab per check (the
same charger, reset) and says which lab capabilities it has."""

from conformance.sim_lab import SimLab


class SimTarget:
    """The firmware core on the emulated board, in virtual time (the firmware imported
    from firmware/ or from --firmware DIR, see conformance/__main__.py)."""

    name = "sim"
    capabilities = SimLab.capabilities
    description = "firmware core on the emulated board (sim_hardware), virtual time"

    def __init__(self, seed=1):
        self._seed = seed

    def lab(self, settings=None, meter=None, ev="basic", seed=None):
        if seed is None:
            self._seed += 1
            seed = self._seed
        return SimLab(settings=settings, seed=seed, meter=meter, ev=ev)
