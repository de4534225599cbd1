# Firmware <-> gateway link: the message catalogue (DESIGN §4; byte layouts in protocols/LINK.md).
# Data only: type codes, the layout table the codec in protocols/link.py is driven by, and the
# code tables the fields refer to. Everything is little-endian; units are in the field names.
try:
    from micropython import const
except ImportError:

    def const(x):
        return x


PROTOCOL_MAJOR = const(1)  # LINK.md §3: a different major is refused (E_VERSION / NAK)
PROTOCOL_MINOR = const(0)  # minors only add message types, codes and capability bits
HEADER_LEN = const(3)  # version u8 (the major), type u8, tag u8
MAX_PAYLOAD = const(250)  # header + body; on the wire <= MAX_PAYLOAD + 5 = 255 <= FRAME_MAX
FRAME_MAX = const(256)  # DESIGN §4: the frame bound on the wire, delimiters included

# Decode results (also the `error` of a NAK). LINK.md §3.
OK = const(0)
E_SHORT = const(1)  # shorter than the header
E_VERSION = const(2)  # header major != PROTOCOL_MAJOR; fields = {"major": theirs}
E_TYPE = const(3)  # unknown message type
E_LENGTH = const(4)  # body length wrong for the type, or a variable part over its bound
E_VALUE = const(5)  # a field that cannot be valid: bad UTF-8, bad key length, periods out of order

# Message types. up = firmware -> gateway, down = gateway -> firmware.
HELLO = const(0x01)  # both
HEARTBEAT = const(0x02)  # both
TIME_SYNC = const(0x03)  # down
RESULT = const(0x04)  # both: the answer to a request that had a tag and has no own answer
NAK = const(0x05)  # both: the tagged payload could not be decoded
TELEMETRY = const(0x10)  # up
EVENT = const(0x11)  # up, at least once (seq)
SESSION = const(0x12)  # up, at least once (seq, same sequence as EVENT)
EVENT_ACK = const(0x13)  # down: every record with seq <= this is stored
LIMIT = const(0x20)  # down, latest generation wins
SCHEDULE = const(0x21)  # down, latest generation wins
SETTING_GET = const(0x30)  # down
SETTING_SET = const(0x31)  # down
SETTING_VALUE = const(0x32)  # up
COMMAND = const(0x40)  # down
FW_BEGIN = const(0x50)  # down
FW_CHUNK = const(0x51)  # down
FW_END = const(0x52)  # down
FW_STATUS = const(0x53)  # up
LOG_REQUEST = const(0x60)  # down
LOG_DATA = const(0x61)  # up

# Variable parts (the tail after the fixed fields): kind, field names, bound.
T_STR = const(1)  # UTF-8 text to the end of the payload, at most bound bytes
T_BYTES = const(2)  # raw bytes to the end of the payload, at most bound bytes
T_PERIODS = const(3)  # (start_offset_s u32, limit_ma u32) * n, n <= bound
T_KV = const(4)  # kind u8, key_len u8, key (1..32 bytes), value (per KV_*), str value <= bound
KEY_MAX = const(32)
KV_NONE = const(0)  # no value (unknown key)
KV_INT = const(1)  # i32
KV_STR = const(2)  # UTF-8 to the end
PERIOD_LEN = const(8)
LIMIT_NONE = const(0xFFFFFFFF)  # limit_ma meaning "no limit from this entity / period"

# type: (name, fixed fields as struct codes, their names, tail or None)
MESSAGES = {
    HELLO: ("HELLO", "B B B B B I I I I",
            ("major", "minor", "role", "flags", "phases", "capabilities", "max_current_ma",
             "link_timeout_ms", "unacked_seq"), (T_STR, ("sw_version",), 32)),
    HEARTBEAT: ("HEARTBEAT", "I", ("uptime_s",), None),
    TIME_SYNC: ("TIME_SYNC", "Q h", ("unix_ms", "utc_offset_min"), None),
    RESULT: ("RESULT", "B B i", ("request_type", "status", "value"), None),
    NAK: ("NAK", "B B B B", ("error", "bad_type", "major", "minor"), None),
    TELEMETRY: ("TELEMETRY", "B B B B H H I i i i I I I i I I H H B H",
                ("cp_state", "session", "contactor", "limit_source", "flags", "duty_permille",
                 "offered_ma", "current_l1_ma", "current_l2_ma", "current_l3_ma",
                 "voltage_l1_mv", "voltage_l2_mv", "voltage_l3_mv", "power_w",
                 "energy_import_wh", "energy_export_wh", "frequency_mhz", "delay_remaining_s",
                 "soc_percent", "meter_age_ms"), None),
    EVENT: ("EVENT", "I I B B H i i", ("seq", "unix_s", "code", "a", "b", "c", "d"), None),
    SESSION: ("SESSION", "I I I I I I I B",
              ("seq", "session_id", "start_unix_s", "stop_unix_s", "charging_s",
               "energy_import_wh", "energy_export_wh", "stop_reason"), None),
    EVENT_ACK: ("EVENT_ACK", "I", ("seq",), None),
    LIMIT: ("LIMIT", "B I I I", ("entity", "generation", "limit_ma", "duration_s"), None),
    SCHEDULE: ("SCHEDULE", "B I I I I",
               ("entity", "generation", "start_unix_s", "duration_s", "repeat_s"),
               (T_PERIODS, ("periods",), 28)),
    SETTING_GET: ("SETTING_GET", "", (), (T_STR, ("key",), KEY_MAX)),
    SETTING_SET: ("SETTING_SET", "", (), (T_KV, ("key", "value"), 212)),
    SETTING_VALUE: ("SETTING_VALUE", "B", ("status",), (T_KV, ("key", "value"), 212)),
    COMMAND: ("COMMAND", "B i", ("command", "arg"), None),
    FW_BEGIN: ("FW_BEGIN", "I 32s", ("size", "sha256"), (T_STR, ("version",), 32)),
    FW_CHUNK: ("FW_CHUNK", "I", ("offset",), (T_BYTES, ("data",), 243)),
    FW_END: ("FW_END", "B", ("action",), None),
    FW_STATUS: ("FW_STATUS", "B B I", ("status", "state", "received"), None),
    LOG_REQUEST: ("LOG_REQUEST", "B I", ("log", "offset"), None),
    LOG_DATA: ("LOG_DATA", "B I I", ("log", "offset", "total"), (T_BYTES, ("data",), 238)),
}

# HELLO
ROLE_FIRMWARE = const(0)
ROLE_GATEWAY = const(1)
HELLO_REPLY = const(0x01)  # flags: this HELLO answers one; do not answer it
CAP_METER = const(1 << 0)  # MID meter (or MID-accurate measurement) fitted
CAP_PP = const(1 << 1)  # proximity pin read (socket with cable detection)
CAP_RCD = const(1 << 2)  # residual-current device incl. 6 mA DC
CAP_VENTILATION = const(1 << 3)  # state D accepted
CAP_BIDIRECTIONAL = const(1 << 4)  # can discharge (export)
CAP_FW_UPDATE = const(1 << 5)  # FW_BEGIN / FW_CHUNK / FW_END
CAP_CONTACTOR_FEEDBACK = const(1 << 6)
CAP_OVERRIDE_BUTTON = const(1 << 7)
CAP_LOCK = const(1 << 8)  # socket lock actuator (CMD_UNLOCK)
CAP_SOC = const(1 << 9)  # EV state of charge available
CAP_SCHEDULE = const(1 << 10)  # stores and follows SCHEDULE offline
CAP_LOGS = const(1 << 11)  # LOG_REQUEST
CAP_RTC = const(1 << 12)  # clock that survives power loss

# TELEMETRY
CP_STATES = "ABCDEF"  # cp_state is the index; CP_UNKNOWN when not measured
CP_UNKNOWN = const(255)
SOC_UNKNOWN = const(255)
SESSION_STATES = ("available", "preparing", "charging", "suspended_evse", "suspended_ev",
                  "finishing", "faulted", "unavailable")  # session is the index
# EV_STATE from_session / to_session: the controller's own states (firmware/evse/session.py)
EVSE_STATES = ("idle", "connected", "offered", "charging", "pausing", "suspended", "fault",
               "unavailable")
F_FAILSAFE = const(1 << 0)  # link lost: failsafe current caps the offer (AG-11)
F_OVERRIDE = const(1 << 1)  # manual override active (AG-12)
F_METER_STALE = const(1 << 2)
F_DELAY = const(1 << 3)  # randomised delay running (UK-11)
F_NO_CHARGE_WINDOW = const(1 << 4)  # default no-charge hours (UK-10)
F_TIME_VALID = const(1 << 5)
F_UNAVAILABLE = const(1 << 6)
F_LOW_LIMIT_PAUSE = const(1 << 7)  # limit below 6 A: paused at x1
F_CONTACTOR_MISMATCH = const(1 << 8)
F_FW_UPDATE = const(1 << 9)
F_FAULT = const(1 << 10)
F_POWER_QUALITY = const(1 << 11)  # power-quality response in force (T7-PQ)

# Limit sources: TELEMETRY.limit_source, LIMIT/SCHEDULE.entity (>= 16), EV_LIMIT_APPLIED.a
SRC_NONE = const(0)
SRC_HARDWARE = const(1)
SRC_CABLE = const(2)
SRC_SITE = const(3)
SRC_FAILSAFE = const(4)
SRC_WINDOW = const(5)
SRC_DELAY = const(6)
SRC_SCHEDULE = const(7)  # the gateway's composite schedule (SCHEDULE), followed offline
SRC_METER = const(8)  # the meter-fault action (setting meter_fault_action)
SRC_POWER_QUALITY = const(9)  # the power-quality response (settings pq_*, T7-PQ)
SRC_CSMS = const(16)
SRC_HEMS = const(17)
SRC_DNO = const(18)
SRC_OWNER = const(19)
SRC_LOAD_MGMT = const(20)

# Status of RESULT, SETTING_VALUE, FW_STATUS
ST_OK = const(0)
ST_REJECTED = const(1)
ST_UNSUPPORTED = const(2)
ST_BUSY = const(3)
ST_STALE = const(4)  # generation older than the one applied: ignored
ST_INVALID = const(5)  # out of range (SETTING_VALUE carries the reason as a str value)
ST_UNKNOWN = const(6)  # unknown key / entity / command
ST_FAILED = const(7)  # storage error, hash mismatch
ST_READ_ONLY = const(8)

# COMMAND.command (arg in brackets)
CMD_START = const(1)  # (0)
CMD_STOP = const(2)  # (stop reason)
CMD_PAUSE = const(3)
CMD_RESUME = const(4)
CMD_UNLOCK = const(5)
CMD_AVAILABILITY = const(6)  # (1 available, 0 unavailable)
CMD_RESET = const(7)  # (0 soft, 1 hard)
CMD_OVERRIDE = const(8)  # (1 on, 0 off)
CMD_TRIGGER = const(9)  # (message type to send now: HELLO, TELEMETRY, FW_STATUS)

STOP_UNPLUG = const(1)
STOP_LOCAL = const(2)
STOP_REMOTE = const(3)
STOP_FAULT = const(4)
STOP_POWER_LOSS = const(5)
STOP_EV = const(6)
STOP_REBOOT = const(7)

FAULT_RCD = const(1)
FAULT_DIODE = const(2)
FAULT_CP_SHORT = const(3)  # state E
FAULT_VENTILATION = const(4)  # state D without CAP_VENTILATION
FAULT_WELDED = const(5)  # contactor feedback closed while commanded open
FAULT_PP = const(6)
FAULT_METER = const(7)
FAULT_PILOT = const(8)  # CP readings in no Annex A band for 500 ms
FAULT_NOT_CLOSED = const(9)  # contactor feedback open while commanded closed

# EV_POWER_QUALITY.cause bits 0-7 (T7-PQ); bits 8-9 carry the phase of voltage_mv
PQ_UNDERVOLTAGE = const(1 << 0)
PQ_OVERVOLTAGE = const(1 << 1)
PQ_UNDERFREQUENCY = const(1 << 2)
PQ_OVERFREQUENCY = const(1 << 3)
PQ_METER_FAULT = const(1 << 4)  # left the response: the meter failed, no readings

# LIMIT_APPLIED reasons (T7-LOG)
R_APPLIED = const(0)
R_CAPPED = const(1)  # a lower limit wins; EV_LIMIT_APPLIED.b bits 8-15 = its SRC_*
R_PAUSED = const(2)  # below 6 A: paused
R_STEP = const(3)  # quantised to current_step_ma
R_STALE = const(4)
R_EXPIRED = const(5)
R_OVERRIDE = const(6)  # lifted by the manual override
R_REMOVED = const(7)
R_INVALID = const(8)
R_NOT_IN_FORCE = const(9)  # stored, not in force now (failsafe while the link is up, idle schedule)

FW_IDLE = const(0)
FW_RECEIVING = const(1)
FW_VERIFIED = const(2)
FW_APPLYING = const(3)
FW_FAILED = const(4)
FWE_VERIFY = const(0)  # FW_END.action
FWE_APPLY = const(1)
FWE_ABORT = const(2)
# EV_FW_UPDATE.c: the step of the update (docs/firmware_update.md)
FWS_BEGIN = const(1)  # FW_BEGIN accepted: a new image is being received
FWS_VERIFIED = const(2)  # all bytes in flash, SHA-256 matches
FWS_FAILED = const(3)  # refused: ST_INVALID size / truncated, ST_FAILED hash / flash
FWS_ABORTED = const(4)  # FW_END(ABORT): the staged image is dropped
FWS_APPLY_ACCEPTED = const(5)  # FW_END(APPLY): swap at the next idle moment
FWS_APPLY_WAIT = const(6)  # a session is on: the swap waits for the charger to be idle
FWS_APPLYING = const(7)  # idle now: marked for the boot code, resetting
FWS_INSTALLED = const(8)  # booted the new bundle: a trial until confirmed
FWS_CONFIRMED = const(9)  # the new bundle ran healthy: kept
FWS_ROLLED_BACK = const(10)  # the new bundle failed to come up: the previous one runs
FWS_INSTALL_FAILED = const(11)  # the boot code could not unpack it: the old one runs
FWS_RESUMABLE = const(12)  # a power cut mid-transfer: the parts in flash are kept, d = received

LOG_EVENTS = const(0)
LOG_SECURITY = const(1)  # UK-S11 security log
LOG_DEBUG = const(2)

# EVENT.code: (name, meaning of a u8, b u16, c i32, d i32; "" = unused, sent as 0)
EV_BOOT = const(1)
EV_POWER_RESTORED = const(2)
EV_PLUG = const(3)
EV_UNPLUG = const(4)
EV_STATE = const(5)
EV_FAULT = const(6)
EV_OVERRIDE = const(7)
EV_LIMIT_APPLIED = const(8)
EV_SESSION_START = const(9)
EV_SESSION_STOP = const(10)
EV_FAILSAFE = const(11)
EV_DELAY = const(12)
EV_METER = const(13)
EV_SETTINGS = const(14)
EV_FW_UPDATE = const(15)
EV_SECURITY = const(16)
EV_AVAILABILITY = const(17)
EV_POWER_QUALITY = const(18)
EV_COMMAND = const(19)
EV_LOG_RESET = const(20)
EVENTS = {
    EV_BOOT: ("boot", ("reset_cause", "", "boot_count", "")),
    EV_POWER_RESTORED: ("power_restored", ("reset_cause", "", "delay_s", "")),
    EV_PLUG: ("plug", ("cp_state", "", "cable_ma", "")),
    EV_UNPLUG: ("unplug", ("", "", "", "")),
    EV_STATE: ("state", ("from_session", "to_session", "", "")),
    EV_FAULT: ("fault", ("fault", "active", "", "")),
    EV_OVERRIDE: ("override", ("on", "by_link", "", "")),
    EV_LIMIT_APPLIED: ("limit_applied", ("source", "reason", "asked_ma", "applied_ma")),
    EV_SESSION_START: ("session_start", ("", "", "session_id", "energy_import_wh")),
    EV_SESSION_STOP: ("session_stop", ("stop_reason", "", "session_id", "energy_wh")),
    EV_FAILSAFE: ("failsafe", ("on", "", "current_ma", "")),
    # why: restart.py CAUSE_* when on; 0 ran out, 1 cancelled (override, DSR) when off
    EV_DELAY: ("delay", ("on", "why", "delay_s", "")),
    # reason: firmware/evse/meter.py R_* (docs/meter.md); value, value2: per reason
    # (exception code and missed polls of a fault; old and new register Wh of an
    # energy_backwards / energy_jump flag)
    EV_METER: ("meter", ("ok", "reason", "value", "value2")),
    EV_SETTINGS: ("settings", ("defaults_loaded", "", "", "")),
    EV_FW_UPDATE: ("fw_update", ("state", "status", "step", "value")),  # step: FWS_*
    EV_SECURITY: ("security", ("code", "", "", "")),
    EV_AVAILABILITY: ("availability", ("available", "", "", "")),
    # on: 1 entered the response, 0 left it; cause: PQ_* bits | phase (1..3) << 8
    EV_POWER_QUALITY: ("power_quality", ("on", "cause", "voltage_mv", "frequency_mhz")),
    EV_COMMAND: ("command", ("command", "status", "arg", "")),
    # the firmware's events.bin was unreadable: its seq restarted at 1, so the gateway
    # resets its duplicate check for this EVSE
    EV_LOG_RESET: ("log_reset", ("", "", "dropped", "")),
}
# EV_SECURITY code (UK Schedule 1 para 8, UK-S8): the enclosure's tamper switch
SEC_TAMPER_OPEN = const(1)  # the lid was opened (or the switch's wire cut)
SEC_TAMPER_CLOSED = const(2)  # the lid is closed again
_EV_ARGS = ("a", "b", "c", "d")


def event_args(fields):
    """EVENT fields -> (name, {arg name: value}) per the EVENTS table; (None, {}) for an
    unknown code (a newer minor may add codes: keep the raw event)."""
    ev = EVENTS.get(fields["code"])
    if ev is None:
        return None, {}
    named = {}
    for i in range(4):
        if ev[1][i]:
            named[ev[1][i]] = fields[_EV_ARGS[i]]
    return ev[0], named
