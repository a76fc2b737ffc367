#!/usr/bin/env python3
"""The PyTorch side of llmrt's equivalence test: the same GPT from the same weights and tokens.

Reads WORK/params.bin + WORK/params.json (llmrt's initial parameters by name, fp32),
WORK/tokens.bin (an llm.c token shard, read in contiguous windows of B*T + 1 tokens advancing
B*T per microbatch, as llmrt's loader reads it) and WORK/config.json; trains `steps` AdamW steps with
gradient accumulation and writes WORK/torch_out.json (the loss of every step) and
WORK/torch_grads.bin + the names' order in torch_out.json (the gradients of step 1, before
clipping), and WORK/torch_params.bin (the parameters after the last step, in params.json's order).
AdamW's param groups are the peers' (nanoGPT, Megatron): no weight decay on biases (names ending
in "_b") and on tensors of fewer than 2 dimensions; config.json's "groups" (each {match: [glob],
lr_scale, weight_decay?}) set those values for the parameters whose names they match (at most
one each), as llmrt's [[train.param_group]] do. Exits 77 when torch is missing, so the test can skip visibly.
"""
import fnmatch, json, math, sys

try:
    import numpy as np
    import torch
    import torch.nn.functional as F
except ImportError as error:
    print(f"SKIP: {error}")
    sys.exit(77)

torch.use_deterministic_algorithms(True)
torch.set_num_threads(1)
work = sys.argv[1]
cfg = json.load(open(f"{work}/config.json"))
index = json.load(open(f"{work}/params.json"))
flat = np.fromfile(f"{work}/params.bin", dtype=np.float32)
params = {e["name"]: torch.tensor(flat[e["offset"]:e["offset"] + e["count"]].reshape(e["shape"]), dtype=torch.float32,
                                   requires_grad=True) for e in index}
C, H, T, L = cfg["d_model"], cfg["heads"], cfg["seq_len"], cfg["layers"]
B, m, steps = cfg["microbatch"], cfg["microbatches"], cfg["steps"]


def block(x, i):
    p = lambda n: params[f"gpt.block[{i}].{n}"]
    h = F.layer_norm(x, (C,), p("ln1_w"), p("ln1_b"), 1e-5)
    qkv = h @ p("qkv_w").reshape(3 * C, C).t() + p("qkv_b").reshape(3 * C)
    q, k, v = (t.view(B, T, H, C // H).transpose(1, 2) for t in qkv.split(C, dim=2))
    att = (q @ k.transpose(-2, -1)) / math.sqrt(C // H)
    mask = torch.ones(T, T, dtype=torch.bool).tril()
    y = att.masked_fill(~mask, float("-inf")).softmax(dim=-1) @ v
    y = y.transpose(1, 2).contiguous().view(B, T, C)
    x = x + y @ p("proj_w").t() + p("proj_b")
    h = F.layer_norm(x, (C,), p("ln2_w"), p("ln2_b"), 1e-5)
    h = F.gelu(h @ p("fc_w").t() + p("fc_b"), approximate="tanh")
    return x + h @ p("fc2_w").t() + p("fc2_b")


def loss_of(tokens):
    idx, targets = tokens[:, :-1], tokens[:, 1:]
    x = params["wte"][idx] + params["gpt.embedding[0].wpe"][torch.arange(T)]
    for i in range(1, L + 1):
        x = block(x, i)
    h = F.layer_norm(x, (C,), params[f"gpt.head[{L + 1}].lnf_w"], params[f"gpt.head[{L + 1}].lnf_b"], 1e-5)
    logits = h @ params["wte"].t()
    return F.cross_entropy(logits.reshape(-1, logits.size(-1)), targets.reshape(-1))


tokens = torch.from_numpy(np.fromfile(f"{work}/tokens.bin", dtype=np.uint16, offset=1024).astype(np.int64))
window = B * T + 1
ordered = list(params.values())


def param_groups():
    """torch groups of (lr, weight_decay): a custom group's values where it sets them, else the default."""
    groups = {}
    for name, p in params.items():
        hit = [g for g in cfg.get("groups", []) if any(fnmatch.fnmatchcase(name, m) for m in g["match"])]
        assert len(hit) <= 1, f"{name} is in two groups"
        group = hit[0] if hit else {}
        no_decay = name.endswith("_b") or p.dim() < 2
        lr = cfg["lr"] * group.get("lr_scale", 1.0)
        decay = group.get("weight_decay", 0.0 if no_decay else cfg["weight_decay"])
        groups.setdefault((lr, decay), []).append(p)
    return [{"params": ps, "lr": lr, "weight_decay": wd} for (lr, wd), ps in groups.items()]


opt = torch.optim.AdamW(param_groups(), lr=cfg["lr"], betas=tuple(cfg["betas"]), eps=cfg["eps"])
losses = []
for step in range(steps):
    opt.zero_grad(set_to_none=True)
    total = 0.0
    for mb in range(m):
        start = (step * m + mb) * (window - 1)  # llmrt's loader advances B*T tokens per batch
        chunk = tokens[start:start + window]
        rows = torch.stack([chunk[b * T:b * T + T + 1] for b in range(B)])
        loss = loss_of(rows)
        (loss / m).backward()
        total += loss.item()
    losses.append(total / m)
    if step == 0:
        grads = np.concatenate([params[e["name"]].grad.detach().numpy().reshape(-1) for e in index])
        grads.astype(np.float32).tofile(f"{work}/torch_grads.bin")
    if cfg["grad_clip"] > 0:
        torch.nn.utils.clip_grad_norm_(ordered, cfg["grad_clip"])
    opt.step()
json.dump({"losses": losses}, open(f"{work}/torch_out.json", "w"))
final = np.concatenate([params[e["name"]].detach().numpy().reshape(-1) for e in index])
final.astype(np.float32).tofile(f"{work}/torch_params.bin")
