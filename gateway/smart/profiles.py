"""Charging profiles: the version-neutral model (gateway.smart.model), the
SetChargingProfile rules (gateway.smart.rules) and the ProfileStore that holds
the installed profiles and persists them so they survive a restart.

The store is synchronous and keeps no clock: callers pass `now_s`. Persistence
is one JSON file written atomically (temp file, fsync, os.replace); a file that
cannot be read is kept as `<file>.corrupt` and reported in `load_error`.
"""

import dataclasses
import json
import os

from gateway.smart.model import (  # noqa: F401  (re-exported: the public model)
    ABSOLUTE,
    DAILY,
    EXTERNAL,
    RECURRING,
    RELATIVE,
    STATION_MAX,
    TX,
    TX_DEFAULT,
    UNIT_A,
    UNIT_W,
    WEEKLY,
    ChargingProfile,
    Period,
    Refusal,
    Schedule,
    format_time,
    parse_time,
    profile_from_ocpp16,
    profile_from_ocpp201,
)
from gateway.smart.rules import (  # noqa: F401
    V16,
    V201,
    SmartConfig,
    StationState,
    Transaction,
    check_profile,
    rate_units,
    replaced_by,
)

_FORMAT = 1  # version of the JSON file


class ProfileStore:
    """The installed profiles, by id. `path` None keeps them in memory only."""

    def __init__(self, path=None, config=None):
        self.path = path
        self.config = config or SmartConfig()
        self._profiles = {}  # id -> ChargingProfile, in installation order
        self.load_error = None  # why the file could not be (fully) read, or None
        self.save_error = None  # why the last write failed, or None (removals stay done)
        if path is not None:
            self.load()

    # --- reading -------------------------------------------------------------

    def __len__(self):
        return len(self._profiles)

    def __iter__(self):
        return iter(list(self._profiles.values()))

    def get(self, profile_id):
        return self._profiles.get(profile_id)

    def profiles(self):
        return list(self._profiles.values())

    def query(self, evse_id=None, purpose=None, stack_level=None, ids=None, sources=None):
        """GetChargingProfiles (2.0.1 K09): evse_id None = every EVSE, 0 = the
        station-wide profiles only [K09.FR.05], N = that EVSE's [K09.FR.04]; the
        other criteria must all match (ids / sources: any of the list)."""
        out = []
        for p in self._profiles.values():
            if evse_id is not None and p.evse_id != evse_id:
                continue
            if purpose is not None and p.purpose != purpose:
                continue
            if stack_level is not None and p.stack_level != stack_level:
                continue
            if ids is not None and p.id not in ids:
                continue
            if sources is not None and p.source not in sources:
                continue
            out.append(p)
        return out

    # --- changes ---------------------------------------------------------------

    def install(self, profile, state, remote_start=False, from_csms=True):
        """SetChargingProfile: check every rule, then add the profile, replacing
        per the version's rules, and persist. Returns None when installed or the
        Refusal (nothing changed). A storage failure refuses too (InternalError)."""
        installed = list(self._profiles.values())
        refusal = check_profile(profile, state, self.config, installed, remote_start, from_csms)
        if refusal:
            return refusal
        before = dict(self._profiles)
        for pid in replaced_by(profile, installed, self.config):
            del self._profiles[pid]
        self._profiles[profile.id] = profile
        failed = self._save()
        if failed:
            self._profiles = before
            return Refusal("InternalError", "the profile could not be stored: " + failed)
        return None

    def clear(self, profile_id=None, evse_id=None, purpose=None, stack_level=None,
              from_csms=True):
        """ClearChargingProfile (1.6 and 2.0.1 K10): with profile_id, that profile
        only (the criteria are then ignored); else every profile matching all the
        given criteria, all profiles when none is given. The CSMS never clears
        ChargingStationExternalConstraints (K10). Returns the ids removed: empty
        means the answer is Unknown."""
        if profile_id is not None:
            p = self._profiles.get(profile_id)
            hits = [p] if p is not None and not (from_csms and p.purpose == EXTERNAL) else []
        else:
            hits = [p for p in self.query(evse_id, purpose, stack_level)
                    if not (from_csms and p.purpose == EXTERNAL)]
        return self._remove(hits)

    def end_transaction(self, evse_id, transaction_id=None):
        """A transaction ended: its TxProfiles go (those naming it, and those
        on that EVSE naming none). Returns the ids removed."""
        tid = None if transaction_id is None else str(transaction_id)
        return self._remove([p for p in self._profiles.values()
                             if p.purpose == TX and p.evse_id == evse_id
                             and p.transaction_id in (None, tid)])

    def bind_transaction(self, evse_id, transaction_id):
        """The transaction of a remote start began: its TxProfiles (installed
        without transactionId) now name it, as GetChargingProfiles reports them."""
        bound = []
        for pid, p in list(self._profiles.items()):
            if p.purpose == TX and p.evse_id == evse_id and p.transaction_id is None:
                self._profiles[pid] = dataclasses.replace(p, transaction_id=str(transaction_id))
                bound.append(pid)
        if bound:
            self._save()
        return bound

    def purge_expired(self, now_s):
        """Drop profiles that can never apply again: validTo passed, or an
        Absolute schedule whose duration has ended. Returns the ids removed."""
        gone = []
        for p in self._profiles.values():
            s = p.schedule
            ended = (p.kind == ABSOLUTE and s.duration_s is not None
                     and s.start_s + s.duration_s <= now_s)
            if (p.valid_to is not None and p.valid_to <= now_s) or ended:
                gone.append(p)
        return self._remove(gone)

    def _remove(self, profiles):
        if not profiles:
            return []
        for p in profiles:
            del self._profiles[p.id]
        self._save()
        return [p.id for p in profiles]

    # --- persistence -------------------------------------------------------------

    def load(self):
        """Read the file. Missing: empty store. Unreadable: the store starts
        empty, the file is kept as <path>.corrupt and load_error says why; bad
        entries in a readable file are skipped, kept in the .corrupt copy and
        reported. Returns load_error."""
        self._profiles = {}
        self.load_error = None
        try:
            with open(self.path, "rb") as f:
                raw = f.read()
        except FileNotFoundError:
            return None
        try:
            doc = json.loads(raw.decode("utf-8"))
            if not isinstance(doc, dict) or doc.get("format") != _FORMAT:
                raise ValueError("not a profile file of format %d" % _FORMAT)
            entries = doc["profiles"]
            if not isinstance(entries, list):
                raise ValueError("profiles is not a list")
        except (ValueError, KeyError, UnicodeDecodeError) as e:
            self._keep_corrupt(raw)
            self.load_error = "%s unreadable (%s); kept as %s.corrupt" % (self.path, e, self.path)
            return self.load_error
        bad = []
        for i, entry in enumerate(entries):
            try:
                p = ChargingProfile.from_json(entry)
            except (ValueError, KeyError, TypeError, ZeroDivisionError) as e:
                bad.append("entry %d: %s" % (i, e))
                continue
            self._profiles[p.id] = p
        if bad:
            self._keep_corrupt(raw)
            self.load_error = "%s: %d bad entr%s skipped (%s); kept as %s.corrupt" % (
                self.path, len(bad), "y" if len(bad) == 1 else "ies", "; ".join(bad), self.path)
        return self.load_error

    def _keep_corrupt(self, raw):
        try:
            _write_atomic(self.path + ".corrupt", raw)
        except OSError:
            pass  # the report in load_error still tells the caller

    def _save(self):
        """Write the file; returns None or why it failed."""
        if self.path is None:
            return None
        doc = {"format": _FORMAT, "profiles": [p.to_json() for p in self._profiles.values()]}
        try:
            _write_atomic(self.path, json.dumps(doc, separators=(",", ":")).encode())
        except OSError as e:
            self.save_error = str(e)
            return self.save_error
        self.save_error = None
        return None


def _write_atomic(path, data):
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    try:
        fd = os.open(os.path.dirname(os.path.abspath(path)), os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
