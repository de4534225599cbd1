"""Every requirement ID of DESIGN §6, with where it comes from and what it asks, in the
order the report lists them. A check (conformance/checks/) names the ID it shows; an ID no
check shows is reported "not shown", never passed."""

SOURCES = {
    "AG": "SmartCAR report (UK Power Networks to the ENA), Appendix G equipment standards",
    "T7": "SmartCAR report, Table 7: use-case specific smart charger functionalities",
    "UK": "The Electric Vehicles (Smart Charge Points) Regulations 2021 (SI 2021/1467)",
    "IEC": "IEC 61851-1 Annex A, control pilot",
}

# (id, title) in report order
REQUIREMENTS = (
    ("AG-01", "Secure, robust, user-configurable communication, resilient to attack, private"),
    ("AG-02", "Real-time bidirectional data exchange with any back-end; clock synchronised"),
    ("AG-03", "Accurate current and voltage measurement (MID meter)"),
    ("AG-04", "Interoperable with different back-ends, and in a network emergency"),
    ("AG-05", "Information exchange with any home / building energy management system"),
    ("AG-06", "Report the charging state: connected, charging, discharging, standby, available"),
    ("AG-07", "Report the EV battery state of charge when it is known"),
    ("AG-08", "Near-real-time data during the charge, sub-minute, interval configurable to 5 min"),
    ("AG-09", "Accept demands to change the charge / discharge current"),
    ("AG-10", "Control the charge rate in managed blocks (steps)"),
    ("AG-11", "Failsafe behaviour when smart functions fail (lost communication)"),
    ("AG-12", "Manual override, visible to the energy manager and the back-end"),
    ("AG-13", "Idle immediately after power restoration, then a stochastic restart"),
    ("T7-PQ", "Power-quality awareness: voltage and frequency measured, configurable response"),
    ("T7-MULTI", "Control by more than one entity"),
    ("T7-PROFILE", "Accept a charge profile / charging limit"),
    ("T7-LOG", "Log and transfer the response to every control request"),
    ("UK-5", "Smart functionality: send and receive information, respond by rate or time"),
    ("UK-6", "Smart functionality kept across electricity suppliers / back-ends"),
    ("UK-7", "Charges without a communications network"),
    ("UK-8", "Refuses user input that would create a safety risk"),
    ("UK-9", "Measuring system: energy imported / exported, charging time, rate, for the owner"),
    ("UK-10", "Default no-charge hours (08:00-11:00, 16:00-22:00 weekdays), owner can change"),
    ("UK-11", "Randomised delay up to 600 s by default (1800 s max), not while overriding or DSR"),
    ("UK-S1", "Schedule 1 para 1: general security principles"),
    ("UK-S2", "Schedule 1 para 2: passwords unique per charge point, no shared default"),
    ("UK-S3", "Schedule 1 para 3: software updates authenticated"),
    ("UK-S4", "Schedule 1 para 4: sensitive security parameters protected"),
    ("UK-S5", "Schedule 1 para 5: secure communication"),
    ("UK-S6", "Schedule 1 para 6: data inputs validated"),
    ("UK-S7", "Schedule 1 para 7: ease of use of the security settings"),
    ("UK-S8", "Schedule 1 para 8: protection against attack, tamper detection"),
    ("UK-S9", "Schedule 1 para 9: secure configuration"),
    ("UK-S10", "Schedule 1 para 10: security log"),
    ("UK-S11", "Schedule 1 para 11: provision of security information"),
    ("IEC-STATE", "Pilot state detection A-F with the band gaps"),
    ("IEC-DUTY", "PWM duty from the offered current (Annex A)"),
    ("IEC-DIODE", "Diode check before closing the contactor"),
    ("IEC-OPEN", "Contactor opens within 100 ms of leaving C/D"),
    ("IEC-CLOSE", "Contactor closes within 3 s of B2->C2"),
    ("IEC-X1", "Contactor forced open >= 6 s after PWM off if the EV stays in C"),
    ("IEC-PP", "Offer never above the cable rating (proximity pilot)"),
)

IDS = tuple(r[0] for r in REQUIREMENTS)
TITLES = dict(REQUIREMENTS)


def source(req_id):
    return SOURCES[req_id.split("-")[0]]
