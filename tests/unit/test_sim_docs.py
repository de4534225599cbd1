"""docs/sim_hardware.md describes what exists: every scenario and control
command, every EV kind and set_ev key, every command-line option."""

import re
from pathlib import Path

from sim_hardware import __main__ as cli
from sim_hardware import commands, scenario
from sim_hardware.ev import KINDS, PARAMS

DOC = (Path(__file__).resolve().parents[2] / "docs" / "sim_hardware.md").read_text()


def test_every_command_is_documented():
    for name in list(commands.POSITIONAL) + list(scenario._OWN):
        assert "| `%s` |" % name in DOC, name


def test_every_ev_kind_parameter_and_set_ev_key_is_documented():
    for kind in KINDS:
        assert "| `%s` |" % kind in DOC, kind
    for name in PARAMS:
        assert "`%s`" % name in DOC, name
    for key in commands.EV_KEYS:
        assert re.search(r"[` ]%s=" % key, DOC), key


def test_every_option_is_documented():
    parser, _ = cli.parse_args(["--control", "127.0.0.1:0"])
    for action in parser._actions:
        for opt in action.option_strings:
            if opt.startswith("--") and opt != "--help":
                assert "`%s`" % opt in DOC, opt
    assert re.search(r"exit 2", DOC)
