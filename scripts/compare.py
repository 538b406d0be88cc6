#!/usr/bin/env python3
"""scripts/compare.py - the side-by-side report of make compare.

  compare.py                 the report, from the logs of the compare boots
  compare.py --check-knobs   only check COMPARE_SECONDS and COMPARE_RUNS (make compare, first)

Reads the "# compare: KIND key=value ..." lines (their format:
tests/kernel/compare_report.h) that compare.idle and compare.storm printed
into the logs of the compare boots this make compare ran (build/boots/
compare-smpN.log, one per CPU count of COMPARE_SMP, ONLY as given), and
writes:
  - tables on the terminal: the idle workload (per strategy, CPU count and
    batch size), the idle machine with and without deferred idle, the
    mixed storm (per strategy and CPU count) with its hazard counters, and
    each bystander's stall;
  - CSV in build/compare/, one file per workload: compare.csv (idle),
    defer.csv, storm.csv, stall.csv (every stall distribution, per CPU and
    all CPUs), stall_cdf.csv (the CDF points the chart plots);
  - gnuplot charts, PNG and SVG: latency (median patch time of a 256-site
    batch against CPU count), storm_latency (the storm's median time per
    flip against CPU count), stall (longest bystander stall, 256-site
    batches) and stall_cdf (the bystander-stall CDF per strategy, for
    256-site batches and the storm, per CPU count).
A strategy whose run failed is a table row saying what failed; the exit
status is then 1, as it is when no log holds a figure.
"""
import csv
import os
import re
import shutil
import subprocess
import sys

from xptools import paths, stanzas

LINE = re.compile(r"^# compare: (\w+) (.*)$")
REST = ("why", "name")                  # keys whose value is the rest of the line
SECONDS_MAX = 600                       # compare.seconds (tests/kernel/compare_storm.c)
RUNS_MAX = 256                          # compare.runs (tests/kernel/compare_strategies.c)


def parse_line(text):
    """'k=v k=v why=free text' -> dict."""
    out = {}
    words = text.split(" ")
    for i, w in enumerate(words):
        k, eq, v = w.partition("=")
        if not eq:
            continue
        if k in REST:
            out[k] = " ".join([v] + words[i + 1:])
            break
        out[k] = v
    return out


def logs_of_this_run():
    """The logs of the compare stanzas selected as boots.py selected them
    (COMPARE_SMP, ONLY): never a stale log of a CPU count not asked for."""
    every = stanzas.parse(paths.BOOTS_CFG)
    group = os.environ.get("GROUP", "") or ("" if os.environ.get("ONLY") else "compare")
    chosen = [s for s in stanzas.select(every, group, os.environ.get("ONLY", "")) if "compare" in s.groups]
    return [os.path.join(paths.BUILD, "boots", s.name + ".log") for s in chosen]


def read(logs):
    """Every compare line of the logs, by kind: {kind: [dict, ...]}."""
    got = {}
    for log in logs:
        if not os.path.exists(log):
            print(f"compare: no {paths.rel(log)} (its boot did not run)", file=sys.stderr)
            continue
        with open(log, errors="replace") as f:
            for line in f:
                m = LINE.match(line.rstrip("\n"))
                if m:
                    got.setdefault(m.group(1), []).append(parse_line(m.group(2)))
    return got


def num(d, k, default=0):
    try:
        return int(d[k])
    except (KeyError, ValueError):
        return default


def us(ns):
    """ns (a string or int) -> microseconds, one decimal."""
    return round(int(ns) / 1000, 1)


def fus(v):
    """A figure in microseconds for the table: 3.4, 120, 12 345."""
    if v == "" or v is None:
        return ""
    return f"{v:.1f}" if v < 100 else f"{int(round(v)):,}".replace(",", " ")


# --- the idle workload ----------------------------------------------------

IDLE_FIELDS = ["strategy", "smp", "sites", "runs", "status", "median_us", "max_us", "rounds", "ipis_per_batch",
               "stall_n", "stall_p50_us", "stall_p99_us", "stall_max_us", "error"]


def idle_rows(lines):
    rows = []
    for d in lines:
        ok = d.get("status") == "ok"
        runs = num(d, "runs")
        rows.append({
            "strategy": d["strategy"], "smp": num(d, "smp"), "sites": num(d, "sites"), "runs": runs,
            "status": d.get("status", "?"),
            "median_us": num(d, "median_us") if ok else "", "max_us": num(d, "max_us") if ok else "",
            "rounds": num(d, "rounds") if ok else "",
            "ipis_per_batch": round(num(d, "ipis") / runs, 1) if ok and runs else "",
            "stall_n": num(d, "stall_n") if ok else "",
            "stall_p50_us": us(d["stall_p50_ns"]) if ok else "", "stall_p99_us": us(d["stall_p99_ns"]) if ok else "",
            "stall_max_us": us(d["stall_max_ns"]) if ok else "",
            "error": "" if ok else f"{d.get('error', '?')}: {d.get('why', '')}",
        })
    rows.sort(key=lambda r: (r["sites"], r["smp"]))
    return rows


def idle_table(rows):
    head = (f"{'strategy':<20}{'smp':>4}{'sites':>6}{'rounds':>7}{'IPIs':>7}{'median us':>11}{'max us':>10}"
            f"{'stall p50':>11}{'p99':>9}{'max us':>10}")
    print("Idle workload: patch time of each batch; bystander stall = each bystander's longest gap per batch")
    print(head)
    print("-" * len(head))
    for r in rows:
        lead = f"{r['strategy']:<20}{r['smp']:>4}{r['sites']:>6}"
        if r["status"] != "ok":
            print(f"{lead}  FAILED {r['error']}")
            continue
        print(f"{lead}{r['rounds']:>7}{r['ipis_per_batch']:>7}{fus(r['median_us']):>11}{fus(r['max_us']):>10}"
              f"{fus(r['stall_p50_us']):>11}{fus(r['stall_p99_us']):>9}{fus(r['stall_max_us']):>10}")


DEFER_FIELDS = ["strategy", "smp", "sites", "defer_idle", "runs", "status", "median_us", "max_us", "rounds",
                "ipis_per_batch", "deferred", "error"]


def defer_rows(lines):
    rows = []
    for d in lines:
        ok = d.get("status") == "ok"
        runs = num(d, "runs")
        rows.append({"strategy": d["strategy"], "smp": num(d, "smp"), "sites": num(d, "sites"),
                     "defer_idle": num(d, "defer_idle"), "runs": runs, "status": d.get("status", "?"),
                     "median_us": num(d, "median_us") if ok else "", "max_us": num(d, "max_us") if ok else "",
                     "rounds": num(d, "rounds") if ok else "",
                     "ipis_per_batch": round(num(d, "ipis") / runs, 1) if ok and runs else "",
                     "deferred": num(d, "deferred") if ok else "",
                     "error": "" if ok else f"{d.get('error', '?')}: {d.get('why', '')}"})
    rows.sort(key=lambda r: (r["smp"], r["defer_idle"]))
    return rows


def defer_table(rows):
    if not rows:
        return
    head = f"{'idle machine':<26}{'smp':>4}{'sites':>6}{'rounds':>7}{'IPIs':>7}{'median us':>11}{'max us':>10}" \
           f"{'CPU-rounds deferred':>21}"
    print("\nIdle machine (every other CPU halted): 16 sites, with and without deferred idle")
    print(head)
    print("-" * len(head))
    for r in rows:
        name = r["strategy"] + (" + defer_idle" if r["defer_idle"] else "")
        lead = f"{name:<26}{r['smp']:>4}{r['sites']:>6}"
        if r["status"] != "ok":
            print(f"{lead}  FAILED {r['error']}")
            continue
        print(f"{lead}{r['rounds']:>7}{r['ipis_per_batch']:>7}{fus(r['median_us']):>11}{fus(r['max_us']):>10}"
              f"{r['deferred']:>21}")


# --- the mixed storm ---------------------------------------------------------

STORM_FIELDS = ["strategy", "smp", "ms", "idle_ms", "status", "flips", "flips_per_s", "lat_p50_us", "lat_p99_us",
                "lat_max_us", "stall_n", "stall_p50_us", "stall_p99_us", "stall_max_us", "nmi_per_s", "nmi_idle_per_s",
                "nmi_ratio", "torn", "bad", "lost", "stuck", "refused", "nested", "unsafe", "knobs", "error", "hazards"]


def storm_rows(lines, hazards):
    rows = []
    for d in lines:
        key = (d["strategy"], num(d, "smp"))
        idle = num(d, "nmi_idle_per_s")
        rows.append({
            "strategy": d["strategy"], "smp": num(d, "smp"), "ms": num(d, "ms"), "idle_ms": num(d, "idle_ms"),
            "status": d.get("status", "?"), "flips": num(d, "flips"), "flips_per_s": num(d, "flips_per_s"),
            "lat_p50_us": us(d["lat_p50_ns"]), "lat_p99_us": us(d["lat_p99_ns"]), "lat_max_us": us(d["lat_max_ns"]),
            "stall_n": num(d, "stall_n"), "stall_p50_us": us(d["stall_p50_ns"]),
            "stall_p99_us": us(d["stall_p99_ns"]), "stall_max_us": us(d["stall_max_ns"]),
            "nmi_per_s": num(d, "nmi_per_s"), "nmi_idle_per_s": idle,
            "nmi_ratio": round(num(d, "nmi_per_s") / idle, 2) if idle else "",
            "torn": num(d, "torn"), "bad": num(d, "bad"), "lost": num(d, "lost"), "stuck": num(d, "stuck", -1),
            "refused": num(d, "refused"), "nested": num(d, "nested"), "unsafe": d.get("unsafe", "-"),
            "knobs": d.get("knobs", "-"), "error": d.get("error", "-"),
            "hazards": "; ".join(f"{h['name']}={h['count']}" for h in hazards.get(key, [])),
        })
    rows.sort(key=lambda r: r["smp"])
    return rows


def storm_table(rows, seconds):
    if not rows:
        return
    head = (f"{'strategy':<20}{'smp':>4}{'flips/s':>8}{'lat p50':>9}{'p99':>9}{'max us':>10}{'stall p50':>11}"
            f"{'p99':>9}{'max us':>10}{'NMI/s pat / idle':>23}{'torn':>7}  result")
    print(f"\nMixed storm ({seconds} s per strategy): NMIs, IPIs and INT 18 from every other CPU, sites flipping in "
          f"every context")
    print(head)
    print("-" * (len(head) + 16))
    knobbed = False
    for r in rows:
        mark = "*" if r["knobs"] != "-" else ""
        knobbed |= bool(mark)
        ratio = f"{r['nmi_ratio']:.2f}" if r["nmi_ratio"] != "" else "-"
        result = {"ok": "ok", "unsafe-detected": f"unsafe vs {r['unsafe']}: torn, detected",
                  "unsafe-unseen": f"unsafe vs {r['unsafe']}: nothing tore",
                  "unsafe-undetectable": f"unsafe vs {r['unsafe']}: cannot show it"}.get(
                      r["status"], f"FAILED {r['error']}")
        print(f"{r['strategy'] + mark:<20}{r['smp']:>4}{r['flips_per_s']:>8}{fus(r['lat_p50_us']):>9}"
              f"{fus(r['lat_p99_us']):>9}{fus(r['lat_max_us']):>10}{fus(r['stall_p50_us']):>11}"
              f"{fus(r['stall_p99_us']):>9}{fus(r['stall_max_us']):>10}"
              f"{str(r['nmi_per_s']) + ' / ' + str(r['nmi_idle_per_s']) + ' = ' + ratio:>23}{r['torn']:>7}  {result}")
    if knobbed:
        print("* lab knobs widened the windows of this expected-unsafe run (storm.csv: knobs): its latency, "
              "flips/s and NMI rate are the knobs'")
    print("Hazard counters (the strategy's own):")
    for r in rows:
        print(f"  {r['strategy']} -smp {r['smp']}: {r['hazards'] or '(none)'}")


# --- stall distributions -----------------------------------------------------

STALL_FIELDS = ["workload", "strategy", "smp", "sites", "cpu", "n", "p50_us", "p99_us", "max_us"]
CDF_FIELDS = ["workload", "strategy", "smp", "sites", "stall_us", "fraction"]


def stall_rows(lines):
    return [{"workload": d["workload"], "strategy": d["strategy"], "smp": num(d, "smp"), "sites": d["sites"],
             "cpu": d["cpu"], "n": num(d, "n"), "p50_us": us(d["p50_ns"]), "p99_us": us(d["p99_ns"]),
             "max_us": us(d["max_ns"])} for d in lines]


def per_cpu_table(rows):
    """p99 / max of each bystander, for the 256-site batches and the storm."""
    groups = {}
    for r in rows:
        if r["cpu"] != "all" and (r["workload"] == "storm" or r["sites"] == "256"):
            groups.setdefault((r["workload"], r["smp"], r["strategy"]), []).append(r)
    if not groups:
        return
    print("\nStall per bystander, p99 / max us (idle: 256-site batches; storm: per flip):")
    for (w, smp, s), rs in sorted(groups.items(), key=lambda kv: (kv[0][0], kv[0][1])):
        cells = "  ".join(f"{r['cpu']}: {fus(r['p99_us'])}/{fus(r['max_us'])}" for r in rs)
        print(f"  {w:<5} -smp {smp:<3} {s:<20} {cells}")


def cdf_points(lines):
    """{(workload, strategy, smp, sites): [(stall_us, fraction), ...]}."""
    counts = {}
    for d in lines:
        key = (d["workload"], d["strategy"], num(d, "smp"), d["sites"])
        for b in d.get("buckets", "").split(","):
            if b:
                top, _, n = b.partition(":")
                counts.setdefault(key, []).append((int(top) / 1000, int(n)))
    out = {}
    for key, pts in counts.items():
        pts.sort()
        total, seen = sum(n for _, n in pts), 0
        out[key] = []
        for v, n in pts:
            seen += n
            out[key].append((v, seen / total))
    return out


# --- charts -----------------------------------------------------------------

def gnuplot(script):
    r = subprocess.run(["gnuplot"], input=script, text=True, capture_output=True)
    if r.returncode:
        print(f"compare: gnuplot failed: {r.stderr.strip()}", file=sys.stderr)
    return r.returncode == 0


def charts(idle, storm, cdf, out):
    if not shutil.which("gnuplot"):
        print("compare: gnuplot is not installed (make deps): no charts", file=sys.stderr)
        return []
    strategies = list(dict.fromkeys([r["strategy"] for r in idle] + [r["strategy"] for r in storm]))
    smps = sorted({r["smp"] for r in idle} | {r["smp"] for r in storm})
    big = [r for r in idle if r["sites"] == 256 and r["status"] == "ok"]
    made = []

    def blocks(path, rows, col):
        """One gnuplot data block per strategy: smp value; its title (a *:
        lab knobs were on)."""
        names = []
        with open(path, "w") as f:
            for s in strategies:
                pts = sorted((r["smp"], r[col]) for r in rows if r["strategy"] == s)
                if pts:
                    names.append(s + ("*" if any(r.get("knobs", "-") != "-" for r in rows if r["strategy"] == s)
                                      else ""))
                    f.write(f"# {s}\n" + "".join(f"{n} {v}\n" for n, v in pts) + "\n\n")
        return names

    terms = (("pngcairo size 960,560", "png"), ("svg size 960,560", "svg"))
    lat = os.path.join(out, "latency.dat")
    lat_names = blocks(lat, big, "median_us")
    slat = os.path.join(out, "storm_latency.dat")
    slat_names = blocks(slat, [r for r in storm if r["flips"]], "lat_p50_us")
    stall = os.path.join(out, "stall.dat")
    with open(stall, "w") as f:         # rows: strategy, then one column per smp
        f.write("strategy " + " ".join(f"smp{n}" for n in smps) + "\n")
        for s in strategies:
            vals = [next((r["stall_max_us"] for r in big if r["strategy"] == s and r["smp"] == n), 0) for n in smps]
            f.write(f"{s} " + " ".join(str(v) for v in vals) + "\n")
    # The CDFs: one block per (panel, strategy); panels: workload x smp.
    panels = [(w, n) for w in ("idle", "storm") for n in smps]
    failed = {(r["strategy"], r["smp"]) for r in storm if r["status"] == "failed"}
    cdf_dat = os.path.join(out, "stall_cdf.dat")
    index, plots = 0, {}
    with open(cdf_dat, "w") as f:
        for w, n in panels:
            for s in strategies:
                pts = cdf.get((w, s, n, "256" if w == "idle" else "-"))
                if pts and not (w == "storm" and (s, n) in failed):     # its stalls timed refusals
                    f.write(f"# {w} smp{n} {s}\n" + "".join(f"{v} {p}\n" for v, p in pts) + "\n\n")
                    plots.setdefault((w, n), []).append((index, s))
                    index += 1
    for term, ext in terms:
        script = f"set terminal {term}\nset key top left\nset grid\n"
        xaxis = f"set xrange [{min(smps) - 1}:{max(smps) + 1}]\nset xtics ({', '.join(map(str, smps))})\n"
        if lat_names:
            script += f"""
set output '{out}/latency.{ext}'
set title 'Patch time of a 256-site batch (median), idle workload'
set xlabel 'CPUs (-smp)'
set ylabel 'microseconds'
set logscale y
{xaxis}plot for [i=0:{len(lat_names) - 1}] '{lat}' index i using 1:2 with linespoints lw 2 title word('{" ".join(lat_names)}', i+1)
"""
        if slat_names:
            script += f"""
set output '{out}/storm_latency.{ext}'
set title 'Patch time per flip under the mixed storm (median; *: lab knobs slowed the writes)'
set xlabel 'CPUs (-smp)'
set ylabel 'microseconds'
set logscale y
{xaxis}plot for [i=0:{len(slat_names) - 1}] '{slat}' index i using 1:2 with linespoints lw 2 title word('{" ".join(slat_names)}', i+1)
"""
        if big:
            script += f"""
set output '{out}/stall.{ext}'
set title 'Longest bystander stall during 256-site batches, idle workload'
set xlabel 'strategy'
set ylabel 'microseconds'
set logscale y
set autoscale x
set xtics autofreq
set style data histograms
set style fill solid 0.8
plot for [c=2:{len(smps) + 1}] '{stall}' using c:xtic(1) title columnheader(c)
"""
        if plots:
            rows_n = len({w for w, _ in plots})
            h = 300 * rows_n + 60
            size = f"size {600 * len(smps) + 40},{h}"
            script += f"""
set terminal {term.split(' size')[0]} {size}
set output '{out}/stall_cdf.{ext}'
set multiplot layout {rows_n},{len(smps)} title 'Bystander stall: the longest gap of each bystander per batch (idle: 256 sites) or per flip (storm)' font ',10'
set logscale x
unset logscale y
set yrange [0:1]
set xlabel 'stall (microseconds)'
set ylabel 'fraction of batches'
set key outside right top font ',9'
"""
            for w in ("idle", "storm"):
                if not any(k[0] == w for k in plots):
                    continue
                for n in smps:
                    ps = plots.get((w, n), [])
                    script += f"set title '{w}, -smp {n}'\n"
                    if ps:
                        script += "plot " + ", ".join(f"'{cdf_dat}' index {i} using 1:2 with steps lw 2 title '{s}'"
                                                      for i, s in ps) + "\n"
                    else:
                        script += "set multiplot next\n"
            script += "unset multiplot\n"
        if not gnuplot(script):
            return []
        made.append(ext)
    names = (["latency"] if lat_names else []) + (["storm_latency"] if slat_names else []) + \
            (["stall"] if big else []) + (["stall_cdf"] if plots else [])
    return names


def write_csv(path, fields, rows):
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)


def check_knobs():
    """The knobs the kernel would reject (compare.seconds=, compare.runs=),
    refused before anything boots."""
    for knob, lo, hi, what in (("COMPARE_SECONDS", 1, SECONDS_MAX, "whole seconds (the mixed storm's time per strategy)"),
                               ("COMPARE_RUNS", 2, RUNS_MAX, "batches per strategy and size (the idle workload)")):
        v = os.environ.get(knob, "")
        if v and (not v.isdigit() or not lo <= int(v) <= hi):
            print(f"make compare: {knob}='{v}': want {lo}..{hi} {what}", file=sys.stderr)
            return 2
    return 0


def main():
    if sys.argv[1:] == ["--check-knobs"]:
        return check_knobs()
    if sys.argv[1:]:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        logs = logs_of_this_run()
    except stanzas.StanzaError as e:
        print(f"compare: {e}", file=sys.stderr)
        return 2
    got = read(logs)
    if not any(got.get(k) for k in ("idle", "storm", "defer")):
        print(f"compare: no figures in {', '.join(paths.rel(l) for l in logs) or '(no compare boot selected)'}",
              file=sys.stderr)
        return 1
    out = os.path.join(paths.BUILD, "compare")
    os.makedirs(out, exist_ok=True)
    hazards = {}
    for h in got.get("hazard", []):
        hazards.setdefault((h["strategy"], num(h, "smp")), []).append(h)
    idle = idle_rows(got.get("idle", []))
    defer = defer_rows(got.get("defer", []))
    storm = storm_rows(got.get("storm", []), hazards)
    stall = stall_rows(got.get("stall", []))
    cdf = cdf_points(got.get("cdf", []))
    seconds = sorted({num(d, "seconds") for d in got.get("info", []) if "seconds" in d})

    idle_table(idle)
    defer_table(defer)
    storm_table(storm, "/".join(map(str, seconds)) or "?")
    per_cpu_table(stall)

    write_csv(os.path.join(out, "compare.csv"), IDLE_FIELDS, idle)
    write_csv(os.path.join(out, "defer.csv"), DEFER_FIELDS, defer)
    write_csv(os.path.join(out, "storm.csv"), STORM_FIELDS, storm)
    write_csv(os.path.join(out, "stall.csv"), STALL_FIELDS, stall)
    write_csv(os.path.join(out, "stall_cdf.csv"), CDF_FIELDS,
              [{"workload": k[0], "strategy": k[1], "smp": k[2], "sites": k[3], "stall_us": v, "fraction": round(p, 4)}
               for k, pts in sorted(cdf.items()) for v, p in pts])
    made = charts(idle, storm, cdf, out)
    failed = [f"{r['strategy']} -smp {r['smp']}" + (f" ({r['sites']} sites)" if "sites" in r else " (storm)")
              for r in idle + defer + storm if r["status"] == "failed"]
    print(f"\ncompare: {len(idle)} idle, {len(defer)} idle-machine and {len(storm)} storm rows from {len(logs)} "
          f"log(s): {paths.rel(out)}/compare.csv, defer.csv, storm.csv, stall.csv, stall_cdf.csv"
          + (f"; charts {', '.join(made)} (.png, .svg)" if made else "; no charts"))
    if failed:
        print(f"compare: failed: {', '.join(failed)}")
    return 1 if failed or not made else 0


if __name__ == "__main__":
    sys.exit(main())
