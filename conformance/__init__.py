"""The conformance suite (issue 8): one check per requirement ID of DESIGN §6 (SmartCAR
Appendix G, Table 7, the UK Smart Charge Points Regulations, IEC 61851-1 Annex A), run
against a charger from outside as a test lab would, with an evidence report.

    requirements.py   the IDs and what each asks
    lab.py            what a lab can do and see (the interface the checks use)
    sim_lab.py        the lab on the emulated charger (virtual time)
    targets.py        chargers a run points at (sim; hil in sim_hardware/rig.py)
    checks/           the checks, one module per area
    runner.py         runs them -> one verdict per ID
    report.py         Markdown, HTML, JUnit XML, JSON; plots.py draws the figures

python -m conformance --target sim (make conformance TARGET=sim); docs/conformance.md."""
