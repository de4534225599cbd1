"""The chargers a suite run can be pointed at. A target opens a fresh lab per check (the
same charger, reset) and says which lab capabilities it has."""

from pathlib import Path

from conformance.sim_lab import SimLab

FIRMWARE = Path(__file__).resolve().parents[1] / "firmware"


class SimTarget:
    """The firmware core on the emulated board, in virtual time (the firmware imported
    from firmware/ or from --firmware DIR, see conformance/__main__.py); for the checks
    through the back-end and the energy manager, the same firmware in the emulated charger
    process with the gateway, the bundled CSMS and a mosquitto broker (backend_lab)."""

    name = "sim"
    capabilities = SimLab.capabilities | {"backend", "energy_manager"}
    description = "firmware core on the emulated board (sim_hardware), virtual time"

    def __init__(self, seed=1, firmware_dir=FIRMWARE):
        self._seed = seed
        self.firmware_dir = Path(firmware_dir)
        self._security_lab = None

    def backend_lab(self, settings=None):
        from conformance.backend_lab import BackendLab

        return BackendLab(self.firmware_dir, settings=settings)

    def security_lab(self):
        """The one station the security checks share (conformance/security_lab.py), started
        by the first check that asks for it, stopped by release_shared_labs() when the run
        ends (runner.run)."""
        if self._security_lab is None:
            from conformance.security_lab import SecurityLab

            self._security_lab = SecurityLab(self.firmware_dir)
        return self._security_lab

    def release_shared_labs(self):
        if self._security_lab is not None:
            self._security_lab.close()
            self._security_lab = None

    def lab(self, settings=None, meter=None, ev="basic", seed=None):
        if seed is None:
            self._seed += 1
            seed = self._seed
        return SimLab(settings=settings, seed=seed, meter=meter, ev=ev)
