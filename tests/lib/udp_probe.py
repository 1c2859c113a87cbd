#!/usr/bin/env python3
"""Fixed-schedule UDP probe: measures loss and outage through a tunnel (e.g. across a
MOBIKE move) more precisely than ping. Standard library only.

  udp_probe.py recv --bind ADDR --port P --duration S [--out FILE] [--expect N]
      Receive until S seconds passed, SIGTERM/SIGINT, or (with --expect) the last
      sequence number N-1 arrived; then print (and write to FILE) "key=value" lines:
        received=.. unique=.. duplicates=.. reordered=.. first_seq=.. last_seq=..
        lost=..            (expect or last_seq+1, minus unique received)
        max_seq_gap=..     (largest run of missing sequence numbers between two received)
        max_gap_ms=..      (largest time between two consecutive arrivals)
        lost_ranges=a-b,c  (missing sequence numbers, at most 20 ranges)
      --log FILE: also one line per datagram as it arrives (flushed at once):
        "SEQ SEND_TIME_NS ARRIVAL_TIME_NS" (CLOCK_REALTIME, for timelines)
      --trace FILE: also write one line per datagram received, "seq send_ns recv_ns"
        (send_ns from the datagram, recv_ns the kernel's receive timestamp, SO_TIMESTAMPNS;
        both CLOCK_REALTIME, which all network namespaces share, as does bash's
        $EPOCHREALTIME), for per-event analysis (bench/handover).
  udp_probe.py send --dst ADDR --port P --count N --interval-ms I [--src ADDR] [--size B]
      Send N datagrams on an absolute schedule (no drift): seq (u32) + send time (u64 ns)
      + padding to B bytes (default 64). Prints "sent=N late_max_ms=..". SIGTERM/SIGINT stop
      it early (the summary is still printed).
Both ends bound in time: the receiver by --duration, the sender by N * I (+1 s slack).
"""
import argparse
import signal
import socket
import struct
import sys
import time

HDR = struct.Struct("!IQ")
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)   # Linux; cmsg type SCM_TIMESTAMPNS
TIMESPEC = struct.Struct("@qq")


def family(addr):
    return socket.AF_INET6 if ":" in addr else socket.AF_INET


def do_send(a):
    s = socket.socket(family(a.dst), socket.SOCK_DGRAM)
    if a.src:
        s.bind((a.src, 0))
    pad = b"\0" * max(0, a.size - HDR.size)
    interval = a.interval_ms / 1000.0
    t0 = time.monotonic()
    hard_end = t0 + a.count * interval + 1.0
    late_max = 0.0
    sent = 0
    errors = 0
    stop = [False]

    def on_sig(_n, _f):          # TERM/INT: stop early, still print the summary
        stop[0] = True
    signal.signal(signal.SIGTERM, on_sig)
    signal.signal(signal.SIGINT, on_sig)
    for seq in range(a.count):
        if stop[0]:
            break
        due = t0 + seq * interval
        now = time.monotonic()
        if now > hard_end:
            break
        if due > now:
            time.sleep(due - now)
        else:
            late_max = max(late_max, now - due)
        try:
            s.sendto(HDR.pack(seq, time.time_ns()) + pad, (a.dst, a.port))
            sent += 1
        except OSError:
            errors += 1          # e.g. no route during a move: counts as loss
    print(f"sent={sent} send_errors={errors} late_max_ms={late_max * 1000:.1f}")
    return 0


def ranges(missing, limit=20):
    out = []
    i = 0
    while i < len(missing) and len(out) < limit:
        j = i
        while j + 1 < len(missing) and missing[j + 1] == missing[j] + 1:
            j += 1
        out.append(str(missing[i]) if i == j else f"{missing[i]}-{missing[j]}")
        i = j + 1
    return ",".join(out)


def do_recv(a):
    s = socket.socket(family(a.bind), socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((a.bind, a.port))
    stop = [False]

    def on_sig(_n, _f):
        stop[0] = True
    signal.signal(signal.SIGTERM, on_sig)
    signal.signal(signal.SIGINT, on_sig)
    trace = None
    if a.trace:
        s.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        trace = open(a.trace, "w", buffering=1 << 16)
    log = open(a.log, "w", buffering=1) if a.log else None
    if a.ready:
        open(a.ready, "w").close()
    end = time.monotonic() + a.duration
    seen = set()
    received = dup = reord = 0
    last_seq = -1
    first_seq = None
    last_arrival = None
    max_gap = 0.0
    while not stop[0]:
        left = end - time.monotonic()
        if left <= 0:
            break
        s.settimeout(min(left, 0.2))
        try:
            if trace is None:
                data, _ = s.recvfrom(65535)
            else:
                data, anc, _fl, _ = s.recvmsg(65535, 64)
                rx_ns = 0
                for lvl, typ, cd in anc:
                    if lvl == socket.SOL_SOCKET and typ == SO_TIMESTAMPNS and len(cd) >= TIMESPEC.size:
                        sec, nsec = TIMESPEC.unpack_from(cd)
                        rx_ns = sec * 1000000000 + nsec
                if not rx_ns:
                    rx_ns = time.time_ns()
        except socket.timeout:
            continue
        except InterruptedError:
            continue
        if len(data) < HDR.size:
            continue
        seq, _ts = HDR.unpack_from(data)
        now = time.monotonic()
        if log:
            log.write(f"{seq} {_ts} {time.time_ns()}\n")
        if trace is not None:
            trace.write(f"{seq} {_ts} {rx_ns}\n")
        received += 1
        if last_arrival is not None:
            max_gap = max(max_gap, now - last_arrival)
        last_arrival = now
        if seq in seen:
            dup += 1
            continue
        if seq < last_seq:
            reord += 1
        seen.add(seq)
        if first_seq is None:
            first_seq = seq
        last_seq = max(last_seq, seq)
        if a.expect and seq == a.expect - 1:
            break
    total = a.expect if a.expect else last_seq + 1
    missing = [i for i in range(total) if i not in seen]
    max_seq_gap = 0
    run = 0
    for i in range(total):
        if i in seen:
            run = 0
        else:
            run += 1
            max_seq_gap = max(max_seq_gap, run)
    lines = [
        f"received={received}", f"unique={len(seen)}", f"duplicates={dup}",
        f"reordered={reord}", f"first_seq={first_seq if first_seq is not None else -1}",
        f"last_seq={last_seq}", f"lost={len(missing)}", f"max_seq_gap={max_seq_gap}",
        f"max_gap_ms={max_gap * 1000:.1f}", f"lost_ranges={ranges(missing)}",
    ]
    if trace is not None:
        trace.close()
    text = "\n".join(lines) + "\n"
    sys.stdout.write(text)
    sys.stdout.flush()
    if a.out:
        with open(a.out, "w") as f:
            f.write(text)
    return 0


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("recv")
    r.add_argument("--bind", required=True)
    r.add_argument("--port", type=int, required=True)
    r.add_argument("--duration", type=float, required=True)
    r.add_argument("--expect", type=int, default=0)
    r.add_argument("--out")
    r.add_argument("--ready", help="create this file once the socket is bound")
    r.add_argument("--log", help="one line per datagram: seq send_ns arrival_ns")
    r.add_argument("--trace", help='write "seq send_ns recv_ns" per datagram to this file')
    s = sub.add_parser("send")
    s.add_argument("--dst", required=True)
    s.add_argument("--port", type=int, required=True)
    s.add_argument("--count", type=int, required=True)
    s.add_argument("--interval-ms", type=float, required=True)
    s.add_argument("--src")
    s.add_argument("--size", type=int, default=64)
    a = p.parse_args()
    return do_send(a) if a.cmd == "send" else do_recv(a)


if __name__ == "__main__":
    sys.exit(main())
