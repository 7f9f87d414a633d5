"""PyTorch peer for bench/train.c: the same model (transformers' DeepseekV3ForCausalLM
built from deepc's config.json), eager FP32 on the CPU, forward + backward + AdamW
(beta 0.9/0.95, wd 0.1, clip 1.0) on one random batch. Prints
"TORCH <tokens/s> <peak RSS MB> <tokens per CPU-second>" (best of --steps timed steps after one warm-up)."""
import argparse, json, resource, time
import torch
from transformers import DeepseekV3Config, DeepseekV3ForCausalLM

ap = argparse.ArgumentParser()
ap.add_argument("--config", required=True)
ap.add_argument("--batch", type=int, default=8)
ap.add_argument("--seq", type=int, default=512)
ap.add_argument("--steps", type=int, default=3)
ap.add_argument("--threads", type=int, default=1)
a = ap.parse_args()
torch.set_num_threads(a.threads)
torch.manual_seed(0)
cfg = json.load(open(a.config))
cfg.pop("architectures", None)
conf = DeepseekV3Config(**cfg)
conf._attn_implementation = "eager"
model = DeepseekV3ForCausalLM(conf).float().train()
opt = torch.optim.AdamW(model.parameters(), lr=1e-4, betas=(0.9, 0.95), weight_decay=0.1)
V = conf.vocab_size
x = torch.randint(0, V, (a.batch, a.seq))
y = torch.randint(0, V, (a.batch, a.seq))

def step():
    opt.zero_grad(set_to_none=True)
    logits = model(input_ids=x).logits
    loss = torch.nn.functional.cross_entropy(logits.view(-1, V), y.view(-1))
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()

step()
best, best_cpu = 1e30, 1e30
for _ in range(a.steps):
    t, c = time.perf_counter(), time.process_time()
    step()
    best = min(best, time.perf_counter() - t)
    best_cpu = min(best_cpu, time.process_time() - c)
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
print(f"TORCH {a.batch * a.seq / best:.1f} {rss:.1f} {a.batch * a.seq / best_cpu:.1f}")
