"""What the firmware tells the gateway, with the link's wire codes turned into names
(protocols/LINK.md §4), and the errors of requests. The name tables are derived from
protocols.link_messages, so a code added there is named here without an edit."""

from dataclasses import dataclass, field

from protocols import link
from protocols import link_messages as lm


class LinkError(Exception):
    """A request got no usable answer."""


class LinkTimeout(LinkError):
    """No answer in time (the EVSE is offline, or the firmware did not answer)."""


class Nak(LinkError):
    """The firmware refused the request with a NAK: .error is the E_* code (E_TYPE: it
    does not know the message)."""

    def __init__(self, error, mtype):
        super().__init__("NAK %d for %s" % (error, link.message_name(mtype)))
        self.error = error


def _names(prefix):
    return {v: k[len(prefix):].lower() for k, v in vars(lm).items()
            if k.startswith(prefix) and isinstance(v, int)}


FLAG_NAMES = _names("F_")  # bit -> "failsafe", "override", "time_valid", ...
SOURCE_NAMES = _names("SRC_")  # SRC_* -> "csms", "cable", "failsafe", ...
CAPABILITY_NAMES = _names("CAP_")  # bit -> "meter", "schedule", ...
STATUS_NAMES = _names("ST_")  # ST_* -> "ok", "stale", ...
EVENT_NAMES = {code: ev[0] for code, ev in lm.EVENTS.items()}


def bit_names(value, table):
    return frozenset(name for bit, name in table.items() if value & bit)


@dataclass(frozen=True)
class Result:
    """RESULT of a request: status ST_* and the per-request value (LINK.md §4 RESULT)."""
    status: int
    value: int

    @property
    def ok(self):
        return self.status == lm.ST_OK

    @property
    def status_name(self):
        return STATUS_NAMES.get(self.status, str(self.status))


@dataclass(frozen=True)
class SettingValue:
    status: int
    key: str
    value: object  # int, str (a refusal's reason when status is not ST_OK) or None

    @property
    def ok(self):
        return self.status == lm.ST_OK


@dataclass(frozen=True)
class PeerInfo:
    """The firmware's HELLO."""
    major: int
    minor: int
    phases: int
    capabilities: int
    max_current_ma: int
    link_timeout_ms: int
    unacked_seq: int
    sw_version: str

    @classmethod
    def from_fields(cls, f):
        return cls(f["major"], f["minor"], f["phases"], f["capabilities"], f["max_current_ma"],
                   f["link_timeout_ms"], f["unacked_seq"], f["sw_version"])

    @property
    def version(self):
        return "%d.%d" % (self.major, self.minor)

    @property
    def minor_in_force(self):
        """LINK.md §5.3: the lower of the two minors."""
        return min(self.minor, lm.PROTOCOL_MINOR)

    @property
    def capability_names(self):
        return bit_names(self.capabilities, CAPABILITY_NAMES)


@dataclass(frozen=True)
class Telemetry:
    """One TELEMETRY, named. Equality ignores when it was received."""
    cp_state: str  # "A".."F", "unknown"
    session: str  # lm.SESSION_STATES
    contactor: bool
    limit_source: str
    flags: frozenset
    duty_permille: int
    offered_ma: int
    current_ma: tuple  # L1, L2, L3; negative when exporting
    voltage_mv: tuple
    power_w: int
    energy_import_wh: int
    energy_export_wh: int
    frequency_mhz: int
    delay_remaining_s: int
    soc_percent: int | None  # None: unknown
    meter_age_ms: int | None  # None: 65535 ms or older, or no meter
    received_unix_ms: int = field(compare=False, default=0)

    @classmethod
    def from_fields(cls, f, received_unix_ms=0):
        cp = f["cp_state"]
        s = f["session"]
        return cls(
            cp_state=lm.CP_STATES[cp] if cp < len(lm.CP_STATES) else "unknown",
            session=lm.SESSION_STATES[s] if s < len(lm.SESSION_STATES) else "unknown",
            contactor=bool(f["contactor"]),
            limit_source=SOURCE_NAMES.get(f["limit_source"], str(f["limit_source"])),
            flags=bit_names(f["flags"], FLAG_NAMES),
            duty_permille=f["duty_permille"],
            offered_ma=f["offered_ma"],
            current_ma=(f["current_l1_ma"], f["current_l2_ma"], f["current_l3_ma"]),
            voltage_mv=(f["voltage_l1_mv"], f["voltage_l2_mv"], f["voltage_l3_mv"]),
            power_w=f["power_w"],
            energy_import_wh=f["energy_import_wh"],
            energy_export_wh=f["energy_export_wh"],
            frequency_mhz=f["frequency_mhz"],
            delay_remaining_s=f["delay_remaining_s"],
            soc_percent=None if f["soc_percent"] == lm.SOC_UNKNOWN else f["soc_percent"],
            meter_age_ms=None if f["meter_age_ms"] == 0xFFFF else f["meter_age_ms"],
            received_unix_ms=received_unix_ms,
        )

    def has(self, flag):
        """has("failsafe"), has("time_valid"), ..."""
        return flag in self.flags
