#!/usr/bin/env python3
"""llmrt's PyTorch peer: the GPT of llmrt's built-in layers, trained in PyTorch, as a baseline.

The model is what `gpt.embedding` + `gpt.block` x L + `gpt.head` build in llmrt: learned token
and position embeddings, pre-LayerNorm blocks (one (3C, C) qkv projection with bias, causal
softmax attention, output projection, 4C GELU-tanh MLP), a final LayerNorm and an output
projection tied to the token embedding; LayerNorm eps 1e-5; initialised as llmrt's param specs
say (normal 0.02, the two residual projections 0.02 / sqrt(2 L), biases 0, LayerNorm 1 and 0).
AdamW (lr 3e-4, weight decay 0.1 on every parameter, PyTorch's default betas and eps, as llmrt's
`adamw`), no gradient clipping, random tokens — the same job as bench/bench_train_cpu.cpp.

Compare tokens/s of the two in the same sitting, on the same cores or card (docs/PERFORMANCE.md).

CPU, with Debian's python3-torch 1.13 (/usr/bin/python3):
    python3 bench/torch_gpt_ref.py --layers 4 --d-model 256 --heads 4 --seq 256 --vocab 256 \\
        --batch 8 --steps 10 --threads 1 --blas-threads 2
  Debian's torch runs its matrix products in the system OpenBLAS. On the 2-core development
  machine it is fastest with 1 intra-op thread and 2 OpenBLAS threads (2 and 2 fight over the
  cores and run about half as fast): give PyTorch its best setting, not llmrt's.

GPU (PyTorch 2.x with CUDA), as a PyTorch user would train GPT-2 124M:
    python3 bench/torch_gpt_ref.py --device cuda --dtype bf16 --compile --layers 12 --d-model 768 \\
        --heads 12 --seq 1024 --vocab 50304 --batch 16 --steps 30 --peak-tflops 989
  bf16 autocast over fp32 master weights, fused scaled-dot-product (flash) attention, fused AdamW,
  TF32 matmuls, torch.compile.

Prints one JSON line: tokens_per_s, step_ms_median, model_tflops (and mfu with --peak-tflops),
params, loss_first, loss_last and the settings. Model FLOPs per token are 6 N + 12 L C T
(PaLM, appendix B: weights, tied embedding counted once, plus attention scores).
"""
import argparse
import json
import math
import os
import statistics
import sys
import time


def parse_args(argv):
    parser = argparse.ArgumentParser(description="llmrt's PyTorch peer: tokens/s of the same GPT")
    shape = parser.add_argument_group("shape (bench_train_cpu's flags)")
    shape.add_argument("--layers", type=int, default=4, help="blocks L")
    shape.add_argument("--d-model", type=int, default=256, help="width C")
    shape.add_argument("--heads", type=int, default=4)
    shape.add_argument("--seq", type=int, default=256, help="tokens per sequence T")
    shape.add_argument("--vocab", type=int, default=256, help="vocabulary V")
    shape.add_argument("--batch", type=int, default=8, help="sequences per step B")
    run = parser.add_argument_group("run")
    run.add_argument("--steps", type=int, default=20, help="timed steps (the median is reported)")
    run.add_argument("--warmup", type=int, default=3, help="untimed steps first")
    run.add_argument("--seed", type=int, default=1337)
    run.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    run.add_argument("--threads", type=int, default=1, help="CPU: torch intra-op threads")
    run.add_argument("--blas-threads", type=int, default=2, help="CPU: OpenBLAS threads (read when torch loads)")
    run.add_argument("--dtype", default="fp32", choices=["fp32", "bf16"], help="bf16: autocast, fp32 master weights")
    run.add_argument("--compile", action="store_true", help="torch.compile the model (PyTorch 2.x)")
    run.add_argument("--peak-tflops", type=float, default=0.0, help="the device's peak for --dtype, to report MFU")
    args = parser.parse_args(argv)
    if args.d_model % args.heads != 0:
        parser.error(f"--heads {args.heads} does not divide --d-model {args.d_model}")
    if min(args.layers, args.d_model, args.seq, args.vocab, args.batch, args.steps) <= 0 or args.warmup < 0:
        parser.error("shape and --steps must be positive, --warmup non-negative")
    return args


# Run as a script, it parses its flags first; imported (bench/shakespeare_char_ref.py takes Gpt),
# the importer sets OPENBLAS_NUM_THREADS itself.
ARGS = parse_args(sys.argv[1:]) if __name__ == "__main__" else None
if ARGS is not None:
    # OpenBLAS sizes its thread pool once, when libtorch loads it: the variable must be set first.
    os.environ["OPENBLAS_NUM_THREADS"] = str(ARGS.blas_threads)
try:
    import torch
    import torch.nn.functional as F
    from torch import nn
except ImportError as error:
    print(f"SKIP: cannot import torch ({error}); on Debian: apt-get install python3-torch", file=sys.stderr)
    sys.exit(77)

FUSED_ATTENTION = hasattr(F, "scaled_dot_product_attention")  # PyTorch 2.x; 1.13 has none


class Block(nn.Module):
    """gpt.block: x + attn(ln1(x)), then + mlp(ln2(.)). x: (B, T, C)."""

    def __init__(self, width, heads):
        super().__init__()
        self.heads = heads
        self.ln1, self.ln2 = nn.LayerNorm(width, eps=1e-5), nn.LayerNorm(width, eps=1e-5)
        self.qkv = nn.Linear(width, 3 * width)   # llmrt's qkv_w (3, C, C) is this (3C, C) weight
        self.proj = nn.Linear(width, width)
        self.fc = nn.Linear(width, 4 * width)
        self.fc2 = nn.Linear(4 * width, width)

    def attention(self, h):
        batch, seq, width = h.shape
        # (B, T, 3C) -> three (B, heads, T, C / heads)
        q, k, v = (t.reshape(batch, seq, self.heads, width // self.heads).transpose(1, 2)
                   for t in self.qkv(h).chunk(3, dim=-1))
        if FUSED_ATTENTION:
            out = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        else:
            scores = q @ k.transpose(-2, -1) * (1.0 / math.sqrt(width // self.heads))  # (B, heads, T, T)
            future = torch.triu(torch.ones(seq, seq, dtype=torch.bool, device=h.device), diagonal=1)
            out = scores.masked_fill(future, float("-inf")).softmax(dim=-1) @ v
        return self.proj(out.transpose(1, 2).reshape(batch, seq, width))

    def forward(self, x):
        x = x + self.attention(self.ln1(x))
        return x + self.fc2(F.gelu(self.fc(self.ln2(x)), approximate="tanh"))


class Gpt(nn.Module):
    """gpt.embedding, L gpt.block, gpt.head (tied): tokens (B, T) int64 -> mean cross-entropy."""

    def __init__(self, layers, width, heads, seq, vocab):
        super().__init__()
        self.wte = nn.Embedding(vocab, width)
        self.wpe = nn.Embedding(seq, width)
        self.blocks = nn.ModuleList(Block(width, heads) for _ in range(layers))
        self.lnf = nn.LayerNorm(width, eps=1e-5)
        self.reset_parameters(layers)

    @torch.no_grad()
    def reset_parameters(self, layers):
        residual_std = 0.02 / math.sqrt(2 * layers)
        for module in self.modules():
            if isinstance(module, nn.Embedding):
                nn.init.normal_(module.weight, 0.0, 0.02)
            elif isinstance(module, nn.Linear):
                nn.init.zeros_(module.bias)
                nn.init.normal_(module.weight, 0.0, 0.02)
        for block in self.blocks:
            nn.init.normal_(block.proj.weight, 0.0, residual_std)
            nn.init.normal_(block.fc2.weight, 0.0, residual_std)

    def forward(self, tokens, targets):
        positions = torch.arange(tokens.shape[1], device=tokens.device)
        x = self.wte(tokens) + self.wpe(positions)  # (B, T, C)
        for block in self.blocks:
            x = block(x)
        logits = self.lnf(x) @ self.wte.weight.t()  # (B, T, V), tied projection
        return F.cross_entropy(logits.float().flatten(0, 1), targets.flatten())


def expected_parameters(layers, width, seq, vocab):
    """What llmrt's param specs hold for this shape (wte counted once: the head is tied)."""
    block = 12 * width * width + 13 * width  # ln1 2C, qkv 3C²+3C, proj C²+C, ln2 2C, fc 4C²+4C, fc2 4C²+C
    return vocab * width + seq * width + layers * block + 2 * width


def train(args, device):
    torch.manual_seed(args.seed)
    model = Gpt(args.layers, args.d_model, args.heads, args.seq, args.vocab).to(device)
    extra = {"fused": True} if device.type == "cuda" else {}
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-4, weight_decay=0.1, **extra)
    forward = torch.compile(model) if args.compile else model
    tokens = torch.Generator().manual_seed(args.seed)
    seconds, losses = [], []
    for step in range(args.warmup + args.steps):
        batch = torch.randint(0, args.vocab, (args.batch, args.seq + 1), generator=tokens).to(device)
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=args.dtype == "bf16"):
            loss = forward(batch[:, :-1], batch[:, 1:])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())  # waits for the device
        if step >= args.warmup:
            seconds.append(time.perf_counter() - start)
    return model, seconds, losses


def main(args):
    if args.compile and not hasattr(torch, "compile"):
        print(f"torch_gpt_ref.py: --compile needs PyTorch 2.x; this is {torch.__version__}", file=sys.stderr)
        return 2
    device = torch.device(args.device)
    if device.type == "cpu":
        torch.set_num_threads(args.threads)
    elif not torch.cuda.is_available():
        print("SKIP: --device cuda but torch sees no GPU", file=sys.stderr)
        return 77
    else:
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    model, seconds, losses = train(args, device)
    params = sum(p.numel() for p in model.parameters())
    assert params == expected_parameters(args.layers, args.d_model, args.seq, args.vocab), params
    step_s = statistics.median(seconds)
    tokens = args.batch * args.seq
    flops = (6 * params + 12 * args.layers * args.d_model * args.seq) * tokens / step_s
    report = {
        "impl": f"pytorch-{torch.__version__}", "device": args.device, "dtype": args.dtype, "compile": args.compile,
        "fused_attention": FUSED_ATTENTION, "threads": args.threads, "blas_threads": args.blas_threads,
        "shape": {"layers": args.layers, "d_model": args.d_model, "heads": args.heads, "seq": args.seq,
                  "vocab": args.vocab, "batch": args.batch},
        "params": params, "tokens_per_s": tokens / step_s, "step_ms_median": step_s * 1e3,
        "model_tflops": flops / 1e12, "gflops_per_s": flops / 1e9,
        "loss_first": losses[0], "loss_last": losses[-1],
    }
    if args.peak_tflops > 0:
        report["mfu"] = flops / 1e12 / args.peak_tflops
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main(ARGS))
