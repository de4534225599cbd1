# Scenarios: a small language for what happens to a charger, in the spirit of
# EVerest's car simulator (`sleep 1;iec_wait_pwr_ready;draw_power_regulated
# 16,3;sleep 30;unplug`), run on virtual time. MicroPython subset, so the same
# scenario runs on CPython and on the MicroPython VM and gives the same trace.
#
#   script  = line*                      one command per line, or several
#   line    = command (";" command)* ["#" comment]
#   command = NAME word* (KEY "=" VALUE)*
#
# The commands and their words are in docs/sim_hardware.md; those that change
# the world are commands.py's (plug, unplug, draw, discharge, ev, set_ev,
# press_button, power_cut, mains, rcd, limit, hello, settings); these are
# the scenario's own:
#   sleep S                       let S seconds pass (decimals allowed)
#   wait_state X [timeout_s]      until the controller reads pilot state X
#   wait FIELD [OP] VALUE [timeout_s]   until FIELD OP VALUE holds
#   expect FIELD [OP] VALUE       fail now unless FIELD OP VALUE
#   report                        a trace line with soc, delay, EV and mains
# OP is one of == != < <= > >= (default ==). A wait that times out and an
# expect that does not hold raise ScenarioError naming the line.
from sim_hardware import commands
from sim_hardware.charger import Charger

DEFAULT_TIMEOUT_MS = 1900000  # longer than the longest randomised delay (1800 s)
OPS = ("==", "!=", "<=", ">=", "<", ">")  # words, never key=value
ALIASES = {"state": "cp", "duty_permille": "duty", "offered": "offered_ma",
           "draw": "draw_ma", "current": "draw_ma"}
_OWN = ("sleep", "wait_state", "wait", "expect", "report")


class ScenarioError(ValueError):
    pass


def _split(line):
    hash_at = line.find("#")
    if hash_at >= 0:
        line = line[:hash_at]
    return [part.strip() for part in line.split(";")]


def parse(text):
    """-> [(lineno, name, words, keys, source)]; ScenarioError on an unknown
    command or too many words."""
    out = []
    lineno = 0
    for line in text.split("\n"):
        lineno += 1
        for source in _split(line):
            if not source:
                continue
            tokens = source.split()
            name = tokens[0]
            words = []
            keys = {}
            for t in tokens[1:]:
                if "=" in t and t not in OPS:
                    k, _, v = t.partition("=")
                    if not k:
                        raise ScenarioError("line %d: %r: key=value expected" % (lineno, t))
                    keys[k] = v
                elif keys:
                    raise ScenarioError("line %d: %r after key=value words" % (lineno, t))
                else:
                    words.append(t)
            _check(lineno, name, words, keys)
            out.append((lineno, name, words, keys, " ".join(tokens)))
    return out


def _check(lineno, name, words, keys):
    if name in commands.POSITIONAL:
        allowed = len(commands.POSITIONAL[name])
    elif name in _OWN:
        allowed = {"sleep": 1, "wait_state": 2, "wait": 4, "expect": 3, "report": 0}[name]
        if keys:
            raise ScenarioError("line %d: %s takes no key=value" % (lineno, name))
        need = {"sleep": 1, "wait_state": 1, "wait": 2, "expect": 2, "report": 0}[name]
        if len(words) < need:
            raise ScenarioError("line %d: %s needs %d word(s)" % (lineno, name, need))
    else:
        raise ScenarioError("line %d: unknown command %r; commands:\n%s"
                            % (lineno, name, commands.help_text()))
    if len(words) > allowed:
        raise ScenarioError("line %d: %s takes at most %d word(s), got %d"
                            % (lineno, name, allowed, len(words)))


def _condition(lineno, words, with_timeout):
    """FIELD [OP] VALUE [timeout_s] -> (field, op, value, timeout_ms)."""
    field = ALIASES.get(words[0], words[0])
    rest = words[1:]
    op = "=="
    if rest and rest[0] in OPS:
        op = rest[0]
        rest = rest[1:]
    if not rest or len(rest) > (2 if with_timeout else 1):
        raise ScenarioError("line %d: FIELD [OP] VALUE%s expected"
                            % (lineno, " [timeout_s]" if with_timeout else ""))
    timeout_ms = DEFAULT_TIMEOUT_MS
    if len(rest) == 2:
        timeout_ms = commands.milli(rest[1], "timeout_s")
    return field, op, rest[0], timeout_ms


def holds(actual, op, expected):
    """actual (int or str) OP expected (text)."""
    if type(actual) is int:
        want = commands.integer(expected, "value")
    else:
        want = expected
        if op not in ("==", "!="):
            raise ValueError("%s compares numbers only, got %r" % (op, actual))
    if op == "==":
        return actual == want
    if op == "!=":
        return actual != want
    if op == "<":
        return actual < want
    if op == "<=":
        return actual <= want
    if op == ">":
        return actual > want
    return actual >= want


class Scenario:
    """Runs a parsed scenario on a Charger (a new one from settings / seed /
    ev unless one is given). step() does one 10 ms tick after running every
    command due now and returns False once the script is done; run() steps
    to the end and returns the trace as text."""

    def __init__(self, text, charger=None, settings=None, seed=1, ev="basic"):
        self.commands = parse(text)
        self.charger = charger if charger is not None else Charger(settings, seed, ev)
        self.pos = 0
        self.finished = False
        self._sleep_until_ms = -1
        self._wait = None  # (lineno, source, field, op, value, deadline_ms)

    def _fail(self, lineno, message):
        self.charger.note("! line %d: %s" % (lineno, message))
        self.finished = True
        raise ScenarioError("line %d: %s" % (lineno, message))

    def _check_wait(self):
        lineno, source, field, op, value, deadline = self._wait
        ch = self.charger
        if holds(ch.field(field), op, value):
            self._wait = None
            return True
        if ch.board.now_ms >= deadline:
            self._wait = None
            self._fail(lineno, "%s: timed out, %s is %s" % (source, field, ch.field(field)))
        return False

    def _execute(self, cmd):
        lineno, name, words, keys, source = cmd
        ch = self.charger
        now = ch.board.now_ms
        ch.note("> " + source)
        try:
            if name == "sleep":
                self._sleep_until_ms = now + commands.milli(words[0], "sleep")
            elif name == "wait_state" or name == "wait":
                if name == "wait_state":
                    words = ["cp", words[0].upper()] + words[1:]
                field, op, value, timeout_ms = _condition(lineno, words, True)
                ch.field(field)  # an unknown field fails here, not at the timeout
                self._wait = (lineno, source, field, op, value, now + timeout_ms)
            elif name == "expect":
                field, op, value, _ = _condition(lineno, words, False)
                actual = ch.field(field)
                if not holds(actual, op, value):
                    self._fail(lineno, "%s: %s is %s" % (source, field, actual))
            elif name == "report":
                st = ch.status()
                ch.note("report soc=%d delay_s=%d ev_state=%s energy_in_wh=%d "
                        "energy_out_wh=%d voltage_mv=%d frequency_mhz=%d" % (
                            st["soc"], st.get("delay_s", 0), st["ev_state"],
                            st["ev"]["energy_in_wh"], st["ev"]["energy_out_wh"],
                            st["voltage_mv"][0], st["frequency_mhz"]))
            else:
                args = {}
                names = commands.POSITIONAL[name]
                for i in range(len(words)):
                    args[names[i]] = words[i]
                for k in keys:
                    args[k] = keys[k]
                _, wait_ms = commands.run(ch, name, args)
                if wait_ms > 0:
                    self._sleep_until_ms = now + wait_ms
        except ScenarioError:
            raise
        except ValueError as e:
            self._fail(lineno, "%s: %s" % (source, e))

    def step(self):
        if self.finished:
            return False
        ch = self.charger
        while True:
            if self._sleep_until_ms >= 0:
                if ch.board.now_ms < self._sleep_until_ms:
                    break
                self._sleep_until_ms = -1
            if self._wait is not None and not self._check_wait():
                break
            if self.pos >= len(self.commands):
                self.finished = True
                return False
            cmd = self.commands[self.pos]
            self.pos += 1
            self._execute(cmd)
        ch.tick()
        return True

    def run(self):
        while self.step():
            pass
        return self.trace_text()

    def trace_text(self):
        return "\n".join(self.charger.trace)


def run(text, settings=None, seed=1, ev="basic"):
    """Run a scenario on a new charger; returns its trace (ScenarioError on failure)."""
    return Scenario(text, settings=settings, seed=seed, ev=ev).run()
