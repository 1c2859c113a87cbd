#!/usr/bin/env python3
"""Parsers used by tests/lib/strongswan.sh (python3 standard library only).

  ss_parse.py sas  < `swanctl --list-sas --pretty` output
      Flattens every "list-sa event" into "path=value" lines, IKE_SAs and CHILD_SAs
      numbered in listing order:
        ike0.name=s2s  ike0.state=ESTABLISHED  ike0.initiator-spi=...
        ike0.child0.name=net  ike0.child0.key=net-1  ike0.child0.spi-in=...
        ike0.child0.local-ts=198.51.100.0/26[,more]
      plus "ike.count=N" and "ike0.child.count=M".

  ss_parse.py keys LOGFILE
      Extracts CHILD_SA keys logged by charon at "chd 4" (see tests/interop/README.md for
      the format). Prints one line per key derivation, in log order:
        n=0 ike=s2s|1 thread=04 child=net{1} encr_alg=AES_GCM_16 integ_alg=
            encr_i=<hex> encr_r=<hex> integ_i=<hex> integ_r=<hex> spi_in=<hex> spi_out=<hex>
      (one line, fields separated by single spaces; empty fields are printed as "key=").

  ss_parse.py ike-keys LOGFILE
      IKE_SA keys logged at "ike 4", one line per derivation (IKE_SA_INIT, IKE rekey):
        n=0 ike=s2s|1 thread=16 sk_d=<hex> sk_ai=<hex> sk_ar=<hex> sk_ei=<hex> sk_er=<hex>
            sk_pi=<hex> sk_pr=<hex>       (sk_ai/sk_ar empty for AEAD)
      Needs "ike = 4" in the loglevels (which also hex-dumps every IKE message).
"""
import re
import sys


def parse_sas(text):
    out = []
    ike_n = 0
    stack = []          # (kind, name-or-prefix): event, ike, children, child, other
    cur_ike = None
    child_n = 0
    list_key = None     # inside "key = [ ... ]"
    list_vals = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        if list_key is not None:
            if line == "]":
                if list_key:
                    out.append(f"{list_key}={','.join(list_vals)}")
                list_key = None
            else:
                list_vals.append(line)
            continue
        if line.endswith("{"):
            name = line[:-1].strip()
            depth = len(stack)
            if depth == 0:
                stack.append(("event", name))
            elif depth == 1 and stack[0][1] == "list-sa event":
                cur_ike = f"ike{ike_n}"
                ike_n += 1
                child_n = 0
                out.append(f"{cur_ike}.name={name}")
                stack.append(("ike", cur_ike))
            elif depth == 2 and stack[1][0] == "ike" and name == "child-sas":
                stack.append(("children", name))
            elif depth == 3 and stack[2][0] == "children":
                prefix = f"{cur_ike}.child{child_n}"
                child_n += 1
                out.append(f"{prefix}.key={name}")
                stack.append(("child", prefix))
            else:
                stack.append(("other", name))
            continue
        if line == "}":
            if stack:
                kind, _ = stack.pop()
                if kind == "ike":
                    out.append(f"{cur_ike}.child.count={child_n}")
            continue
        m = re.match(r"^([A-Za-z0-9_.-]+) = ?(.*)$", line)
        if not m:
            continue
        k, v = m.group(1), m.group(2)
        prefix = stack[-1][1] if stack and stack[-1][0] in ("ike", "child") else ""
        if v == "[":
            list_key = f"{prefix}.{k}" if prefix else ""
            list_vals = []
        elif prefix:
            out.append(f"{prefix}.{k}={v}")
    out.append(f"ike.count={ike_n}")
    return out


HEXLINE = re.compile(r"^\s*\d+: ((?:[0-9A-F]{2} ?)+)")


def parse_keys(path):
    # line: "HH:MM:SS TT[CHD] <ike|N> message"   (filelog with ike_name = yes)
    pat = re.compile(r"^\S+ (\d+)\[CHD\] (?:<([^>]*)> )?(.*)$")
    blocks = {}      # thread -> current block (dict)
    done = []
    pending_dump = {}  # thread -> (block, field, remaining bytes)
    with open(path, errors="replace") as f:
        for line in f:
            line = line.rstrip("\n")
            m = pat.match(line)
            if not m:
                continue
            th, ike, msg = m.group(1), m.group(2) or "", m.group(3)
            pd = pending_dump.get(th)
            if pd is not None:
                hm = HEXLINE.match(msg)
                if hm:
                    blk, field, remaining = pd
                    hexs = hm.group(1).replace(" ", "")
                    hexs = hexs[: remaining * 2]
                    blk[field] += hexs.lower()
                    remaining -= len(hexs) // 2
                    pending_dump[th] = (blk, field, remaining) if remaining > 0 else None
                    continue
                pending_dump[th] = None
            sm = re.match(r"^CHILD_SA (\S+) state change: CREATED => INSTALLING", msg)
            if sm:
                blocks[th] = {"ike": ike, "thread": th, "child": sm.group(1), "encr_alg": "",
                              "integ_alg": "", "encr_i": "", "encr_r": "", "integ_i": "",
                              "integ_r": "", "spi_in": "", "spi_out": "", "_dir": ""}
                continue
            blk = blocks.get(th)
            if blk is None:
                continue
            am = re.match(r"^\s*using (\S+) for (encryption|integrity)", msg)
            if am:
                blk["encr_alg" if am.group(2) == "encryption" else "integ_alg"] = am.group(1)
                continue
            km = re.match(r"^(encryption|integrity) (initiator|responder) key => (\d+) bytes", msg)
            if km:
                field = ("encr_" if km.group(1) == "encryption" else "integ_") + km.group(2)[0]
                blk[field] = ""
                n = int(km.group(3))
                pending_dump[th] = (blk, field, n) if n > 0 else None
                continue
            # "adding" at install; "registering" for the outbound SA of a rekeyed CHILD_SA
            # (installed only once the old one is gone); protocol ESP or AH
            dm = re.match(r"^(?:adding|registering) (inbound|outbound) (?:ESP|AH) SA", msg)
            if dm:
                blk["_dir"] = dm.group(1)
                continue
            spm = re.match(r"^\s*SPI 0x([0-9a-f]+)", msg)
            if spm and blk["_dir"]:
                blk["spi_in" if blk["_dir"] == "inbound" else "spi_out"] = spm.group(1)
                blk["_dir"] = ""
                continue
            im = re.match(r"^CHILD_SA \S+ state change: INSTALLING => (\S+)", msg)
            if im:
                if im.group(1) == "INSTALLED":     # keys of a failed install are dropped
                    done.append(blk)
                del blocks[th]
    fields = ["ike", "thread", "child", "encr_alg", "integ_alg", "encr_i", "encr_r",
              "integ_i", "integ_r", "spi_in", "spi_out"]
    return [f"n={i} " + " ".join(f"{k}={b[k]}" for k in fields) for i, b in enumerate(done)]


def parse_ike_keys(path):
    """IKE_SA keys logged at "ike 4": 'Sk_d secret => N bytes @ 0x..' + hex dump lines."""
    pat = re.compile(r"^\S+ (\d+)\[IKE\] (?:<([^>]*)> )?(.*)$")
    names = ["sk_d", "sk_ai", "sk_ar", "sk_ei", "sk_er", "sk_pi", "sk_pr"]
    cur = {}        # thread -> block
    pending = {}    # thread -> (block, field, remaining)
    done = []
    with open(path, errors="replace") as f:
        for line in f:
            m = pat.match(line.rstrip("\n"))
            if not m:
                continue
            th, ike, msg = m.group(1), m.group(2) or "", m.group(3)
            pd = pending.get(th)
            if pd is not None:
                hm = HEXLINE.match(msg)
                if hm:
                    blk, field, remaining = pd
                    hexs = hm.group(1).replace(" ", "")[: remaining * 2]
                    blk[field] += hexs.lower()
                    remaining -= len(hexs) // 2
                    pending[th] = (blk, field, remaining) if remaining > 0 else None
                    continue
                pending[th] = None
            km = re.match(r"^(Sk_[a-z]+) secret => (\d+) bytes", msg)
            if not km:
                continue
            field = km.group(1).lower()
            if field == "sk_d":
                cur[th] = dict({"ike": ike, "thread": th}, **{k: "" for k in names})
                done.append(cur[th])
            blk = cur.get(th)
            if blk is None or field not in names:
                continue
            blk[field] = ""
            pending[th] = (blk, field, int(km.group(2))) if int(km.group(2)) > 0 else None
    fields = ["ike", "thread"] + names
    return [f"n={i} " + " ".join(f"{k}={b[k]}" for k in fields) for i, b in enumerate(done)]


def main():
    if len(sys.argv) >= 2 and sys.argv[1] == "sas":
        print("\n".join(parse_sas(sys.stdin.read())))
        return 0
    if len(sys.argv) == 3 and sys.argv[1] == "ike-keys":
        lines = parse_ike_keys(sys.argv[2])
        if lines:
            print("\n".join(lines))
        return 0
    if len(sys.argv) == 3 and sys.argv[1] == "keys":
        lines = parse_keys(sys.argv[2])
        if lines:
            print("\n".join(lines))
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
