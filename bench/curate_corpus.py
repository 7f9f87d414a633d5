#!/usr/bin/env python3
"""Builds the benchmark corpus for bench/curate.sh: JSONL documents of ~4 KB cut at paragraph
boundaries from the text files on this machine (.txt/.md/.rst under /usr and the Python prefix),
shuffled with a fixed seed, with 5% planted near-duplicates (2% of words replaced).
usage: curate_corpus.py OUT.jsonl MEGABYTES"""
import json, os, random, sys, sysconfig

out_path, mb = sys.argv[1], float(sys.argv[2])
roots = sorted({"/usr/share", "/usr/lib", sysconfig.get_paths()["stdlib"], sysconfig.get_paths()["purelib"]})
files = []
for root in roots:
    for dp, dn, fn in os.walk(root):
        dn.sort()
        for f in sorted(fn):
            if f.endswith((".txt", ".rst", ".md")):
                p = os.path.join(dp, f)
                try:
                    if os.path.getsize(p) > 2048:
                        files.append(p)
                except OSError:
                    pass
files = sorted(set(files))
rng = random.Random(1234)
docs = []
for p in files:
    try:
        t = open(p, encoding="utf-8", errors="replace").read()
    except OSError:
        continue
    cur = ""
    for para in t.split("\n\n"):
        cur += para + "\n\n"
        if len(cur) > 4000:
            docs.append(cur)
            cur = ""
    if cur.strip():
        docs.append(cur)
rng.shuffle(docs)
total, n = 0, 0
with open(out_path, "w") as out:
    for i, d in enumerate(docs):
        if total > mb * 1e6:
            break
        out.write(json.dumps({"id": f"d{i}", "text": d}) + "\n")
        total += len(d.encode())
        n += 1
        if rng.random() < 0.05:
            w = d.split(" ")
            for _ in range(max(1, len(w) // 50)):
                w[rng.randrange(len(w))] = "zzz"
            out.write(json.dumps({"id": f"d{i}-near", "text": " ".join(w)}) + "\n")
            n += 1
print(f"corpus: {n} documents, {total / 1e6:.1f} MB of text from {len(files)} files -> {out_path}")
