"""docs/meter.md describes what exists: every supported model (one vocabulary
with protocols/meters.py and the settings), every fault reason and every
fault action of the firmware's meter poller, and the documented defaults."""

from pathlib import Path

from evse import meter, settings
from protocols import meters

DOC = (Path(__file__).resolve().parents[2] / "docs" / "meter.md").read_text()


def test_settings_accept_exactly_the_register_map_names_and_none():
    assert sorted(settings.METER_MODELS) == sorted([*meters.METERS, "none"])
    assert settings.defaults()["meter"]["model"] in meters.METERS


def test_every_model_is_documented():
    for name in settings.METER_MODELS:
        assert "`%s`" % name in DOC, name


def test_every_fault_reason_is_documented_with_its_code():
    for code, name in meter.REASONS.items():
        if code:
            assert "| `%s` | %d |" % (name, code) in DOC, name


def test_every_fault_action_and_meter_default_is_documented():
    for action in ("continue", "limit", "stop"):
        assert "| `%s`" % action in DOC, action
    d = settings.defaults()
    for field, value in d["meter"].items():
        shown = '`"%s"`' % value if isinstance(value, str) else str(value)
        assert "| `meter.%s` | %s |" % (field, shown) in DOC, field
    assert "| `meter_fault_limit_ma` | %d |" % d["meter_fault_limit_ma"] in DOC
    assert "`meter.poll_ms` | 1000 |" in DOC and meter.MISSED_POLLS_FAULT == 3
