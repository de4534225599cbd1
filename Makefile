# The two commands of the README work on a fresh machine: they set themselves up.
#   make test   every test, on CPython and on the MicroPython 1.27 VM
#   make demo   the whole charger on emulated hardware, a scripted session (~1 minute)
#   make bench  the performance figures of DESIGN §7 that exist so far
#   make flash  BOARD=esp32|rp2040 PORT=… copies the firmware to a board
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PY_OK  := $(VENV)/.installed
JS_OK  := node_modules/.installed

.PHONY: setup test lint demo bench flash fw-bundle conformance clean

setup: $(PY_OK) $(JS_OK)

$(PY_OK): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $@

$(JS_OK): package.json package-lock.json
	@command -v npm >/dev/null || { echo "npm is missing: install Node.js 20+ (apt-get install nodejs npm)"; exit 2; }
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

lint: $(PY_OK)
	$(BIN)/ruff check .

# Four workers, one test file each at a time (pytest-xdist): most end-to-end tests wait on
# processes and sockets, so four overlap well even on two cores; PYTEST_ARGS= runs serially.
PYTEST_ARGS ?= -n 4 --dist loadfile

test: setup lint
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: setup
	@set -e; for b in bench/*.py; do [ -e "$$b" ] || continue; echo "== $$b"; $(BIN)/python $$b; done

# make demo [DEMO=interactive] [DEMO_VM=cpython] [OCPP=1.6|2.0.1]: mosquitto, the bundled CSMS,
# the emulated charger and the gateway run a scripted session on a live dashboard; the
# summary, the plot (session.png) and the logs land in demo-output/ (sim_hardware/demo/)
demo: setup
	@DEMO="$(DEMO)" DEMO_VM="$(DEMO_VM)" OCPP="$(OCPP)" $(BIN)/python -m sim_hardware.demo

# make flash BOARD=esp32|rp2040 PORT=/dev/ttyUSB0: mpy-cross for the board's
# architecture, then mpremote copies the tree (tools/flash.py).
flash: $(PY_OK)
	@test -n "$(BOARD)" || { echo "usage: make flash BOARD=esp32|rp2040 PORT=/dev/ttyUSB0"; exit 2; }
	$(BIN)/python tools/flash.py --board $(BOARD) --port "$(PORT)"

# make fw-bundle VERSION=0.2.0 [MPY=1] [BOARD=esp32|rp2040]: a firmware update bundle of
# evse/ and protocols/ in build/fw/VERSION.bin, its size and SHA-256 printed
# (tools/fw_bundle.py, docs/firmware_update.md)
fw-bundle: $(PY_OK)
	@test -n "$(VERSION)" || { echo "usage: make fw-bundle VERSION=0.2.0 [MPY=1] [BOARD=esp32|rp2040]"; exit 2; }
	$(BIN)/python tools/fw_bundle.py --version "$(VERSION)" $(if $(MPY),--mpy) $(if $(BOARD),--board $(BOARD))

# make conformance TARGET=sim | TARGET=hil PORT=/dev/ttyACM0 LINK_PORT=/dev/ttyUSB0:
# every requirement ID of DESIGN §6, report in conformance-report/ (docs/conformance.md)
conformance: setup
	@test -n "$(TARGET)" || { echo "usage: make conformance TARGET=sim|hil [PORT=… LINK_PORT=…]"; exit 2; }
	$(BIN)/python -m conformance --target $(TARGET) $(if $(PORT),--port $(PORT)) $(if $(LINK_PORT),--link-port $(LINK_PORT)) --out conformance-report

clean:
	rm -rf $(VENV) node_modules .pytest_cache .hypothesis .ruff_cache
