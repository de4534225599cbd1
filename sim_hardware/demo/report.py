"""The end of a run: summary.json (every step's facts, for tests and tools), summary.txt (the
same for a person, also printed) and session.png (offered and measured current over the
charger's time, a marker per step; sim_hardware/plot_png.py, no plotting package), all in
the output directory."""

import json
from collections import Counter

from sim_hardware.demo.script import STEPS
from sim_hardware.plot_png import plot

BLUE, ORANGE = (40, 90, 200), (230, 120, 20)
MARKERS = {"plug_in": "PLUG", "profile": "10 A PROFILE", "dno_limit": "DNO 8 A",
           "override": "OVERRIDE", "dno_lifted": "DNO OFF", "power_cut": "POWER CUT",
           "unplug": "UNPLUG"}


def _a(ma):
    return "%.1f A" % (ma / 1000) if isinstance(ma, int) else "—"


# step key -> one line of what its facts show
LINES = {
    "start": lambda f: "BootNotification from %s %s; meter value interval 5 s %s; MQTT "
                       "state published (link %s)" % (f["vendor"], f["model"],
                                                      f["meter_value_interval"],
                                                      f["mqtt_state_link"]),
    "plug_in": lambda f: "transaction %s started; randomised delay %d s; current flowing "
                         "%.1f s after plug-in" % (f["transaction_id"], f["delay_s"],
                                                   f["plug_to_current_s"]),
    "charging": lambda f: "duty %d permille, offered %s, measured %s" % (
        f["duty_permille"], _a(f["offered_ma"]), _a(f["measured_ma"])),
    "profile": lambda f: "SetChargingProfile %s; randomised delay %d s; duty %d permille "
                         "(10 A) %.1f s after" % (f["status"], f["delay_s"],
                                                  f["duty_permille"], f["profile_to_duty_s"]),
    "dno_limit": lambda f: "DNO limit applied: duty %d permille (8 A) %.1f s after, binding "
                           "limit %s, no randomised delay (%d s); MQTT state shows %s" % (
                               f["duty_permille"], f["limit_to_duty_s"], f["limit_source"],
                               f["delay_s"], f["mqtt_state_limit"]),
    "override": lambda f: "override on: duty %d permille (32 A) %.1f s after the press; "
                          "reported to the CSMS %s and on MQTT" % (
                              f["duty_permille"], f["press_to_duty_s"],
                              json.dumps(f["reported_to_csms"])),
    "dno_lifted": lambda f: "DNO limit cleared; limits now %s" % json.dumps(f["limits"]),
    "power_cut": lambda f: "restart delay drawn %d s (%s); current again %.1f s after the "
                           "power came back; override after %s; duty %d permille; %d "
                           "transaction(s) ended %s" % (
                               f["delay_drawn_s"], f["reset_cause"],
                               f["power_back_to_current_s"],
                               "on" if f["override_after"] else "off", f["duty_permille"],
                               len(f["stop_transactions"]),
                               [s.get("reason") for s in f["stop_transactions"]]),
    "unplug": lambda f: "transaction %s stopped (%s), %d Wh; %d transaction(s) in all" % (
        f["transaction_id"], f["reason"], f["energy_wh"], f["transactions"]),
}


def summary(results, obs, opts, wall_s, engine, interrupted=False):
    steps = [{"key": k, "title": t, "ok": ok, ("facts" if ok else "error"): v}
             for k, t, ok, v in results]
    actions = Counter(a for d, m, a, _p in obs.csms.messages if m == 2)
    return {
        "ok": len(steps) == len(STEPS) and all(s["ok"] for s in steps),
        "mode": "interactive" if opts.interactive else "scripted",
        "interrupted": interrupted,
        "wall_s": round(wall_s, 1), "charger_s": round(obs.vs(), 1),
        "time_scale": opts.time_scale, "vm": opts.vm, "engine": engine, "ocpp": opts.ocpp,
        "random_delay_max_s": opts.random_delay_max_s, "seed": opts.seed,
        "steps": steps, "ocpp_messages": len(obs.csms.messages),
        "ocpp_calls": dict(sorted(actions.items())),
        "mqtt_events": len(obs.em.snapshot()[1]),
        "keys_pressed": [{"wall_s": round(ws, 1), "charger_s": round(vs, 1), "what": text}
                         for ws, vs, _who, text in obs.actions],
    }


def text(s):
    if s["mode"] == "interactive":
        head = "Smart charger demo (interactive): %d keys pressed" % len(s["keys_pressed"])
    else:
        head = "Smart charger demo: %d of %d steps passed" % (
            sum(st["ok"] for st in s["steps"]), len(STEPS))
    if s["interrupted"]:
        head += " (interrupted)"
    lines = [head + " in %.0f s wall (%.0f s of charger time at x%g)" % (
                 s["wall_s"], s["charger_s"], s["time_scale"]),
             "firmware core on %s; OCPP %s; random_delay_max_s=%d (600 by default); seed %d"
             % (s["engine"], s["ocpp"], s["random_delay_max_s"], s["seed"]), ""]
    for i, st in enumerate(s["steps"]):
        if st["ok"]:
            detail = LINES[st["key"]](st["facts"]) if st["key"] in LINES else \
                json.dumps(st["facts"], default=str)
            lines.append("  ✓ %d %s: %s" % (i + 1, st["title"], detail))
        else:
            lines.append("  ✗ %d %s: %s" % (i + 1, st["title"], st["error"]))
    for k in s["keys_pressed"]:
        lines.append("  %5.1f s (charger %5.1f s) %s" % (k["wall_s"], k["charger_s"], k["what"]))
    lines += ["", "OCPP: %d messages; calls from and to the station: %s" % (
        s["ocpp_messages"], ", ".join("%s %d" % kv for kv in s["ocpp_calls"].items())),
        "MQTT: %d firmware events published by the gateway" % s["mqtt_events"]]
    return "\n".join(lines)


def write_plot(path, obs, marks):
    """session.png: offered and measured current per second of charger time; marks:
    [(label, charger s)]."""
    samples = obs.samples
    if not samples:
        return False
    end = max(int(samples[-1][0]) + 1, 2)
    offered, measured = [0.0] * (end + 1), [0.0] * (end + 1)
    i, last = 0, samples[0]
    for x in range(end + 1):
        while i < len(samples) and samples[i][0] <= x:
            last = samples[i]
            i += 1
        offered[x] = last[1] / 1000
        measured[x] = (last[3] if last[3] is not None else last[2]) / 1000
    markers = [(max(0, min(end, vs)), label) for label, vs in marks]
    plot(path, [("OFFERED (PILOT)", BLUE, offered), ("MEASURED L1 (MID METER)", ORANGE,
                                                      measured)],
         "DEMO SESSION: CURRENT PER PHASE", "CHARGER TIME (S)", "A", x_max=end,
         markers=markers)
    return True


def write(out_dir, s, obs, marks):
    """Write summary.json, summary.txt and session.png -> the summary text."""
    out_dir.mkdir(parents=True, exist_ok=True)
    s["files"] = {"summary": str(out_dir / "summary.txt"), "json": str(out_dir / "summary.json"),
                  "plot": str(out_dir / "session.png"), "logs": str(out_dir / "logs")}
    if not write_plot(out_dir / "session.png", obs, marks):
        s["files"].pop("plot")
    body = text(s) + "\nfiles: %s\n" % ", ".join(s["files"].values())
    (out_dir / "summary.json").write_text(json.dumps(s, indent=2, default=str) + "\n")
    (out_dir / "summary.txt").write_text(body)
    return body
