"""Installed charging profiles survive a restart (issues 6 and 7: profiles
persist across restarts; 2.0.1 K01.FR.27 stores valid profiles): one JSON file
written atomically; a file that cannot be read is reported and kept as
<file>.corrupt, never silently dropped."""

import json
import os
from decimal import Decimal
from fractions import Fraction

from gateway.smart.profiles import (
    ProfileStore,
    SmartConfig,
    StationState,
    Transaction,
    parse_time,
    profile_from_ocpp16,
)

T0 = parse_time("2026-01-05T00:00:00Z")
STATE = StationState((1, 2), {1: Transaction("7", T0)})


def _profile(pid, connector=1, purpose="TxDefaultProfile", limit=16.1, **extra):
    d = {"chargingProfileId": pid, "stackLevel": extra.pop("stack", 0),
         "chargingProfilePurpose": purpose, "chargingProfileKind": "Recurring",
         "recurrencyKind": "Weekly", "validFrom": "2026-01-01T00:00:00Z",
         "chargingSchedule": {"startSchedule": "2026-01-05T08:00:00Z", "duration": 7200,
                              "chargingRateUnit": "W", "minChargingRate": 1380.5,
                              "chargingSchedulePeriod": [
                                  {"startPeriod": 0, "limit": limit},
                                  {"startPeriod": 900, "limit": 2000, "numberPhases": 1}]}}
    d.update(extra)
    p, refusal = profile_from_ocpp16(connector, d, T0)
    assert refusal is None, refusal
    return p


def test_profiles_survive_a_restart_exactly(tmp_path):
    path = str(tmp_path / "profiles.json")
    store = ProfileStore(path)
    assert store.load_error is None and len(store) == 0
    fine = Decimal("7359.123456789012345678")  # more digits than a float holds
    a, b = _profile(1), _profile(2, 0, "ChargePointMaxProfile", limit=fine)
    assert store.install(a, STATE) is None
    assert store.install(b, STATE) is None
    c, _ = profile_from_ocpp16(1, {
        "chargingProfileId": 3, "stackLevel": 1, "chargingProfilePurpose": "TxProfile",
        "chargingProfileKind": "Relative", "transactionId": 7,
        "chargingSchedule": {"chargingRateUnit": "A",
                             "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 6}]}}, T0)
    assert store.install(c, STATE) is None
    again = ProfileStore(path)
    assert again.load_error is None
    assert again.profiles() == [a, b, c]
    assert again.get(2).schedule.periods[0].limit == Fraction(fine)  # exact
    assert not os.path.exists(path + ".tmp") and not os.path.exists(path + ".corrupt")


def test_removals_persist_too(tmp_path):
    path = str(tmp_path / "profiles.json")
    store = ProfileStore(path)
    for pid in (1, 2):
        assert store.install(_profile(pid, connector=pid), STATE) is None
    assert store.clear(profile_id=1) == [1]
    assert [p.id for p in ProfileStore(path)] == [2]
    store.end_transaction(1)
    assert store.clear() == [2]
    assert len(ProfileStore(path)) == 0


def test_a_missing_file_is_an_empty_store(tmp_path):
    store = ProfileStore(str(tmp_path / "none.json"))
    assert store.load_error is None and store.profiles() == []


def test_a_corrupt_file_is_reported_and_kept_not_silently_dropped(tmp_path):
    path = str(tmp_path / "profiles.json")
    garbage = b'{"format": 1, "profiles": [ {"id": 1, '  # cut short by a crash
    with open(path, "wb") as f:
        f.write(garbage)
    store = ProfileStore(path)
    assert store.load_error is not None and "unreadable" in store.load_error
    assert "profiles.json.corrupt" in store.load_error
    with open(path + ".corrupt", "rb") as f:
        assert f.read() == garbage
    assert len(store) == 0
    assert store.install(_profile(1), STATE) is None  # the store goes on working
    assert [p.id for p in ProfileStore(path)] == [1]
    with open(path + ".corrupt", "rb") as f:
        assert f.read() == garbage  # the evidence stays


def test_a_file_of_another_shape_is_reported(tmp_path):
    path = str(tmp_path / "profiles.json")
    for content in (b"[]", b'{"format": 99, "profiles": []}', b'{"format": 1}', b"\xff\xfe"):
        with open(path, "wb") as f:
            f.write(content)
        store = ProfileStore(path)
        assert store.load_error and len(store) == 0, content


def test_bad_entries_are_skipped_reported_and_the_good_ones_kept(tmp_path):
    path = str(tmp_path / "profiles.json")
    store = ProfileStore(path)
    for pid in (1, 2):
        assert store.install(_profile(pid, connector=pid), STATE) is None
    with open(path) as f:
        doc = json.load(f)
    doc["profiles"][0]["schedule"]["periods"][0][1] = "not a number"
    doc["profiles"].append({"id": "x"})
    with open(path, "w") as f:
        json.dump(doc, f)
    again = ProfileStore(path)
    assert [p.id for p in again] == [2]
    assert "2 bad entries skipped" in again.load_error and "entry 0" in again.load_error
    assert os.path.exists(path + ".corrupt")


def test_a_profile_that_cannot_be_stored_is_refused_and_not_installed(tmp_path):
    path = str(tmp_path / "gone" / "profiles.json")  # its directory does not exist
    store = ProfileStore(path, SmartConfig())
    refusal = store.install(_profile(1), STATE)
    assert refusal is not None and refusal.code == "InternalError"
    assert "could not be stored" in refusal
    assert len(store) == 0


def test_the_file_is_replaced_atomically(tmp_path, monkeypatch):
    """A crash while writing leaves the previous file whole: the new content goes
    to a temp file that os.replace puts in place only once written and synced."""
    path = str(tmp_path / "profiles.json")
    store = ProfileStore(path)
    assert store.install(_profile(1), STATE) is None
    with open(path, "rb") as f:
        before = f.read()

    def crash(src, dst):
        raise OSError("power cut")

    monkeypatch.setattr(os, "replace", crash)
    assert store.install(_profile(2, connector=2), STATE).code == "InternalError"
    monkeypatch.undo()
    with open(path, "rb") as f:
        assert f.read() == before
    assert [p.id for p in ProfileStore(path)] == [1]


def test_a_removal_that_cannot_be_written_stays_done_and_is_reported(tmp_path, monkeypatch):
    path = str(tmp_path / "profiles.json")
    store = ProfileStore(path)
    assert store.install(_profile(1), STATE) is None and store.save_error is None

    def crash(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    assert store.clear(profile_id=1) == [1]
    assert len(store) == 0 and "disk full" in store.save_error
    monkeypatch.undo()
    assert store.install(_profile(2), STATE) is None and store.save_error is None
    assert [p.id for p in ProfileStore(path)] == [2]
