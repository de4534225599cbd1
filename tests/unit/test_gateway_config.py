"""gateway/cli.py --config: unknown keys, wrong types and out-of-range numbers are refused
with the reason (exit 2 from the command line); good values are taken."""

import json

import pytest

from gateway.cli import UsageError, load_config


def _write(tmp_path, data):
    p = tmp_path / "c.json"
    p.write_text(json.dumps(data))
    return p


@pytest.mark.parametrize(("data", "reason"), [
    ({"link_timeout_ms": -1}, "link_timeout_ms -1 outside 1000..3600000"),
    ({"link_timeout_ms": 999}, "outside 1000..3600000"),
    ({"link_timeout_ms": 3600001}, "outside"),
    ({"reconnect_max_s": 0}, "reconnect_max_s 0 outside 0.5..3600"),
    ({"reconnect_max_s": -3.5}, "outside"),
    ({"link_timeout_ms": 1.5}, "must be int"),
    ({"link_timeout_ms": True}, "must be int"),
    ({"colour": "red"}, "unknown key 'colour'"),
])
def test_bad_config_values_are_refused_with_the_reason(tmp_path, data, reason):
    with pytest.raises(UsageError) as e:
        load_config(_write(tmp_path, data))
    assert reason in str(e.value)


def test_good_config_values_are_taken(tmp_path):
    cfg = load_config(_write(tmp_path, {"link_timeout_ms": 1000, "reconnect_max_s": 0.5,
                                        "free_vend_id_tag": None}))
    assert cfg["link_timeout_ms"] == 1000 and cfg["reconnect_max_s"] == 0.5
    assert cfg["free_vend_id_tag"] is None and cfg["vendor"] == "smartevse-ref"
