#!/usr/bin/env python3
"""The peer for bench/curate.sh: datatrove running the same rules with the same parameters.
usage: curate_datatrove.py full|dedup CORPUS.jsonl WORKDIR TASKS
Prints one line "datatrove <mode> seconds=<s> kept=<n>" and writes WORKDIR/kept_ids.txt."""
import glob, json, os, shutil, sys, time

from datatrove.executor import LocalPipelineExecutor
from datatrove.pipeline.dedup import MinhashDedupBuckets, MinhashDedupCluster, MinhashDedupFilter, MinhashDedupSignature
from datatrove.pipeline.dedup.minhash import MinhashConfig
from datatrove.pipeline.filters import C4QualityFilter, FineWebQualityFilter, GopherQualityFilter, GopherRepetitionFilter
from datatrove.pipeline.formatters import PIIFormatter
from datatrove.pipeline.readers import JsonlReader
from datatrove.pipeline.writers import JsonlWriter
from datatrove.utils.hashing import HashConfig



def main():
    mode, corpus, work, tasks = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    indir = os.path.join(work, "in")
    os.makedirs(indir)
    # split the corpus into TASKS contiguous files so that TASKS processes share the work and the
    # document order (file by file) stays the input order: the first of a cluster is the same one
    lines = open(corpus).readlines()
    per = (len(lines) + tasks - 1) // tasks
    for t in range(tasks):
        with open(os.path.join(indir, f"part{t:02d}.jsonl"), "w") as f:
            f.writelines(lines[t * per:(t + 1) * per])
    cfg = MinhashConfig(hash_config=HashConfig(precision=64), num_buckets=14, hashes_per_bucket=8, n_grams=5)
    t0 = time.time()
    filtered = os.path.join(work, "filtered")
    if mode == "full":
        steps = [
            JsonlReader(indir, glob_pattern="*.jsonl"),
            GopherRepetitionFilter(),
            GopherQualityFilter(),
            C4QualityFilter(filter_no_terminal_punct=False),
            FineWebQualityFilter(),
            PIIFormatter(),
            JsonlWriter(filtered, compression=None),
        ]
        LocalPipelineExecutor(pipeline=steps, tasks=tasks, workers=tasks, logging_dir=os.path.join(work, "log1")).run()
        src = filtered
    else:
        src = indir
    sig, buck, clus, out = (os.path.join(work, d) for d in ("sig", "buckets", "clusters", "out"))
    LocalPipelineExecutor(pipeline=[JsonlReader(src, glob_pattern="*.jsonl"), MinhashDedupSignature(output_folder=sig, config=cfg)],
                          tasks=tasks, workers=tasks, logging_dir=os.path.join(work, "log2")).run()
    LocalPipelineExecutor(pipeline=[MinhashDedupBuckets(input_folder=sig, output_folder=buck, config=cfg)],
                          tasks=cfg.num_buckets, workers=tasks, logging_dir=os.path.join(work, "log3")).run()
    LocalPipelineExecutor(pipeline=[MinhashDedupCluster(input_folder=buck, output_folder=clus, config=cfg)],
                          tasks=1, logging_dir=os.path.join(work, "log4")).run()
    LocalPipelineExecutor(pipeline=[JsonlReader(src, glob_pattern="*.jsonl"), MinhashDedupFilter(input_folder=clus),
                                    JsonlWriter(out, compression=None)],
                          tasks=tasks, workers=tasks, logging_dir=os.path.join(work, "log5")).run()
    secs = time.time() - t0
    kept = []
    for p in sorted(glob.glob(os.path.join(out, "*.jsonl"))):
        for line in open(p):
            kept.append(json.loads(line)["id"])
    open(os.path.join(work, "kept_ids.txt"), "w").write("\n".join(kept) + "\n")
    print(f"datatrove {mode} seconds={secs:.2f} kept={len(kept)}")


if __name__ == "__main__":   # datatrove's workers are spawned processes
    main()
