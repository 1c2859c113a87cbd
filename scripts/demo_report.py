#!/usr/bin/env python3
"""Helpers of scripts/demo.sh (standard library only).

  demo_report.py tick --t0 NS --log PROBE_LOG [--interval-ms 5] < list-sas.json
      one line of the live status table from `mobikectl --json list-sas` (the
      mobile node's) and the probe receiver's per-datagram log so far
  demo_report.py header
      the table's header line
  demo_report.py report --log PROBE_LOG --moves MOVES --sas MN_SAS_JSON --out DIR
                        --png FILE [--interval-ms 5] [--t0 NS]
      per-move interruption (lost probes, longest gap, probes flowing after the
      move, the engine's confirmation time from the move history), the gnuplot
      timeline (FILE), and as the last line `DEMO_MOVES {json}` for demo.sh

PROBE_LOG lines: "SEQ SEND_NS ARRIVAL_NS" (tests/lib/udp_probe.py recv --log).
MOVES lines: "NAME EPOCH_NS TO_LOCAL" (when demo.sh started the move).
"""
import argparse
import json
import os
import subprocess
import sys

WINDOW_BEFORE_S = 0.2   # a move's window starts this long before it was started
WINDOW_AFTER_S = 1.0    # ... and lasts until this long after it (or the next move)


def read_log(path):
    rows = []
    try:
        with open(path) as f:
            for line in f:
                p = line.split()
                if len(p) == 3:
                    rows.append((int(p[0]), int(p[1]), int(p[2])))
    except FileNotFoundError:
        pass
    return rows


def first_sa(sas_json):
    try:
        sas = json.loads(sas_json).get("ike_sas", [])
    except ValueError:
        return None
    return sas[0] if sas else None


def short(spi):
    return spi[:8] if spi else "-"


HEADER = (f"{'time':>6}  {'path (mobile node -> gateway)':<37} {'IKE SPIs i/r':<17} {'ESP SPIs in/out':<17} "
          f"{'pkts in':>7} {'pkts out':>8}  {'probes rx':>9} {'lost':>5}  moves")


def cmd_header(_a):
    print(HEADER)
    print("-" * len(HEADER))
    return 0


def cmd_tick(a):
    sa = first_sa(sys.stdin.read())
    rows = read_log(a.log)
    seqs = {r[0] for r in rows}
    lost = (max(seqs) + 1 - len(seqs)) if seqs else 0
    t = 0.0
    if a.t0:
        import time
        t = (time.time_ns() - a.t0) / 1e9
    if not sa:
        print(f"{t:5.1f}s  {'(no IKE SA)':<37} {'-':<17} {'-':<17} {'-':>7} {'-':>8}  {len(seqs):>9} {lost:>5}")
        return 0
    child = sa["children"][0] if sa.get("children") else {}
    path = f"{sa['local']} -> {sa['remote']}"
    moves = sa.get("moves", [])
    mv = f"{len(moves)}"
    if moves:
        mv += f" ({moves[-1]['state']})"
    print(f"{t:5.1f}s  {path:<37} {short(sa['spi_i'])}/{short(sa['spi_r']):<8} "
          f"{child.get('spi_in', '-')}/{child.get('spi_out', '-'):<8} "
          f"{child.get('packets_in', 0):>7} {child.get('packets_out', 0):>8}  {len(seqs):>9} {lost:>5}  {mv}")
    return 0


def read_moves(path):
    out = []
    with open(path) as f:
        for line in f:
            p = line.split()
            if len(p) >= 2:
                out.append({"name": p[0], "t_ns": int(p[1]), "to": p[2] if len(p) > 2 else ""})
    return out


def cmd_report(a):
    rows = read_log(a.log)
    moves = read_moves(a.moves)
    with open(a.sas) as f:
        sa = first_sa(f.read()) or {}
    history = [m for m in sa.get("moves", [])]
    iv_ns = int(a.interval_ms * 1e6)
    if not rows:
        print("no probe arrived", file=sys.stderr)
        print("DEMO_MOVES " + json.dumps({"moves": [], "probes": {"received": 0}}))
        return 1
    rows.sort(key=lambda r: r[2])
    # the sender's schedule: seq n was due at base + n * interval (the earliest
    # send time seen, corrected by its sequence number)
    base = min(r[1] - r[0] * iv_ns for r in rows)
    seen = {r[0] for r in rows}
    last_seq = max(seen)
    missing = [s for s in range(last_seq + 1) if s not in seen]
    t0 = a.t0 or base
    arrivals = [r[2] for r in rows]

    results = []
    hist_next = 0
    for i, m in enumerate(moves):
        start = m["t_ns"] - int(WINDOW_BEFORE_S * 1e9)
        end = m["t_ns"] + int(WINDOW_AFTER_S * 1e9)
        if i + 1 < len(moves):
            end = min(end, moves[i + 1]["t_ns"] - int(WINDOW_BEFORE_S * 1e9))
        lost = sum(1 for s in missing if start <= base + s * iv_ns < end)
        gap = 0
        for j in range(1, len(arrivals)):
            if start <= arrivals[j] < end and arrivals[j - 1] >= start - int(1e9):
                gap = max(gap, arrivals[j] - arrivals[j - 1])
        after = sum(1 for t in arrivals if m["t_ns"] + int(1e9) <= t < m["t_ns"] + int(2e9))
        # the history entry of this move: the next one to the address it went to
        h = {}
        for k in range(hist_next, len(history)):
            if history[k].get("to_local", "").rsplit(":", 1)[0] == m["to"]:
                h, hist_next = history[k], k + 1
                break
        results.append({
            "name": m["name"], "at_s": round((m["t_ns"] - t0) / 1e9, 3),
            "to_local": h.get("to_local", m["to"]), "origin": h.get("origin"), "state": h.get("state", "missing"),
            "lost": lost, "gap_ms": round(gap / 1e6, 1),
            "confirm_ms": h.get("took_ms"), "flowing_after": after,
        })

    # gnuplot data: time (s), seq, gap to the previous arrival (ms)
    os.makedirs(a.out, exist_ok=True)
    dat = os.path.join(a.out, "timeline.dat")
    with open(dat, "w") as f:
        f.write("# t_s seq gap_ms (probe arrivals at the server; t = 0 at the first probe sent)\n")
        prev = None
        for seq, _snd, arr in rows:
            gap = (arr - prev) / 1e6 if prev is not None else 0.0
            prev = arr
            f.write(f"{(arr - t0) / 1e9:.6f} {seq} {gap:.3f}\n")
    lost_dat = os.path.join(a.out, "lost.dat")
    with open(lost_dat, "w") as f:
        f.write("# t_s seq (probes that never arrived, at their send time)\n")
        for s in missing:
            f.write(f"{(base + s * iv_ns - t0) / 1e9:.6f} {s}\n")
        if not missing:
            f.write("-100 -100\n")  # gnuplot wants a point; off the plotted range
    png_ok = plot(a.png, dat, lost_dat, results, (arrivals[-1] - t0) / 1e9, a.out)

    # the table
    print(f"{'move':<28} {'at':>6} {'to':<16} {'state':<6} {'lost':>5} {'longest gap':>12} "
          f"{'confirmed':>10} {'probes 1-2 s after':>19}")
    for r in results:
        conf = f"{r['confirm_ms']:.1f} ms" if isinstance(r["confirm_ms"], (int, float)) else "-"
        print(f"{r['name'].replace('_', ' '):<28} {r['at_s']:>5.1f}s {r['to_local']:<16} {r['state']:<6} "
              f"{r['lost']:>5} {r['gap_ms']:>9.1f} ms {conf:>10} {r['flowing_after']:>19}")
    print(f"probes: {len(rows)} received, {len(seen)} unique, {len(missing)} lost of {last_seq + 1} "
          f"({a.interval_ms:g} ms apart)")
    print("DEMO_MOVES " + json.dumps({
        "moves": results,
        "probes": {"received": len(rows), "unique": len(seen), "lost": len(missing), "sent_upto": last_seq + 1},
        "png": a.png if png_ok else None,
    }))
    return 0


def plot(png, dat, lost_dat, moves, t_end, out_dir):
    """Top: inter-arrival gap over the whole run; below: the sequence numbers
    around each move (+-0.3 s). Vertical lines: move started (red), the engine
    confirmed it (green)."""
    n = max(1, len(moves))
    g = [
        "set terminal pngcairo size 1400,900 font 'sans,10'",
        f"set output '{png}'",
        "set multiplot",
        "set grid",
        "set key top left",
    ]
    marks = []
    for i, m in enumerate(moves):
        marks.append(f"set arrow {100 + 2 * i} from {m['at_s']},graph 0 to {m['at_s']},graph 1 nohead lc rgb 'red' dt 2 lw 1.5")
        if isinstance(m["confirm_ms"], (int, float)):
            c = m["at_s"] + m["confirm_ms"] / 1000
            marks.append(f"set arrow {101 + 2 * i} from {c},graph 0 to {c},graph 1 nohead lc rgb '#008000' dt 3 lw 1.5")
    g += [
        "set origin 0,0.5", "set size 1,0.5",
        "set title 'UDP probes mobile node -> server through the tunnel (5 ms apart): gap to the previous arrival'",
        "set xlabel 'time (s)'", "set ylabel 'inter-arrival gap (ms)'",
        f"set xrange [0:{t_end:.3f}]", "set logscale y", "set yrange [0.5:*]",
    ] + marks
    for i, m in enumerate(moves):
        g.append(f"set label {10 + i} '{m['name'].replace('_', ' ')}' at {m['at_s']},graph 0.95 offset 0.5,0 tc rgb 'red'")
    g += [
        f"plot '{dat}' using 1:($3 > 0 ? $3 : 0.5) with points pt 7 ps 0.4 lc rgb '#1f77b4' title 'gap (ms)'",
        "unset label", "unset logscale y", "set yrange [*:*]",
    ]
    for i in range(len(moves)):
        g.append(f"unset arrow {100 + 2 * i}")
        g.append(f"unset arrow {101 + 2 * i}")
    for i, m in enumerate(moves):
        lo, hi = m["at_s"] - 0.3, m["at_s"] + 0.3
        g += [
            f"set origin {i / n},0", f"set size {1 / n},0.5",
            f"set title '{m['name'].replace('_', ' ')}: lost {m['lost']}, longest gap {m['gap_ms']} ms'",
            "set xlabel 'time (s)'", "set ylabel 'sequence number'",
            f"set xrange [{lo:.3f}:{hi:.3f}]", "set yrange [*:*]", "set autoscale y",
        ]
        g += [x for x in marks if x.startswith(f"set arrow {100 + 2 * i} ") or x.startswith(f"set arrow {101 + 2 * i} ")]
        g.append(f"plot '{dat}' using 1:(($1 >= {lo} && $1 <= {hi}) ? $2 : 1/0) with points pt 7 ps 0.5 lc rgb '#1f77b4' "
                 f"title 'arrived', '{lost_dat}' using 1:(($1 >= {lo} && $1 <= {hi}) ? $2 : 1/0) with points pt 2 ps 1 "
                 "lc rgb 'red' title 'lost'")
        g.append(f"unset arrow {100 + 2 * i}")
        g.append(f"unset arrow {101 + 2 * i}")
    g.append("unset multiplot")
    script = os.path.join(out_dir, "timeline.gp")
    with open(script, "w") as f:
        f.write("\n".join(g) + "\n")
    try:
        r = subprocess.run(["gnuplot", script], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as e:
        print(f"gnuplot failed: {e}", file=sys.stderr)
        return False
    if r.returncode != 0:
        print(f"gnuplot failed: {r.stderr.strip()}", file=sys.stderr)
        return False
    return os.path.exists(png)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    sub.add_parser("header")
    t = sub.add_parser("tick")
    t.add_argument("--log", required=True)
    t.add_argument("--t0", type=int, default=0)
    r = sub.add_parser("report")
    r.add_argument("--log", required=True)
    r.add_argument("--moves", required=True)
    r.add_argument("--sas", required=True)
    r.add_argument("--out", required=True)
    r.add_argument("--png", required=True)
    r.add_argument("--interval-ms", type=float, default=5.0)
    r.add_argument("--t0", type=int, default=0)
    a = p.parse_args()
    return {"header": cmd_header, "tick": cmd_tick, "report": cmd_report}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
