"""The report's pictures, drawn as PNG with sim_hardware/plot_png.py (standard library
only): a histogram as counts per second of delay against the uniform expectation, a
timeline as pilot duty, EV current and contactor against time in seconds."""

from sim_hardware.plot_png import plot

BLUE, RED, GREEN, GREY = (31, 119, 180), (214, 39, 40), (44, 160, 44), (150, 150, 150)


def _histogram(path, spec):
    counts, low, high = spec["counts"], spec["low"], spec["high"]
    width = (high - low) / len(counts)
    xs = range(int(high - low))
    ys = [counts[min(int(x / width), len(counts) - 1)] for x in xs]
    expected = [spec["expected"]] * len(ys)
    plot(path, [("COUNT PER BIN", BLUE, ys), ("UNIFORM EXPECTATION", GREY, expected)],
         spec["title"].upper(), spec["x_label"].upper(), "RESTORATIONS")


def _timeline(path, spec):
    samples = spec["samples"]
    if not samples:
        return False
    t0 = samples[0][0]
    per_s = {}
    for t, duty, contactor, current in samples:
        per_s[(t - t0) // 1000] = (duty, contactor, current)
    last = max(per_s)
    duty_pct, amps, closed = [], [], []
    state = samples[0][1:]
    for s in range(last + 1):
        state = per_s.get(s, state)
        duty_pct.append(state[0] / 10)
        closed.append(10 if state[1] else 0)
        amps.append(state[2] / 1000)
    plot(path, [("DUTY %", BLUE, duty_pct), ("EV CURRENT A", RED, amps),
                ("CONTACTOR CLOSED", GREEN, closed)], spec["title"].upper(), "TIME S",
         "% / A")
    return True


DRAW = {"histogram": _histogram, "timeline": _timeline}


def draw_all(results, out_dir):
    """Draw every result's plots into out_dir; -> {id(result): [(title, file name)]}."""
    drawn = {}
    for rs in results.values():
        n = 0  # numbered per ID, so a new run overwrites the last one's files
        for r in rs:
            for spec in r.plots:
                n += 1
                name = "%s-%d.png" % (r.req_id.lower(), n)
                if DRAW[spec["kind"]](str(out_dir / name), spec) is not False:
                    drawn.setdefault(id(r), []).append((spec["title"], name))
    return drawn
