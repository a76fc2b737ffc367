#!/usr/bin/env python3
"""The Tiny Shakespeare character recipe in PyTorch: llmrt's peer for examples/shakespeare-char.toml.

The model is torch_gpt_ref.Gpt (what llmrt's gpt.embedding + gpt.block x 4 + gpt.head build, tied
head, llmrt's initialisation), trained as llmrt trains it: AdamW (betas 0.9/0.99, eps 1e-8, weight
decay 0.1 on every parameter, as llmrt's `adamw`), llmrt's `cosine` schedule (steps from 1: linear
warmup base·s/warmup, then half a cosine to min_lr at the last step), global-norm clip 1.0. The
batches are nanoGPT's get_batch (--order random: B windows at uniformly random offsets, drawn
with replacement) or llmrt's contiguous order (--order contiguous: sequence g is tokens g·T ..
g·T + T). Validation loss: the mean over the first --val-sequences windows of the val shard at
stride T, as llmrt's data.val (examples/shakespeare-char.toml validates on all of it).

    build/llmrt data prepare /work/shared/data/tinyshakespeare.txt data/shakespeare
    /usr/bin/python3 bench/shakespeare_char_ref.py --train data/shakespeare_train.bin \\
        --val data/shakespeare_val.bin

Prints a line per validation and one JSON line at the end: val_losses {step: loss}, the last
step's train loss, seconds.
"""
import argparse
import json
import math
import os
import sys
import time


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--train", required=True, help="llm.c token shard (uint16 tokens after a 1024-byte header)")
    parser.add_argument("--val", required=True)
    parser.add_argument("--order", default="random", choices=["random", "contiguous"])
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=12)
    parser.add_argument("--seq", type=int, default=64)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--d-model", type=int, default=128)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--vocab", type=int, default=256)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--min-lr", type=float, default=1e-4)
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--betas", type=float, nargs=2, default=[0.9, 0.99])
    parser.add_argument("--weight-decay", type=float, default=0.1)
    parser.add_argument("--grad-clip", type=float, default=1.0)
    parser.add_argument("--val-every", type=int, default=500)
    parser.add_argument("--val-sequences", type=int, default=1740)
    parser.add_argument("--seed", type=int, default=1337)
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    parser.add_argument("--blas-threads", type=int, default=2, help="OpenBLAS threads (read when torch loads)")
    return parser.parse_args(argv)


ARGS = parse_args(sys.argv[1:])
os.environ["OPENBLAS_NUM_THREADS"] = str(ARGS.blas_threads)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
try:
    import numpy as np
    import torch
    from torch_gpt_ref import Gpt
except ImportError as error:
    print(f"SKIP: cannot import torch ({error}); on Debian: apt-get install python3-torch", file=sys.stderr)
    sys.exit(77)


def read_shard(path):
    return torch.from_numpy(np.fromfile(path, dtype=np.uint16, offset=1024).astype(np.int64))


def learning_rate(step, args):
    """llmrt's cosine schedule, step from 1."""
    if step <= args.warmup:
        return args.lr * step / args.warmup
    if step >= args.steps:
        return args.min_lr
    ratio = (step - args.warmup) / (args.steps - args.warmup)
    return args.min_lr + 0.5 * (1.0 + math.cos(math.pi * ratio)) * (args.lr - args.min_lr)


def batch_of(data, step, generator, args):
    """(B, T + 1) windows: nanoGPT's random offsets, or llmrt's contiguous sequences."""
    T = args.seq
    if args.order == "random":
        starts = torch.randint(len(data) - T, (args.batch,), generator=generator)
    else:
        windows = (len(data) - 1) // T
        starts = torch.tensor([((step * args.batch + row) % windows) * T for row in range(args.batch)])
    return torch.stack([data[s:s + T + 1] for s in starts.tolist()])


@torch.no_grad()
def validation_loss(model, val, args):
    T, total, batches = args.seq, 0.0, args.val_sequences // args.batch
    for b in range(batches):
        rows = torch.stack([val[(b * args.batch + r) * T:(b * args.batch + r) * T + T + 1] for r in range(args.batch)])
        total += model(rows[:, :-1], rows[:, 1:]).item()
    return total / batches


def main(args):
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    train, val = read_shard(args.train), read_shard(args.val)
    if (len(val) - 1) // args.seq < args.val_sequences:
        print(f"{args.val}: fewer than --val-sequences {args.val_sequences} windows", file=sys.stderr)
        return 2
    model = Gpt(args.layers, args.d_model, args.heads, args.seq, args.vocab)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, betas=tuple(args.betas), eps=1e-8,
                                  weight_decay=args.weight_decay)
    generator = torch.Generator().manual_seed(args.seed)
    val_losses, start, loss = {}, time.perf_counter(), None
    for step in range(1, args.steps + 1):
        rows = batch_of(train, step - 1, generator, args)
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(step, args)
        loss = model(rows[:, :-1], rows[:, 1:])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if args.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), args.grad_clip)
        optimizer.step()
        if step % args.val_every == 0 or step == args.steps:
            val_losses[step] = validation_loss(model, val, args)
            print(f"step {step} train loss {loss.item():.4f} val loss {val_losses[step]:.4f}", flush=True)
    print(json.dumps({"impl": f"pytorch-{torch.__version__}", "order": args.order, "steps": args.steps,
                      "val_losses": val_losses, "train_loss_last": loss.item(),
                      "seconds": time.perf_counter() - start}))
    return 0


if __name__ == "__main__":
    sys.exit(main(ARGS))
