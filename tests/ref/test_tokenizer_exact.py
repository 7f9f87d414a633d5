#!/usr/bin/env python3
"""Exactness of deepc's tokenizer against Hugging Face `tokenizers` (the reference).

For (a) a tokenizer `deepc tokenizer train` wrote, (b) one HF tokenizers trained with
the same DeepSeek-V3 rules, and (c) one HF trained GPT-2 style (ByteLevel regex with a
prefix space, NFKC, a normalized added token, ignore_merges): deepc's ids equal HF's
ids on every file in ../shared/data, on a random sample of Python standard-library
sources, and on adversarial text (fresh random seed, printed), and
decode(encode(x)) == x byte for byte.

Invalid UTF-8 (HF cannot take it: a Python str is Unicode): deepc cuts the input at
ill-formed bytes; the expected ids are HF's ids of each well-formed run, and for each
run of ill-formed bytes HF's BPE model applied to its byte-level characters.
"""
import json, os, random, struct, sysconfig, time

from harness import DATA, deepc, report, run, run_script, seed, temp_dir, tool_path

from tokenizers import Tokenizer, models, trainers, pre_tokenizers, decoders, normalizers, Regex, AddedToken

TOOL = tool_path("tokenizer")

def byte_chars():
    bs = list(range(33, 127)) + list(range(161, 173)) + list(range(174, 256))
    cs = bs[:]; n = 0
    for b in range(256):
        if b not in bs: bs.append(b); cs.append(256 + n); n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}
B2C = byte_chars()

def adversarial(rng):
    fixed = [
        "", " ", "a", "\n", "\r\n\r\n", "   \n\n\t\t  x", "x" + " " * 300 + "y", "\t" * 50,
        "1234567890123456789012345678901234567890", "3.14159 1,000,000 ٣٤٥ ۱۲۳ ①②③ ½",
        "👍🏽👩‍👩‍👧‍👦🏳️‍🌈 🇫🇷🇯🇵 ❤️‍🔥 a👍b", "中文字符和日本語のテキスト、カタカナ。한국어 텍스트",
        "e\u0301 n\u0303 a\u0308\u0323 Z\u0351\u0352\u0357\u035b\u0346 ﬁ ﬀ ᾈ Å Å", "\u05e9\u05dc\u05d5\u05dd \u0645\u0631\u062d\u0628\u0627 \u200f\u202e abc \u202c",
        "\u00a0\u2000\u2001\u2002\u2003\u200a\u2028\u2029\u202f\u205f\u3000\u0085\u180e\u200b\ufeff",
        "<｜begin▁of▁sentence｜>Hi<｜User｜>q<｜Assistant｜>a<｜end▁of▁sentence｜>", "<think>x</think>",
        "<｜fim▁begin｜>def f():<｜fim▁hole｜>\n<｜fim▁end｜>", "don't I'll we've 'S 'LL", "final 1 ﬁnal ① fix ﬁx hello world", "!!!???... --- ***\n\n",
        "\x00\x01\x02\x7f\x1b[31m", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𝟙𝟚𝟛 ＦＵＬＬＷＩＤＴＨ １２３", "ﷺ ﷽ ǅ ǈ ß ẞ İ ı",
    ]
    out = [s.encode("utf-8") for s in fixed]
    out += [b"\xff", b"\xc0\xaf", b"abc\xe4\xb8", b"\xe4\xb8abc", b"\xed\xa0\x80 surrogate", b"\xf4\x90\x80\x80",
            b"ok \x80\x81\x82 ok", b"\xf0\x9f\x98", "中".encode()[:2] + "文".encode()]
    pools = ["abc XYZ", " \t\n\r", "0123456789", "中文日本カタ", "éüñ\u0301\u0308", "👍🏽\u200d👩", ",.;!?'\"()[]{}",
             "\u05d0\u05d1\u0627\u0628", "\u00a0\u3000\u2028", "ﬁ①ＡⅣ"]
    for _ in range(300):
        k = rng.randint(1, 60)
        s = "".join(rng.choice(rng.choice(pools)) for _ in range(k)).encode()
        if rng.random() < 0.3:
            b = bytearray(s)
            for _ in range(rng.randint(1, 4)):
                b.insert(rng.randint(0, len(b)), rng.randint(128, 255))
            s = bytes(b)
        out.append(s)
    # random code points from the whole Unicode range (classes \p{L} \p{N} \p{P} \p{S} \p{M} \s)
    for _ in range(200):
        cps = [rng.choice([rng.randrange(0x20, 0x3000), rng.randrange(0x3000, 0xD800), rng.randrange(0xE000, 0x30000)]) for _ in range(24)]
        out.append("".join(chr(c) + rng.choice(["", " ", "a", "1", "\n"]) for c in cps).encode())
    return out

def window(b, start, size):
    """bytes [start, start+size) of b widened to line boundaries"""
    if len(b) <= size: return b
    a = b.rfind(b"\n", 0, start) + 1
    e = b.find(b"\n", min(len(b), start + size))
    return b[a:] if e < 0 else b[a:e + 1]

def corpus(rng, whole_files):
    """(label, bytes): every data file (whole, or a random 60 KB window of it: HF is slow on
    this machine), 200 random stdlib sources (first ~6 KB each) and adversarial texts"""
    texts = []
    for d, _, fs in sorted(os.walk(DATA)):
        for f in sorted(fs):
            b = open(os.path.join(d, f), "rb").read()
            if not whole_files: b = window(b, rng.randrange(max(1, len(b) - 60000)), 60000)
            texts.append(("data/" + f, b))
    stdlib = sysconfig.get_paths()["stdlib"]
    py = []
    for d, dirs, fs in os.walk(stdlib):
        dirs[:] = [x for x in dirs if x not in ("site-packages", "__pycache__")]
        py += [os.path.join(d, f) for f in fs if f.endswith(".py")]
    py.sort()
    for p in rng.sample(py, min(200, len(py))):
        texts.append(("stdlib/" + os.path.relpath(p, stdlib), window(open(p, "rb").read(), 0, 6000)))
    texts += [("adversarial#%d" % i, s) for i, s in enumerate(adversarial(rng))]
    return texts

def expected(tok, b):
    try:
        return tok.encode(b.decode("utf-8"), add_special_tokens=False).ids
    except UnicodeDecodeError:
        pass
    s = b.decode("utf-8", "surrogateescape")
    ids, run, bad = [], [], []
    def flush_run():
        if run: ids.extend(tok.encode("".join(run), add_special_tokens=False).ids); run.clear()
    def flush_bad():
        if bad: ids.extend(t.id for t in tok.model.tokenize("".join(B2C[x] for x in bad))); bad.clear()
    for ch in s:
        if 0xDC80 <= ord(ch) <= 0xDCFF: flush_run(); bad.append(ord(ch) - 0xDC00)
        else: flush_bad(); run.append(ch)
    flush_run(); flush_bad()
    return ids

def run_tool(tokpath, texts, tmp, allow_special=1):
    inp, outp = os.path.join(tmp, "in.bin"), os.path.join(tmp, "out.bin")
    with open(inp, "wb") as f:
        for _, b in texts: f.write(struct.pack("<I", len(b)) + b)
    run([TOOL, tokpath, inp, outp, allow_special], check=True)
    d = open(outp, "rb").read(); p = 0; res = []
    for _ in texts:
        n, = struct.unpack_from("<I", d, p); p += 4
        ids = list(struct.unpack_from("<%di" % n, d, p)); p += 4 * n
        res.append((ids, d[p] == 1)); p += 1
    return res

def same_normalization():
    """texts for normalizer tokenizers: utf8proc (Unicode 15) and tokenizers' own normalization tables
    (older: e.g. U+32FF and U+A7F2 have NFKC mappings in utf8proc and none in tokenizers 0.23; U+1E061
    likewise) disagree on some characters. Keep texts whose every character normalizes the same in
    both (checked per character with both libraries; a known, documented limit)"""
    import ctypes, ctypes.util, unicodedata
    lib = ctypes.CDLL(ctypes.util.find_library("utf8proc") or "libutf8proc.so.2")
    libc = ctypes.CDLL(ctypes.util.find_library("c"))
    fns = [(normalizers.NFKC(), lib.utf8proc_NFKC), (normalizers.NFC(), lib.utf8proc_NFC)]
    for _, f in fns: f.restype = ctypes.c_void_p
    seen = {}
    def agree(c):
        if c not in seen:
            ok = unicodedata.category(c) != "Cn"
            for hf, up in fns:
                if not ok: break
                q = up(c.encode()); u = ctypes.string_at(q).decode(); libc.free(ctypes.c_void_p(q))
                ok = hf.normalize_str(c) == u
            seen[c] = ok
        return seen[c]
    def ok(b):
        s = b.decode("utf-8", "surrogateescape")
        return all(agree(c) for c in set(s) if ord(c) > 0x7f and not 0xDC80 <= ord(c) < 0xDD00)
    return ok

def check(name, tokpath, texts, tmp, lossless=True):
    tok = Tokenizer.from_file(tokpath if tokpath.endswith(".json") else os.path.join(tokpath, "tokenizer.json"))
    t0 = time.time()
    got = run_tool(tokpath, texts, tmp)
    t1 = time.time()
    valid = {}
    for i, (_, b) in enumerate(texts):
        try: valid[i] = b.decode("utf-8")
        except UnicodeDecodeError: pass
    keys = sorted(valid)
    batch = dict(zip(keys, (e.ids for e in tok.encode_batch([valid[k] for k in keys], add_special_tokens=False))))
    bad_ids, bad_rt, ntok = [], [], 0
    for i, ((label, b), (ids, rt)) in enumerate(zip(texts, got)):
        ref = batch[i] if i in batch else expected(tok, b)
        ntok += len(ref)
        if ids != ref: bad_ids.append((label, ids, ref))
        if lossless and not rt: bad_rt.append(label)
    detail = ""
    if bad_ids:
        label, ids, ref = bad_ids[0]
        i = next((k for k in range(min(len(ids), len(ref))) if ids[k] != ref[k]), min(len(ids), len(ref)))
        detail = "%d texts differ, first %s at token %d: deepc %s vs HF %s; text %r" % (len(bad_ids), label, i, ids[max(0, i-3):i+4], ref[max(0, i-3):i+4],
                                                                              [tok.decode(ids[max(0, i-3):i+4], skip_special_tokens=False)])
    report("ids_equal_hf_" + name, not bad_ids, detail)
    if lossless:
        report("roundtrip_" + name, not bad_rt, "%d texts do not round-trip, first %s" % (len(bad_rt), bad_rt[:1]))
    print("#  %s: %d texts, %d tokens, deepc %.1fs, HF + compare %.1fs" % (name, len(texts), ntok, t1 - t0, time.time() - t1))

DIG = r"\p{N}{1,3}"; CJK = "[一-龥぀-ゟ゠-ヿ]+"
MAIN = r"""[!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+| ?[\p{P}\p{S}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"""
SPECIALS = ["<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>", "<｜▁pad▁｜>", "<｜User｜>", "<｜Assistant｜>", "<｜System｜>",
            "<think>", "</think>", "<｜fim▁begin｜>", "<｜fim▁hole｜>", "<｜fim▁end｜>"]

def train_docs(texts):
    return [b.decode("utf-8", "replace") for label, b in texts if not label.startswith("data/")] + \
           [open(os.path.join(DATA, "tinyshakespeare", "input.txt")).read()[:300000]]

def main():
    rng = random.Random(seed())
    texts = corpus(rng, False)
    # one whole file above 1 MB exercises deepc's multi-threaded path for long texts
    big = [("data/input.txt (whole)", open(os.path.join(DATA, "tinyshakespeare", "input.txt"), "rb").read())]
    with temp_dir("deepc_tokenizer_exact_") as tmp:
        docs = train_docs(texts)
        # (a) deepc-trained
        cdir = os.path.join(tmp, "deepc_tok"); os.makedirs(cdir)
        jl = os.path.join(cdir, "..", "train.jsonl")
        with open(jl, "w") as f:
            for d in docs: f.write(json.dumps({"text": d}) + "\n")
        r = deepc("tokenizer", "train", "--input", jl, "--vocab-size", "4000", "--out", cdir, "--quiet")
        report("deepc_train_runs", r.returncode == 0, r.stderr[-500:])
        if r.returncode == 0:
            check("deepc_trained", cdir, texts + big, tmp)
            # special-token strings as plain text: HF's encode_special_tokens = True
            tok = Tokenizer.from_file(os.path.join(cdir, "tokenizer.json"))
            tok.encode_special_tokens = True
            adv = [x for x in texts if x[0].startswith("adversarial") and not any(0xDC80 <= ord(c) < 0xDD00 for c in x[1].decode("utf-8", "surrogateescape"))]
            got = run_tool(cdir, adv, tmp, allow_special=0)
            bad = [label for (label, b), (ids, _) in zip(adv, got) if ids != tok.encode(b.decode(), add_special_tokens=False).ids]
            report("ids_equal_hf_specials_as_text", not bad, "%d texts differ, first %s" % (len(bad), bad[:1]))
        # (b) HF-trained, same rules
        t = Tokenizer(models.BPE())
        t.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Split(Regex(DIG), "isolated"), pre_tokenizers.Split(Regex(CJK), "isolated"),
                                                   pre_tokenizers.Split(Regex(MAIN), "isolated"), pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
        t.decoder = decoders.ByteLevel()
        t.train_from_iterator(docs, trainers.BpeTrainer(vocab_size=4000, special_tokens=SPECIALS, show_progress=False,
                                                        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
        p = os.path.join(tmp, "hf_dsv3.json"); t.save(p)
        check("hf_trained_dsv3", p, texts, tmp)
        # (c) HF-trained GPT-2 style with NFKC, a normalized added token, ignore_merges, merges as "a b" strings
        t = Tokenizer(models.BPE(ignore_merges=True))
        t.normalizer = normalizers.NFKC()
        t.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True, use_regex=True)
        t.decoder = decoders.ByteLevel()
        t.train_from_iterator(docs, trainers.BpeTrainer(vocab_size=3000, special_tokens=SPECIALS[:2], show_progress=False,
                                                        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
        t.add_tokens([AddedToken("hello world", normalized=True), AddedToken("ﬁx", normalized=False), AddedToken("ﬁnal ①", normalized=True)])
        js = json.loads(t.to_str())
        js["model"]["merges"] = [" ".join(m) if isinstance(m, list) else m for m in js["model"]["merges"]]
        p = os.path.join(tmp, "hf_gpt2.json"); json.dump(js, open(p, "w"), ensure_ascii=False)
        known = same_normalization()
        texts_n = [x for x in texts if x[0].startswith("data/") or known(x[1])]
        print("#  normalizer tokenizers: %d of %d texts (the others hold characters utf8proc and tokenizers normalize differently)" % (len(texts_n), len(texts)))
        check("hf_trained_gpt2_nfkc", p, texts_n, tmp, lossless=False)
        # (d) every Split behavior, literal and regex patterns, invert, NFC, Oniguruma's \\w \\h \\d \\s
        small = [x for x in texts_n if x[0].startswith("adversarial")] + [x for x in texts_n if x[0].startswith("stdlib")][:40]
        for k, steps in enumerate([
                [pre_tokenizers.Split(" ", "merged_with_previous"), pre_tokenizers.Split(Regex(r"\d"), "merged_with_next"),
                 pre_tokenizers.Split(Regex(r"[aeiou]+"), "contiguous", invert=True)],
                [pre_tokenizers.Split(Regex(r"\s+"), "removed"), pre_tokenizers.Split(Regex(r"\p{P}"), "merged_with_previous", invert=True),
                 pre_tokenizers.Split("e", "merged_with_next", invert=True), pre_tokenizers.Split(Regex(r"\p{L}{1,4}"), "isolated")],
                [pre_tokenizers.Split(Regex(r"\w+|\W"), "isolated"), pre_tokenizers.Split(Regex(r"\h+"), "merged_with_previous"),
                 pre_tokenizers.Split(Regex(r"[\w\s]{3}"), "contiguous")]]):
            t = Tokenizer(models.BPE())
            t.normalizer = normalizers.NFC()
            t.pre_tokenizer = pre_tokenizers.Sequence(steps + [pre_tokenizers.ByteLevel(add_prefix_space=k == 1, use_regex=False)])
            t.decoder = decoders.ByteLevel()
            t.train_from_iterator(docs, trainers.BpeTrainer(vocab_size=1500, show_progress=False, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
            p = os.path.join(tmp, "hf_behaviors%d.json" % k); t.save(p)
            check("hf_trained_split_behaviors%d" % k, p, small, tmp, lossless=False)

if __name__ == "__main__":
    run_script(main)
