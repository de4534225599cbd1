"""docs/configuration.md says what the code does (DESIGN §3.2: every setting has a validated
range and a default, documented in docs/): each firmware setting and meter field with its
type, default and range as firmware/evse/settings.py's table has them, the validator probed
at the edges the page writes, the gateway's --config keys and options, the OCPP keys."""

import json
import re
from pathlib import Path

import pytest

from conformance.requirements import IDS
from evse import settings
from gateway import cli, config16

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "configuration.md").read_text()
OCPP_DOC = (ROOT / "docs" / "ocpp.md").read_text()
REQ_ID = re.compile(r"\b(?:AG|T7|UK|IEC)-[A-Z0-9]+\b")
RANGE = re.compile(r"(-?\d+)\.\.(-?\d+)")

# Validator kind -> the type column (one-of takes its choices' type)
KIND_TYPE = {settings._RANGE: "int", settings._OFF: "int", settings._WINDOWS: "list or str",
             settings._UTC: "str or int", settings._METER: "object",
             settings._RESPONSE: "str or int"}


def table(heading):
    """Rows (lists of cells, backticks kept) of the first table under the heading line."""
    lines = DOC.splitlines()
    start = lines.index(heading)
    rows = []
    for line in lines[start + 1:]:
        if line.startswith("#"):
            break
        if line.startswith("| `"):
            rows.append([c.strip() for c in line.strip().strip("|").split("|")])
        elif rows and not line.startswith("|"):
            break
    assert rows, "no table under " + heading
    return rows


def literal(cell):
    """A cell holding one `JSON literal` -> its value."""
    m = re.fullmatch(r"`(.+)`", cell)
    assert m, "not one `literal`: " + cell
    return json.loads(m.group(1))


def choices_text(choices):
    return ", ".join("`%s`" % json.dumps(c) for c in choices)


def expected_range(row):
    """The range cell's wording, made from the table row (name, kind, default, lo, hi, note)."""
    kind, lo, hi = row[1], row[3], row[4]
    return {
        settings._RANGE: lambda: "%d..%d" % (lo, hi),
        settings._OFF: lambda: "0 or %d..%d" % (lo, hi),
        settings._ONE_OF: lambda: choices_text(lo),
        settings._UTC: lambda: '`"uk"` or %d..%d' % (lo, hi),
        settings._RESPONSE: lambda: "%s or %d..%d" % (choices_text(settings.PQ_RESPONSES), lo,
                                                       hi),
        settings._WINDOWS: lambda: '`"uk"` or up to %d windows' % settings._MAX_WINDOWS,
        settings._METER: lambda: "the fields below",
    }[kind]()


def has_range(cell, text):
    """text is in cell as a whole: "0..1800" is not in "0..18000"."""
    return re.search(r"(?<![\d.-])%s(?![\d.])" % re.escape(text), cell) is not None


def expected_type(row):
    if row[1] == settings._ONE_OF:
        return type(row[3][0]).__name__
    return KIND_TYPE[row[1]]


def probe_edges(key, cell):
    """The validator accepts the ends of every range the cell writes and each choice it
    lists, and refuses one step beyond (UK-8)."""
    for lo, hi in RANGE.findall(cell):
        lo, hi = int(lo), int(hi)
        assert settings.check(key, lo) is None, (key, lo)
        assert settings.check(key, hi) is None, (key, hi)
        assert settings.check(key, hi + 1) is not None, (key, hi + 1)
        if lo - 1 != 0 or not cell.startswith("0 or"):
            assert settings.check(key, lo - 1) is not None, (key, lo - 1)
    if cell.startswith("0 or"):
        assert settings.check(key, 0) is None, key
    for text in re.findall(r"`([^`]+)`", cell):
        value = json.loads(text)
        assert settings.check(key, value) is None, (key, value)


def test_design_3_2_every_firmware_setting_with_type_default_range_and_requirement():
    """Every key of settings.KEYS, in its order, has a row whose type, default (==
    settings.defaults()) and range are those of settings._TABLE, whose requirement IDs are
    DESIGN §6's, and which names each ID the table's note names."""
    rows = table("## Firmware settings")
    keys = [r[0].strip("`") for r in rows]
    assert keys == list(settings.KEYS), "rows differ from settings.KEYS (order included)"
    defaults = settings.defaults()
    for cells, row in zip(rows, settings._TABLE, strict=True):
        key, type_, default, range_, meaning, reqs = cells
        key = key.strip("`")
        assert type_ == expected_type(row), key
        assert literal(default) == defaults[key], key + ": default differs from the code"
        assert has_range(range_, expected_range(row)), key + ": range differs from the code"
        assert meaning, key
        found = set(REQ_ID.findall(reqs))
        assert found <= set(IDS), (key, found - set(IDS))
        assert set(REQ_ID.findall(row[5])) <= found, key + ": the code's note names more IDs"
        assert found or reqs == "—", key


def test_uk8_documented_ranges_are_what_the_validator_accepts():
    """For every firmware setting with numbers or choices in its range cell, the validator
    accepts both ends and each listed choice and refuses one beyond each end."""
    for cells, row in zip(table("## Firmware settings"), settings._TABLE, strict=True):
        if row[1] in (settings._WINDOWS, settings._METER):
            continue  # their own tests below
        probe_edges(row[0], cells[3])
    assert settings.check("pq_response", "off") is not None
    assert settings.check("utc_offset_mode", "CET") is not None


def test_uk10_documented_window_limits_are_what_the_validator_accepts():
    """no_charge_windows: "uk", at most the documented number of windows, each field's
    documented range accepted at both ends and refused one beyond; start = end refused."""
    cell = {r[0]: r for r in table("## Firmware settings")}["`no_charge_windows`"][3]
    n = int(re.search(r"up to (\d+) windows", cell).group(1))
    m = re.search(r"weekday_mask (\d+)\.\.(\d+), start_min (\d+)\.\.(\d+), end_min "
                  r"(\d+)\.\.(\d+)", cell)
    mask_lo, mask_hi, start_lo, start_hi, end_lo, end_hi = (int(g) for g in m.groups())
    ok = settings.check
    assert ok("no_charge_windows", "uk") is None
    assert ok("no_charge_windows", []) is None
    assert ok("no_charge_windows", [[mask_lo, start_lo, 60]] * n) is None
    assert ok("no_charge_windows", [[mask_lo, start_lo, 60]] * (n + 1)) is not None
    assert ok("no_charge_windows", [[mask_hi, start_hi, end_lo]]) is None
    assert ok("no_charge_windows", [[mask_lo, start_lo, end_hi]]) is None
    for bad in ([mask_lo - 1, 0, 60], [mask_hi + 1, 0, 60], [1, start_lo - 1, 60],
                [1, start_hi + 1, 60], [1, 0, end_lo - 1], [1, 0, end_hi + 1], [1, 600, 600]):
        assert ok("no_charge_windows", [bad]) is not None, bad


def test_ag03_every_meter_field_with_type_default_and_range():
    """The meter fields table lists settings._METER_TABLE in order as meter.<field>, with
    its type, default and range, and the validator agrees with each documented edge."""
    rows = table("### The meter fields")
    assert [r[0].strip("`") for r in rows] == ["meter." + f[0] for f in settings._METER_TABLE]
    for cells, row in zip(rows, settings._METER_TABLE, strict=True):
        key, type_, default, range_, meaning = cells
        key = key.strip("`")
        assert type_ == expected_type(row), key
        assert literal(default) == settings.defaults()["meter"][row[0]], key
        assert has_range(range_, expected_range(row)), key
        assert meaning, key
        probe_edges(key, range_)
    assert settings.check("meter.baud", 14400) is not None
    assert settings.check("meter.model", "SDM999") is not None


def test_gateway_config_keys_with_type_and_default():
    """Every --config key of gateway/cli.py CONFIG_KEYS, with the type its check takes
    (as the exit-2 message words it) and its default; no row for a key that does not exist."""
    rows = table("### `--config FILE`")
    assert [r[0].strip("`") for r in rows] == list(cli.CONFIG_KEYS)
    for key, type_, default, meaning in rows:
        types, value, _ = cli.CONFIG_KEYS[key.strip("`")]
        assert type_ == " or ".join("null" if t is type(None) else t.__name__ for t in types)
        assert literal(default) == value, key
        assert meaning, key


def test_gateway_every_option_is_documented(capsys):
    """Every option `python -m gateway --help` lists is on the page."""
    with pytest.raises(SystemExit) as exc:
        cli.parse_args(["--help"])
    assert exc.value.code == 0
    options = set(re.findall(r"(?<![\w-])--[a-z][a-z-]+", capsys.readouterr().out))
    options.discard("--help")
    assert "--hems-soc-max-age" in options and "--csms" in options
    for opt in sorted(options):
        assert "`%s`" % opt in DOC, opt


def test_every_ocpp_configuration_key_is_in_docs_ocpp():
    """The page points to docs/ocpp.md for the OCPP keys: every key of
    gateway/config16.py is listed there."""
    for key in config16.KEYS:
        assert re.search(r"\b%s\b" % key, OCPP_DOC), key + " is not in docs/ocpp.md"
