"""The evidence report: Markdown and HTML for people, JUnit XML for CI, JSON for tools.
Per requirement ID its verdict, what was done, each figure against its limit, the plots;
"not shown" with the reason where nothing was exercised."""

import html
import json
from xml.etree import ElementTree as ET

from conformance.requirements import TITLES, source
from conformance.result import FAIL, NOT_APPLICABLE, NOT_SHOWN, PASS
from conformance.runner import id_verdict

MARK = {PASS: "PASS", FAIL: "FAIL", NOT_SHOWN: "NOT SHOWN", NOT_APPLICABLE: "N/A"}


def summary(results):
    counts = {v: 0 for v in MARK}
    for rs in results.values():
        counts[id_verdict(rs)] += 1
    return counts


def _figure_row(f):
    ok = "" if f.ok is None else ("ok" if f.ok else "**FAIL**")
    return "| %s | %s %s | %s | %s |" % (f.name, f.value, f.unit, f.limit, ok)


def markdown(results, meta, drawn):
    counts = summary(results)
    out = ["# Conformance report: %s" % meta["target_description"], "",
           "- target: `%s`; firmware: `%s`" % (meta["target"], meta["firmware"]),
           "- run: %s, %.1f s" % (meta["started"], meta["runtime_s"]),
           "- requirement IDs: %d; pass %d, fail %d, not shown %d, not applicable %d"
           % (len(results), counts[PASS], counts[FAIL], counts[NOT_SHOWN],
              counts[NOT_APPLICABLE]),
           "", "| ID | requirement | verdict |", "| --- | --- | --- |"]
    for req_id, rs in results.items():
        out.append("| [%s](#%s) | %s | %s |" % (req_id, req_id.lower(), TITLES[req_id],
                                                 MARK[id_verdict(rs)]))
    for req_id, rs in results.items():
        out += ["", "## %s: %s" % (req_id, MARK[id_verdict(rs)]), "",
                "*%s* (%s)" % (TITLES[req_id], source(req_id))]
        if not rs:
            out += ["", "No check exercises this requirement yet: not shown."]
        for r in rs:
            out += ["", "### check `%s`: %s (%.2f s)" % (r.check_name, MARK[r.verdict],
                                                        r.duration_s)]
            if r.reason:
                out += ["", "Reason: " + r.reason.strip().replace("\n", "  \n")]
            for s in r.steps:
                out.append("- " + s)
            if r.figures:
                out += ["", "| figure | measured | limit | |", "| --- | --- | --- | --- |"]
                out += [_figure_row(f) for f in r.figures]
            for title, name in drawn.get(id(r), []):
                out += ["", "![%s](%s)" % (title, name)]
    return "\n".join(out) + "\n"


_CSS = ("body{font-family:sans-serif;max-width:70em;margin:2em auto}table{border-collapse:"
        "collapse}td,th{border:1px solid #ccc;padding:2px 6px}.pass{color:#080}.fail{color:"
        "#c00;font-weight:bold}.ns{color:#a60}img{max-width:100%}")
_CLASS = {PASS: "pass", FAIL: "fail", NOT_SHOWN: "ns", NOT_APPLICABLE: "ns"}


def html_report(results, meta, drawn):
    e = html.escape
    counts = summary(results)
    out = ["<!doctype html><meta charset=utf-8><title>Conformance report</title>",
           "<style>%s</style>" % _CSS,
           "<h1>Conformance report: %s</h1>" % e(meta["target_description"]),
           "<p>firmware <code>%s</code>; %s; %.1f s; pass %d, fail %d, not shown %d, "
           "not applicable %d</p>" % (e(meta["firmware"]), e(meta["started"]),
                                      meta["runtime_s"], counts[PASS], counts[FAIL],
                                      counts[NOT_SHOWN], counts[NOT_APPLICABLE]),
           "<table><tr><th>ID<th>requirement<th>verdict"]
    for req_id, rs in results.items():
        v = id_verdict(rs)
        out.append("<tr><td><a href='#%s'>%s</a><td>%s<td class=%s>%s" % (
            req_id, req_id, e(TITLES[req_id]), _CLASS[v], MARK[v]))
    out.append("</table>")
    for req_id, rs in results.items():
        v = id_verdict(rs)
        out.append("<h2 id='%s'>%s: <span class=%s>%s</span></h2><p><i>%s</i> (%s)" % (
            req_id, req_id, _CLASS[v], MARK[v], e(TITLES[req_id]), e(source(req_id))))
        if not rs:
            out.append("<p>No check exercises this requirement yet: not shown.")
        for r in rs:
            out.append("<h3>check <code>%s</code>: <span class=%s>%s</span></h3>" % (
                e(r.check_name), _CLASS[r.verdict], MARK[r.verdict]))
            if r.reason:
                out.append("<pre>%s</pre>" % e(r.reason))
            if r.steps:
                out.append("<ul>%s</ul>" % "".join("<li>%s" % e(s) for s in r.steps))
            if r.figures:
                out.append("<table><tr><th>figure<th>measured<th>limit<th>")
                for f in r.figures:
                    ok = "" if f.ok is None else ("ok" if f.ok else "FAIL")
                    out.append("<tr><td>%s<td>%s %s<td>%s<td class=%s>%s" % (
                        e(f.name), e(str(f.value)), e(f.unit), e(f.limit),
                        "fail" if f.ok is False else "pass", ok))
                out.append("</table>")
            for title, name in drawn.get(id(r), []):
                out.append("<p><img src='%s' alt='%s'>" % (e(name), e(title)))
    return "\n".join(out) + "\n"


def junit(results, meta):
    """One testcase per check (and per ID without a check); fail -> <failure>, not shown /
    not applicable -> <skipped> with the reason, so CI shows them as what they are."""
    suite = ET.Element("testsuite", name="conformance-%s" % meta["target"])
    n = failures = skipped = 0
    for req_id, rs in results.items():
        for r in rs or [None]:
            n += 1
            case = ET.SubElement(suite, "testcase", classname=req_id,
                                 name=r.check_name if r else "no check",
                                 time="%.3f" % (r.duration_s if r else 0))
            verdict = r.verdict if r else NOT_SHOWN
            if verdict == FAIL:
                failures += 1
                text = "; ".join(r.failures) or r.reason
                ET.SubElement(case, "failure", message=text[:500]).text = r.reason or text
            elif verdict != PASS:
                skipped += 1
                ET.SubElement(case, "skipped",
                              message="%s: %s" % (verdict, r.reason if r else "no check"))
    suite.set("tests", str(n))
    suite.set("failures", str(failures))
    suite.set("skipped", str(skipped))
    suite.set("time", "%.3f" % meta["runtime_s"])
    return ET.tostring(suite, encoding="unicode")


def as_json(results, meta, drawn):
    out = {"meta": meta, "requirements": []}
    for req_id, rs in results.items():
        checks = []
        for r in rs:
            d = r.as_dict()
            d["plots"] = [name for _, name in drawn.get(id(r), [])]
            checks.append(d)
        out["requirements"].append({"id": req_id, "title": TITLES[req_id],
                                    "verdict": id_verdict(rs), "checks": checks})
    return json.dumps(out, indent=1)


def write_all(results, meta, out_dir):
    from conformance.plots import draw_all

    out_dir.mkdir(parents=True, exist_ok=True)
    drawn = draw_all(results, out_dir)
    (out_dir / "report.md").write_text(markdown(results, meta, drawn))
    (out_dir / "report.html").write_text(html_report(results, meta, drawn))
    (out_dir / "junit.xml").write_text(junit(results, meta))
    (out_dir / "report.json").write_text(as_json(results, meta, drawn))
    return drawn
