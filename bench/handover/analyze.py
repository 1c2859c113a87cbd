#!/usr/bin/env python3
"""bench/handover analysis: per-event interruption, lost probes and recovery from the probe
traces that bench/handover/run.sh leaves in OUT, tables, same-run ratios, one PNG per case
(gnuplot), and the BENCH {json} line (printed last).

  analyze.py --out DIR [--probe-ms 1] [--plot plot.gp] CASE...

Per case DIR holds:
  CASE.trace   "seq send_ns recv_ns" per datagram received (udp_probe.py recv --trace;
               CLOCK_REALTIME: kernel receive timestamp, sender's stamp)
  CASE.events  "label before_ns after_ns info..." per action of the bench ($EPOCHREALTIME
               around the command that changed the network)
  CASE.meta    "key=value" lines (kind = gap | mbb | cut, impl, ...)
Definitions (window = from 50 ms before the event to the next action of the bench, at most
3 s; the event time T is when the command returned, e.g. `ip addr del` got the kernel's ack;
for a silent cut T is bracketed by the trace: after the last probe that got through was sent
and before the first one that did not):
  interruption_ms  longest time between two consecutive arrivals in the window, among the
                   gaps that start no later than 200 ms after the event (the one it opened;
                   later gaps are the probe's own jitter)
  lost             probes sent in the window that never arrived (sequence numbers)
  recovery_ms      T -> the arrival that ends that longest gap
  baseline_ms      longest gap in the 500 ms before the window (what the probe itself jitters)
Writes CASE.moves.tsv, CASE.window.dat / CASE.lost.dat (the representative event: the one
with the median interruption, or median recovery for cuts), CASE.png, results.json and,
with mobiked logs (CASE-m.log), CASE.breakdown.tsv: where the time of each move goes.
"""
import argparse
import bisect
import json
import math
import os
import re
import statistics
import subprocess
import sys
from datetime import datetime

PRE_NS = 50_000_000
CAP_NS = 3_000_000_000
BASE_NS = 500_000_000
OPEN_NS = 200_000_000

KINDS = {
    # kind: (measured labels, labels that end a window)
    "gap": ({"move"}, {"move", "readd", "warmup"}),
    "mbb": ({"make"}, {"make"}),
    "cut": ({"cut"}, {"cut", "uncut"}),
}
TITLES = {
    "mobike": "mobiked, MOBIKE: address removed",
    "reestablish": "mobiked, MOBIKE off: address removed, new IKE SA",
    "strongswan": "strongSwan 5.9.8 (kernel-libipsec), MOBIKE: address removed",
    "mbb": "mobiked, make-before-break (new address preferred, then old removed)",
    "silent": "mobiked, silent link cut (nftables drop, no address event)",
    "transport": "mobiked, MOBIKEv2 transport-mode SA: address removed",
}


def err(*a):
    print(*a, file=sys.stderr)


def pct(vals, p):
    if not vals:
        return None
    s = sorted(vals)
    k = max(0, math.ceil(p / 100.0 * len(s)) - 1)
    return s[k]


def med(vals):
    return statistics.median(vals) if vals else None


def r1(v):
    return None if v is None else round(float(v), 1)


def load_meta(path):
    m = {}
    if os.path.exists(path):
        for line in open(path):
            if "=" in line:
                k, v = line.rstrip("\n").split("=", 1)
                m[k] = v
    return m


def load_events(path):
    ev = []
    for line in open(path):
        p = line.rstrip("\n").split(" ", 3)
        if len(p) >= 3:
            ev.append((p[0], int(p[1]), int(p[2]), p[3] if len(p) > 3 else ""))
    return ev


class Trace:
    def __init__(self, path, probe_ms=1.0):
        self.interval_ns = probe_ms * 1e6
        rows = []
        for line in open(path):
            p = line.split()
            if len(p) == 3:
                rows.append((int(p[0]), int(p[1]), int(p[2])))
        rows.sort(key=lambda r: r[2])
        self.rows = rows
        self.recv = [r[2] for r in rows]
        self.send_of = {}
        for s, t, _ in rows:
            self.send_of.setdefault(s, t)
        self.seqs = sorted(self.send_of)
        self.sends = [self.send_of[s] for s in self.seqs]  # send time by seq (sender's clock)

    def arrivals(self, a, b):
        """indexes of arrivals with recv in [a, b], plus the one just before a"""
        i = bisect.bisect_left(self.recv, a)
        j = bisect.bisect_right(self.recv, b)
        return max(0, i - 1), j

    def max_gap(self, a, b, start_by=None):
        """longest time between consecutive arrivals in [a, b] (and the one before a);
        with start_by: only gaps that start (last arrival before it) no later than that"""
        i, j = self.arrivals(a, b)
        best = (0, None, None)
        for k in range(i + 1, j):
            if start_by is not None and self.recv[k - 1] > start_by:
                break
            g = self.recv[k] - self.recv[k - 1]
            if g > best[0]:
                best = (g, self.recv[k - 1], self.recv[k])
        return best, (i, j)

    def lost(self, a, b):
        """sequence numbers sent in [a, b] that never arrived (send times of the missing ones
        interpolated between their received neighbours: the sender keeps a fixed schedule)"""
        lo = bisect.bisect_left(self.sends, a)
        hi = bisect.bisect_right(self.sends, b)        # first received one sent after b
        missing = []
        start = max(0, lo - 1)
        stop = min(len(self.seqs) - 1, hi)
        for k in range(start, stop):
            for s in range(self.seqs[k] + 1, self.seqs[k + 1]):
                t = self.send_est(s)
                if t is not None and a <= t <= b:
                    missing.append(s)
        if hi >= len(self.seqs) and self.seqs:
            # nothing received after the window: the schedule says what was sent until b
            s = self.seqs[-1] + 1
            while True:
                t = self.send_est(s)
                if t is None or t > b or len(missing) > 10_000_000:
                    break
                if t >= a:
                    missing.append(s)
                s += 1
        return len(missing), missing

    def send_est(self, seq):
        """send time of seq: its own stamp, or interpolated between received neighbours"""
        if seq in self.send_of:
            return self.send_of[seq]
        k = bisect.bisect_left(self.seqs, seq)
        if 0 < k < len(self.seqs):
            s0, s1 = self.seqs[k - 1], self.seqs[k]
            t0, t1 = self.sends[k - 1], self.sends[k]
            return t0 + (t1 - t0) * (seq - s0) // max(1, s1 - s0)
        if k == len(self.seqs) and self.seqs:      # after the last received: the schedule
            return self.sends[-1] + int((seq - self.seqs[-1]) * self.interval_ns)
        return None


def analyze_case(case, out, probe_ms):
    meta = load_meta(os.path.join(out, case + ".meta"))
    kind = meta.get("kind", "gap")
    tpath = os.path.join(out, case + ".trace")
    epath = os.path.join(out, case + ".events")
    if not (os.path.exists(tpath) and os.path.exists(epath)):
        return None
    tr = Trace(tpath, probe_ms)
    events = load_events(epath)
    measured, enders = KINDS[kind]
    end_of_trace = tr.recv[-1] if tr.recv else 0
    results = []
    for idx, (label, t0, t1, info) in enumerate(events):
        if label not in measured:
            continue
        T = t1
        nxt = [e[1] for e in events[idx + 1:] if e[0] in enders]
        wend = min(nxt[0] if nxt else end_of_trace, T + CAP_NS)
        if kind == "cut":
            # bracket the cut by the last probe through before it and the first one lost
            (g, gs, ge), _ = tr.max_gap(t0, wend)
            if gs is not None:
                k = bisect.bisect_left(tr.recv, gs)
                last_seq = tr.rows[k][0]
                lo = max(t0, tr.send_of[last_seq])
                nxt_send = tr.send_est(last_seq + 1) or (tr.send_of[last_seq] + int(probe_ms * 1e6))
                hi = min(t1, nxt_send)
                T = (lo + hi) // 2 if hi >= lo else t1
        # the gap the event opened: gaps that end after the command started (the event
        # cannot precede it) and start at most OPEN_NS after it returned (later ones are the
        # probe's own jitter, see baseline_ms)
        (g, gs, ge), (i, j) = tr.max_gap(t0, wend, start_by=max(T, t1) + OPEN_NS)
        last = tr.recv[j - 1] if j > 0 else None
        trailing = (wend - last) if last is not None else 0
        recovered = last is not None and last > T and trailing <= g
        if not recovered:       # the stream had not resumed when the window ended
            g, gs, ge = max(g, trailing), last, None
        lost, missing = tr.lost(t0, wend - 30_000_000)
        (bg, _, _), _ = tr.max_gap(t0 - PRE_NS - BASE_NS, t0 - PRE_NS)
        owd = [tr.rows[k][2] - tr.rows[k][1] for k in range(i, j)]
        # recovery: only for a gap that the event opened (it started within 20 ms of it)
        rec = None
        if recovered and ge is not None and ge > T and (kind == "cut" or (kind == "gap" and gs <= T + 20_000_000)):
            rec = max(0.0, (ge - T) / 1e6)
        r = {
            "n": len(results) + 1, "label": label, "t_ns": T, "t_before_ns": t0, "info": info,
            "interruption_ms": g / 1e6, "lost": lost, "gap_start_ns": gs, "gap_end_ns": ge,
            "recovery_ms": rec, "recovered": bool(recovered), "baseline_ms": bg / 1e6,
            "owd_median_ms": (statistics.median(owd) / 1e6) if owd else None,
            "window_end_ns": wend, "missing": missing[:2000],
        }
        if kind == "mbb":
            brk = [e for e in events[idx + 1:] if e[0] == "break" and e[1] < wend]
            if brk:
                (bg2, _, _), _ = tr.max_gap(brk[0][1], wend, start_by=brk[0][2] + OPEN_NS)
                r["break_gap_ms"] = bg2 / 1e6
                r["break_t_ns"] = brk[0][2]
        results.append(r)
    return {"case": case, "kind": kind, "meta": meta, "trace": tr, "events": events, "results": results}


def summarize(c):
    res = c["results"]
    inter = [r["interruption_ms"] for r in res]
    lost = [r["lost"] for r in res]
    rec = [r["recovery_ms"] for r in res if r["recovery_ms"] is not None]
    base = [r["baseline_ms"] for r in res]
    s = {
        "n": len(res),
        "interruption_median": med(inter), "interruption_p90": pct(inter, 90), "interruption_max": max(inter) if inter else None,
        "lost_median": med(lost), "lost_p90": pct(lost, 90), "lost_max": max(lost) if lost else None, "lost_total": sum(lost),
        "recovery_median": med(rec), "recovery_p90": pct(rec, 90), "recovery_max": max(rec) if rec else None,
        "unrecovered": sum(1 for r in res if not r["recovered"]),
        "baseline_median": med(base), "baseline_max": max(base) if base else None,
    }
    c["summary"] = s
    return s


def write_moves(c, out):
    path = os.path.join(out, c["case"] + ".moves.tsv")
    with open(path, "w") as f:
        f.write("n\tlabel\tt_ns\tinterruption_ms\tlost\trecovery_ms\tbaseline_gap_ms\towd_median_ms\tinfo\n")
        for r in c["results"]:
            f.write(f"{r['n']}\t{r['label']}\t{r['t_ns']}\t{r['interruption_ms']:.2f}\t{r['lost']}\t"
                    f"{'' if r['recovery_ms'] is None else format(r['recovery_ms'], '.2f')}\t{r['baseline_ms']:.2f}\t"
                    f"{'' if r['owd_median_ms'] is None else format(r['owd_median_ms'], '.3f')}\t{r['info']}\n")
    return path


def representative(c):
    res = c["results"]
    if not res:
        return None
    key = "recovery_ms" if c["kind"] == "cut" else "interruption_ms"
    vals = [r for r in res if r[key] is not None] or res
    vals = sorted(vals, key=lambda r: (r[key] if r[key] is not None else 1e9))
    return vals[(len(vals) - 1) // 2]


def plot(c, out, gp, probe_ms):
    r = representative(c)
    if r is None:
        return None
    tr = c["trace"]
    T = r["t_ns"]
    ge = r["gap_end_ns"] or T
    span_after = max(150e6, (ge - T) + 120e6)
    if c["kind"] == "mbb" and "break_t_ns" in r:
        span_after = max(span_after, r["break_t_ns"] - T + 150e6)
    a, b = T - 60e6, min(T + span_after, r["window_end_ns"] + 20e6)
    base_seq = None
    k = bisect.bisect_left(tr.sends, T)
    if k < len(tr.seqs):
        base_seq = tr.seqs[k]
    else:
        base_seq = tr.seqs[-1] if tr.seqs else 0
    dat = os.path.join(out, c["case"] + ".window.dat")
    lost = os.path.join(out, c["case"] + ".lost.dat")
    i = bisect.bisect_left(tr.recv, a)
    j = bisect.bisect_right(tr.recv, b)
    with open(dat, "w") as f:
        f.write("# recv_rel_ms seq_rel owd_ms send_rel_ms  (relative to the event at t_ns=%d, seq %d)\n" % (T, base_seq))
        for seq, snd, rcv in tr.rows[i:j]:
            f.write(f"{(rcv - T) / 1e6:.3f} {seq - base_seq} {(rcv - snd) / 1e6:.3f} {(snd - T) / 1e6:.3f}\n")
    nlost = 0
    with open(lost, "w") as f:
        f.write("# send_rel_ms(estimated) seq_rel  (probes that never arrived)\n")
        for s in r["missing"]:
            t = tr.send_est(s)
            if t is not None and a <= t <= b:
                f.write(f"{(t - T) / 1e6:.3f} {s - base_seq}\n")
                nlost += 1
        if nlost == 0:
            f.write("nan nan\n")
    png = os.path.join(out, c["case"] + ".png")
    ev = {"gap": "address removed", "mbb": "new address + preferred route", "cut": "link cut"}[c["kind"]]
    if c["case"] == "reestablish" and c["meta"].get("reestablish") == "manual":
        ev = "address removed; terminate + initiate"
    title = (f"{TITLES.get(c['case'], c['case'])} - event {r['n']} of {len(c['results'])} (median): "
             f"longest gap {r['interruption_ms']:.1f} ms, lost {r['lost']}")
    if r["recovery_ms"] is not None:
        title += f", recovery {r['recovery_ms']:.1f} ms"
    extra = ""
    if c["kind"] == "mbb" and "break_t_ns" in r:
        extra = f"{(r['break_t_ns'] - T) / 1e6:.3f}"
    args = ["gnuplot", "-e",
            f"dat='{dat}'; lost='{lost}'; png='{png}'; ttl='{title}'; evl='{ev}'; "
            f"xmin={(a - T) / 1e6:.1f}; xmax={(b - T) / 1e6:.1f}; "
            f"gapend={(r['recovery_ms'] if r['recovery_ms'] is not None else 0):.3f}; "
            f"brk='{extra}'; probems={probe_ms}", gp]
    p = subprocess.run(args, capture_output=True, text=True, timeout=60)
    if p.returncode != 0:
        err(f"gnuplot failed for {c['case']}: {p.stderr.strip()[:500]}")
        return None
    return png


# --------------------------------------------------------------------- log breakdown
LOG_RE = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}) (\S+)\s+(\S)\s+(.*)$")


def parse_log(path):
    out = []
    if not os.path.exists(path):
        return out
    for line in open(path, errors="replace"):
        m = LOG_RE.match(line.rstrip("\n"))
        if not m:
            continue
        ts = datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S.%f").timestamp()
        out.append((int(round(ts * 1e9)), m.group(2), m.group(3), m.group(4)))
    return out


# (step name, regex over the message); the first match after the event (and after the
# previous step) counts. The daemon logs wall-clock milliseconds.
STEPS = {
    # MOBIKE move, mover's log (m) then the responder's (r)
    "mobike": [
        ("m", "address event", re.compile(r"address \S+ gone")),
        ("m", "move started", re.compile(r"moving .* -> ")),
        ("m", "UPDATE sent", re.compile(r"sending INFORMATIONAL request \d+ \[ N\(UPD_SA_ADDR\)")),
        ("r", "r: UPDATE received", re.compile(r"received INFORMATIONAL request \d+ \[ N\(UPD_SA_ADDR\)")),
        ("m", "response received", re.compile(r"received INFORMATIONAL response")),
        ("m", "m: data plane moved", re.compile(r"CHILD_SAs now")),
        ("m", "m: confirmed", re.compile(r"confirmed .* ms after the move started")),
        ("r", "r: return-routability sent", re.compile(r"sending INFORMATIONAL request \d+ \[ N\(COOKIE2\)")),
        ("r", "r: return-routability ok", re.compile(r"received INFORMATIONAL response \d+ \[ N\(COOKIE2\)")),
        ("r", "r: data plane moved", re.compile(r"CHILD_SAs now")),
    ],
    # a fresh IKE SA
    "reestablish": [
        ("m", "address event", re.compile(r"address \S+ gone")),
        ("m", "IKE_SA_INIT sent", re.compile(r"sending IKE_SA_INIT request")),
        ("m", "IKE_AUTH sent", re.compile(r"sending IKE_AUTH request")),
        ("m", "IKE_AUTH response", re.compile(r"received IKE_AUTH response")),
        ("m", "CHILD_SA installed", re.compile(r"(CHILD_SA|child).*(installed|up|established)", re.I)),
    ],
}
STEPS["mbb"] = STEPS["mobike"][1:]
STEPS["transport"] = STEPS["mobike"]
STEPS["silent"] = [
    ("m", "path declared dead / move", re.compile(r"(dead|timeout|timed out|no answer|liveness|probe).*|moving .* -> ", re.I)),
] + STEPS["mobike"][1:]


def breakdown(c, out):
    """per event: ms from the bench's command to each step in the daemons' logs"""
    steps = STEPS.get(c["case"])
    if not steps:
        return None
    logs = {w: parse_log(os.path.join(out, f"{c['case']}-{w}.log")) for w in ("m", "r")}
    if not logs["m"]:
        return None
    times = {w: [l[0] for l in logs[w]] for w in logs}
    rows = []
    for r in c["results"]:
        T = r["t_before_ns"]
        end = r["window_end_ns"]
        pos = {w: bisect.bisect_left(times[w], T - 1_000_000) for w in logs}   # ms resolution
        st = {}
        for who, name, rx in steps:
            lg, k = logs[who], pos[who]
            while k < len(lg) and lg[k][0] <= end:
                if rx.search(lg[k][3]):
                    st[name] = (lg[k][0] - T) / 1e6
                    pos[who] = k + 1
                    break
                k += 1
        rows.append((r["n"], st))
    path = os.path.join(out, c["case"] + ".breakdown.tsv")
    with open(path, "w") as f:
        f.write("n\t" + "\t".join(s for _, s, _ in steps) + "\n")
        f.write("#\t(ms after the bench's command started; daemon log timestamps, 1 ms resolution)\n")
        for n, st in rows:
            f.write(f"{n}\t" + "\t".join("" if s not in st else f"{st[s]:.0f}" for _, s, _ in steps) + "\n")
    meds = {}
    for _, s, _ in steps:
        v = [st[s] for _, st in rows if s in st]
        if v:
            meds[s] = (statistics.median(v), len(v))
    return path, meds


def took_ms(c, out):
    p = os.path.join(out, c["case"] + "-m.list-sas.json")
    try:
        j = json.load(open(p))
    except Exception:
        return []
    v = []
    for s in j.get("ike_sas", []):
        for m in s.get("moves", []) or []:
            t = m.get("took_ms")
            if isinstance(t, (int, float)):
                v.append(float(t))
    return v


def fmt(v, nd=1):
    if v is None:
        return "-"
    if isinstance(v, int):
        return str(v)
    return f"{v:.{nd}f}"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    ap.add_argument("--probe-ms", type=float, default=1.0)
    ap.add_argument("--plot", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "plot.gp"))
    ap.add_argument("cases", nargs="*")
    a = ap.parse_args()
    cases = {}
    for name in a.cases:
        c = analyze_case(name, a.out, a.probe_ms)
        if c is None:
            err(f"{name}: no trace/events in {a.out}")
            continue
        summarize(c)
        cases[name] = c

    pr = print
    pr()
    for name, c in cases.items():
        s = c["summary"]
        pr(f"== {name}: {TITLES.get(name, name)}")
        extra = {k: v for k, v in c["meta"].items() if k not in ("kind", "impl")}
        if extra:
            pr("   " + ", ".join(f"{k}={v}" for k, v in extra.items()))
        head = "   event  interruption_ms  lost  recovery_ms  baseline_gap_ms"
        if c["kind"] == "mbb":
            head += "  gap_around_break_ms"
        pr(head)
        for r in c["results"]:
            line = (f"   {r['n']:5d}  {r['interruption_ms']:15.1f}  {r['lost']:4d}  "
                    f"{fmt(r['recovery_ms']):>11}  {r['baseline_ms']:15.1f}")
            if c["kind"] == "mbb":
                line += f"  {fmt(r.get('break_gap_ms')):>19}"
            if not r["recovered"]:
                line += "  (no probe through before the window ended)"
            pr(line)
        pr(f"   median {fmt(s['interruption_median']):>13}  {fmt(s['lost_median'], 0):>4}  {fmt(s['recovery_median']):>11}"
           f"  (p90 {fmt(s['interruption_p90'])} / {fmt(s['lost_p90'], 0)} lost, max {fmt(s['interruption_max'])} / "
           f"{fmt(s['lost_max'], 0)} lost, {s['lost_total']} lost in all; {s['n']} events, {s['unrecovered']} unrecovered)")
        t = took_ms(c, a.out)
        if t:
            s["took_median"] = med(t)
            pr(f"   mobiked move history (list-sas took_ms, move started -> confirmed): median {med(t):.1f} ms "
               f"over {len(t)} (max {max(t):.1f})")
        b = breakdown(c, a.out) if c["meta"].get("impl") == "mobiked" else None
        if b and b[1]:
            s["breakdown_median_ms"] = {k: round(v[0], 1) for k, v in b[1].items()}
            pr("   mover's log, median ms after the command started: " +
               ", ".join(f"{k} {v[0]:.0f} ({v[1]}x)" for k, v in b[1].items()) + f"  [{b[0]}]")
        pr(f"   data: {write_moves(c, a.out)}")
        png = plot(c, a.out, a.plot, a.probe_ms)
        if png:
            pr(f"   figure: {png}  (data {os.path.join(a.out, name + '.window.dat')}, {os.path.join(a.out, name + '.lost.dat')})")
        pr()

    def sm(name, key):
        c = cases.get(name)
        return None if c is None else c["summary"].get(key)

    pr("== summary (medians over the events of one run; interruption = longest gap between probe arrivals)")
    pr(f"   {'case':<12} {'events':>6} {'interr. ms':>10} {'p90':>7} {'max':>7} {'lost':>5} {'lost p90':>8} {'recovery ms':>11}")
    for name, c in cases.items():
        s = c["summary"]
        pr(f"   {name:<12} {s['n']:>6} {fmt(s['interruption_median']):>10} {fmt(s['interruption_p90']):>7} "
           f"{fmt(s['interruption_max']):>7} {fmt(s['lost_median'], 0):>5} {fmt(s['lost_p90'], 0):>8} {fmt(s['recovery_median']):>11}")
    ratios = {}
    for num, den in (("strongswan", "mobike"), ("reestablish", "mobike"), ("strongswan", "reestablish"),
                     ("transport", "mobike")):
        x, y = sm(num, "interruption_median"), sm(den, "interruption_median")
        if x is not None and y:
            ratios[f"{num}_over_{den}"] = round(x / y, 1)
    if ratios:
        pr("   same-run ratios of the median interruption: " + ", ".join(f"{k.replace('_over_', '/')} {v}x" for k, v in ratios.items()))
    base = [c["summary"]["baseline_median"] for c in cases.values() if c["summary"]["baseline_median"] is not None]
    if base:
        pr(f"   (probe jitter: the longest gap in quiet 500 ms stretches is {statistics.median(base):.1f} ms median; "
           f"an interruption at that level is no interruption)")
    targets = []
    if sm("mobike", "interruption_median") is not None:
        v = sm("mobike", "interruption_median")
        targets.append(f"address loss median {v:.1f} ms (target <= 5): {'met' if v <= 5 else 'NOT met'}")
    if sm("mbb", "lost_total") is not None:
        v = sm("mbb", "lost_total")
        targets.append(f"make-before-break {v} lost (target 0): {'met' if v == 0 else 'NOT met'}")
    if "silent" in cases:
        v = sm("silent", "recovery_median")
        ok = v is not None and v <= 310 and sm("silent", "unrecovered") == 0
        targets.append(f"silent cut recovery {fmt(v)} ms (target <= 310): {'met' if ok else 'NOT met'}")
    if targets:
        pr("   targets: " + "; ".join(targets))

    bench = {
        "mobike_interruption_ms_median": r1(sm("mobike", "interruption_median")),
        "reestablish_interruption_ms_median": r1(sm("reestablish", "interruption_median")),
        "strongswan_interruption_ms_median": r1(sm("strongswan", "interruption_median")),
        "make_before_break_lost": sm("mbb", "lost_total"),
        "silent_cut_recovery_ms": r1(sm("silent", "recovery_median")),
        "transport_interruption_ms_median": r1(sm("transport", "interruption_median")),
    }
    for name in cases:
        s = cases[name]["summary"]
        key = "make_before_break" if name == "mbb" else ("silent_cut" if name == "silent" else name)
        bench[f"{key}_events"] = s["n"]
        bench[f"{key}_interruption_ms_p90"] = r1(s["interruption_p90"])
        bench[f"{key}_interruption_ms_max"] = r1(s["interruption_max"])
        bench[f"{key}_lost_median"] = s["lost_median"]
        bench[f"{key}_lost_max"] = s["lost_max"]
        if name in ("silent",):
            bench["silent_cut_recovery_ms_p90"] = r1(s["recovery_p90"])
            bench["silent_cut_unrecovered"] = s["unrecovered"]
            bench["silent_cut_path_timeout_supported"] = cases[name]["meta"].get("path_timeout_supported") == "1"
        if s.get("took_median") is not None:
            bench[f"{key}_move_took_ms_median"] = r1(s["took_median"])
    if "reestablish" in cases:
        bench["reestablish_mode"] = cases["reestablish"]["meta"].get("reestablish")
    if base:
        bench["probe_baseline_gap_ms_median"] = r1(statistics.median(base))
    bench.update(ratios)
    with open(os.path.join(a.out, "results.json"), "w") as f:
        json.dump(bench, f, indent=1)
    pr(f"   results: {os.path.join(a.out, 'results.json')}")
    pr("BENCH " + json.dumps(bench, separators=(",", ":")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
