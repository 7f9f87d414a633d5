#!/usr/bin/env python3
"""Reference test for `deepc curate` normalization and exact dedup against Python's own
unicodedata (NFC) and json modules, on a fresh random corpus: combining marks, precomposed
letters, CRLF/CR, trailing blanks, C0/C1 controls, BOMs, and duplicates that only match after
normalization. Prints PASS/FAIL lines; exits non-zero on failure."""
import json, os, random, unicodedata

from harness import deepc, report, run_script, seed, temp_dir

rng = random.Random(seed())

LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ" + "éèêëàâäôöûüçñÅåØøßΩωαβγδжщЯ中文字漢"
MARKS = [chr(c) for c in range(0x300, 0x370)]
CONTROLS = ["\x01", "\x02", "\x1b", "\x7f", "\x85", "\x9f"]


def rand_text():
    parts = []
    if rng.random() < 0.1:
        parts.append("\ufeff")
    for _ in range(rng.randrange(1, 40)):
        k = rng.random()
        if k < 0.6:
            parts.append(rng.choice(LETTERS))
        elif k < 0.7:
            parts.append(rng.choice(MARKS))
        elif k < 0.8:
            parts.append(rng.choice([" ", " ", "\t", "  "]))
        elif k < 0.9:
            parts.append(rng.choice(["\n", "\r\n", "\r", " \n", "\t\r\n"]))
        else:
            parts.append(rng.choice(CONTROLS))
    return "".join(parts)


def reference_normalize(t):
    if t.startswith("\ufeff"):
        t = t[1:]
    t = t.replace("\r\n", "\n").replace("\r", "\n")
    t = "".join(ch for ch in t if not ((ord(ch) < 0x20 and ch not in "\t\n") or ord(ch) == 0x7F or 0x80 <= ord(ch) <= 0x9F))
    t = "\n".join(line.rstrip(" \t") for line in t.split("\n"))
    t = t.rstrip(" \t\n")
    return unicodedata.normalize("NFC", t)


def main():
    docs = []
    for i in range(400):
        if docs and rng.random() < 0.15:   # a variant of an earlier document that normalizes the same
            src = rng.choice(docs)["text"]
            t = unicodedata.normalize("NFD", src) + rng.choice(["", " ", "\r\n", "\t\n"])
        else:
            t = rand_text()
        docs.append({"id": f"r{i}", "text": t})
    with temp_dir("deepc_curate_ref_") as d:
        inp = os.path.join(d, "in.jsonl")
        with open(inp, "w", encoding="utf-8") as f:
            for o in docs:
                f.write(json.dumps(o) + "\n")
        cfg = os.path.join(d, "cfg.json")
        with open(cfg, "w") as f:
            json.dump({"stages": {"filters": False, "pii": False, "near_dedup": False, "decontam": False}}, f)
        out = os.path.join(d, "out")
        r = deepc("curate", "--quiet", "--input", inp, "--out", out, "--config", cfg)
        if r.returncode != 0:
            report("curate_runs", False, r.stderr.strip()[-500:])
            return
        got = [json.loads(l) for l in open(os.path.join(out, "data.jsonl"), encoding="utf-8")]
        removed = [json.loads(l) for l in open(os.path.join(out, "removed.jsonl"), encoding="utf-8")]
    # reference: normalize, drop empty, keep the first of each normalized text
    want, seen, want_rules = [], set(), {}
    for o in docs:
        t = reference_normalize(o["text"])
        if not t:
            want_rules[o["id"]] = "empty"
            continue
        if t in seen:
            want_rules[o["id"]] = "exact_dup"
            continue
        seen.add(t)
        want.append((o["id"], t))
    got_pairs = [(o["id"], o["text"]) for o in got]
    bad = [(w, g) for w, g in zip(want, got_pairs) if w != g]
    ok = len(want) == len(got_pairs) and not bad
    report("normalize_matches_python_unicodedata", ok,
           f"{len(want)} documents" if ok else
           f"{len(want)} expected, {len(got_pairs)} kept; first difference {bad[:1]!r}", detail_on_pass=True)
    got_rules = {o["id"]: o.get("curate_rule") for o in removed}
    ok = got_rules == want_rules
    diff = [(k, want_rules.get(k), got_rules.get(k)) for k in set(want_rules) | set(got_rules) if want_rules.get(k) != got_rules.get(k)]
    report("exact_dedup_after_normalization", ok,
           f"{sum(v == 'exact_dup' for v in want_rules.values())} duplicates" if ok else f"{diff[:3]}", detail_on_pass=True)


if __name__ == "__main__":
    run_script(main)
