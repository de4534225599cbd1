"""The documents describe what exists: every setting and every session state of
the firmware is in docs/firmware.md with its default (DESIGN §3.2: every key
has a validated range and a default, documented in docs/)."""

from pathlib import Path

from evse import session, settings

DOC = (Path(__file__).resolve().parents[2] / "docs" / "firmware.md").read_text()


def test_every_setting_is_documented_with_its_default():
    rows = {line.split("|")[1].strip().strip("`"): line for line in DOC.splitlines()
            if line.startswith("| `")}
    for key in settings.KEYS:
        assert key in rows, key + " is not in docs/firmware.md"
        default = settings.defaults()[key]
        if isinstance(default, int):
            assert "| %d |" % default in rows[key], key + ": default differs from the doc"


def test_every_session_state_is_documented():
    for name in session.NAMES:
        assert "| " + name + " |" in DOC, name
