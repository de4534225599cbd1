"""`make demo` / `python -m sim_hardware.demo`: the whole charger on emulated hardware.

It starts the bundled CSMS (OCPP 1.6 sim_hardware/csms16.py by default, OCPP=2.0.1
sim_hardware/csms201.py; in this process), a mosquitto
broker of its own on a free loopback port, the emulated charger (`python -m sim_hardware`,
the firmware core on the MicroPython VM by default, an SDM630 meter) and the gateway
(`python -m gateway --hems mqtt://…`), then runs a scripted session a person can follow on a
live terminal dashboard and ends with a summary and a PNG plot in demo-output/.

- processes.py  starting and stopping the broker, the CSMS, the charger and the gateway
- energy_manager.py  the demo's MQTT client of the gateway's energy-manager interface (the
                DNO's limit, the state and events the gateway publishes)
- observer.py   what is seen: the charger's status and trace, the MQTT state and events,
                every OCPP message the CSMS recorded; samples for the plot
- script.py     the scripted session: one step per table row, each a few actions and
                bounded waits, with the facts each step measured
- dashboard.py  the live rich dashboard, or plain progress lines when stdout is no terminal
- keys.py       DEMO=interactive: the keys that plug, unplug, press the button, cut power
- report.py     the summary (text and JSON) and the PNG plot
"""
