"""Headless Chromium driven over the Chrome DevTools Protocol from Python, for the web page
tests: Debian's /usr/bin/chromium started by the test, one page, the `websockets` sync
client on the page's DevTools socket. Clicks and typing are real input events
(Input.dispatchMouseEvent / Input.insertText), not element.click() from a script.

    with Chromium(tmp_path) as page:
        page.goto("http://127.0.0.1:8000/")
        page.wait("document.title", 10, "the title")   # a JS expression until truthy
        page.fill("#limit", "10"); page.click("#set-profile")

A browser that is missing or does not start is an AssertionError saying so (never a skip).
Its process group is killed at the end, so nothing outlives the test."""

import contextlib
import itertools
import json
import os
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

from websockets.sync.client import connect

CHROMIUM = "/usr/bin/chromium"
INSTALL = "sudo apt-get install chromium (Debian's package; .ci/run installs it)"
START_TIMEOUT_S = 60  # a cold start on a busy 2-CPU machine


class Chromium:
    def __init__(self, work_dir, executable=CHROMIUM):
        if not os.access(executable, os.X_OK):
            raise AssertionError("headless Chromium is needed and %s is missing: %s"
                                 % (executable, INSTALL))
        self.dir = Path(work_dir) / "chromium"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.log = self.dir / "chromium.log"
        self._port_file = self.dir / "profile" / "DevToolsActivePort"
        self._port_file.unlink(missing_ok=True)  # a previous run's port
        self._log_file = open(self.log, "w")  # noqa: SIM115 (closed in close)
        args = [executable, "--headless", "--no-sandbox", "--disable-gpu",
                "--remote-debugging-port=0", "--user-data-dir=%s" % (self.dir / "profile"),
                "--no-first-run", "--no-default-browser-check", "--disable-breakpad",
                "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--window-size=1280,900", "about:blank"]
        # its own session: close() kills the whole group (renderers, zygotes, crashpad)
        self.proc = subprocess.Popen(args, stdout=self._log_file, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        self._ids = itertools.count(1)
        self.ws = None
        try:
            # entered as a context manager (websockets 17.1); left in close()
            self.ws = connect(self._page_socket(), max_size=None, open_timeout=20).__enter__()
        except BaseException:
            self.close()
            raise

    def _page_socket(self):
        """The about:blank page's DevTools WebSocket URL, once Chromium wrote its port."""
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError("headless Chromium exited with %s at start: %s"
                                     % (self.proc.returncode, self.log.read_text()[-2000:]))
            pages = self._pages()
            if pages:
                return pages[0]["webSocketDebuggerUrl"]
            time.sleep(0.1)
        raise AssertionError("headless Chromium did not open its DevTools port within %d s: %s"
                             % (START_TIMEOUT_S, self.log.read_text()[-2000:]))

    def _pages(self):
        """The browser's page targets, or None before it listens."""
        with contextlib.suppress(OSError, ValueError):
            port = int(self._port_file.read_text().split()[0])
            with urllib.request.urlopen("http://127.0.0.1:%d/json/list" % port,
                                        timeout=10) as r:
                return [t for t in json.load(r) if t["type"] == "page"]
        return None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        if self.ws is not None:
            with contextlib.suppress(Exception):
                self.ws.close()
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)  # children left after the browser
        self._log_file.close()

    # --- the protocol ----------------------------------------------------------------------

    def send(self, method, timeout_s=30, **params):
        """One CDP command -> its result (events that arrive meanwhile are dropped)."""
        msg_id = next(self._ids)
        self.ws.send(json.dumps({"id": msg_id, "method": method, "params": params}))
        deadline = time.monotonic() + timeout_s
        while True:
            reply = json.loads(self.ws.recv(timeout=max(0.1, deadline - time.monotonic())))
            if reply.get("id") == msg_id:
                if "error" in reply:
                    raise AssertionError("CDP %s failed: %s" % (method, reply["error"]))
                return reply.get("result", {})

    def eval(self, expression):
        """A JavaScript expression's value in the page (promises awaited)."""
        r = self.send("Runtime.evaluate", expression=expression, returnByValue=True,
                      awaitPromise=True)
        if "exceptionDetails" in r:
            raise AssertionError("JS %r threw: %s" % (expression, r["exceptionDetails"]))
        return r["result"].get("value")

    def goto(self, url, timeout_s=30):
        self.send("Page.navigate", url=url)
        self.wait("document.readyState === 'complete' && location.href === %s"
                  % json.dumps(url), timeout_s, "%s to load" % url)

    def wait(self, expression, timeout_s, what):
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            value = self.eval(expression)
            if value:
                return value
            time.sleep(0.1)
        raise AssertionError("timed out after %.0f s waiting for %s in the page (%s)"
                             % (timeout_s, what, expression))

    def text(self, selector):
        return self.eval("document.querySelector(%s)?.textContent ?? null"
                         % json.dumps(selector))

    def click(self, selector):
        """A left click at the middle of the element, as a mouse would."""
        box = self.eval("(() => { const e = document.querySelector(%s); if (!e) return null;"
                        " e.scrollIntoView({block: 'center'}); const r ="
                        " e.getBoundingClientRect(); return [r.x + r.width / 2,"
                        " r.y + r.height / 2]; })()" % json.dumps(selector))
        assert box is not None, "no %s on the page" % selector
        for kind in ("mousePressed", "mouseReleased"):
            self.send("Input.dispatchMouseEvent", type=kind, x=box[0], y=box[1],
                      button="left", clickCount=1)

    def fill(self, selector, value):
        """Replace an input's text by typing value into it."""
        self.click(selector)
        assert self.eval("(() => { const e = document.querySelector(%s); e.select();"
                         " return document.activeElement === e; })()" % json.dumps(selector))
        self.send("Input.insertText", text=value)

    def select(self, selector, value):
        """Choose an option of a <select> (as the keyboard would: value, then change)."""
        assert self.eval("(() => { const e = document.querySelector(%s); e.value = %s;"
                         " e.dispatchEvent(new Event('change', {bubbles: true}));"
                         " return e.value === %s; })()"
                         % (json.dumps(selector), json.dumps(value), json.dumps(value)))
