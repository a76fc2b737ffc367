#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets (tests/fuzz/corpus/<target>/) from the shipped
configs and small fixtures made here the way the tests make them. Rerun after changing a
format; the files are committed (a few KiB each), so CI needs no Python step.
    tests/fuzz/make_seeds.py"""
import json
import pathlib
import struct

HERE = pathlib.Path(__file__).resolve().parent
REPO = HERE.parent.parent
CORPUS = HERE / "corpus"
INCLUDE_SEPARATOR = "\n#--- inc.toml\n"


def write(target, name, data):
    folder = CORPUS / target
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(data if isinstance(data, bytes) else data.encode())


def config_loader():
    for config in sorted((REPO / "configs").glob("*.toml")):
        text = config.read_text()
        included = ""
        for line in text.splitlines():
            if line.startswith("include = ["):
                name = line.split('"')[1]
                included = (config.parent / name).read_text()
                text = text.replace(line, 'include = ["inc.toml"]')
        write("config_loader", config.stem + ".toml", text + (INCLUDE_SEPARATOR + included if included else ""))
    local = (REPO / "configs/local-cpu.toml").read_text()
    cluster, rest = local.split("[model]", 1)
    write("config_loader", "split-include.toml", 'include = ["inc.toml"]\n[model]' + rest + INCLUDE_SEPARATOR + cluster)
    write("config_loader", "include-cycle.toml", 'include = ["inc.toml"]\n' + INCLUDE_SEPARATOR + 'include = ["main.toml"]\n')
    write("config_loader", "include-missing.toml", 'include = ["absent.toml"]\n[cluster]\nname = "x"\n')
    write("config_loader", "malformed.toml", "[cluster\nname = \n")


def config_set():
    lines = {
        "steps": "train.steps=3",
        "auto-layout": "parallel.pp=auto\nparallel.tp=auto\nparallel.dp=auto\ntrain.steps=2",
        "run-dir": "metrics.run_dir=runs/x\nmetrics.log_every=1",
        "precision": 'train.precision="bf16"\ntrain.loss_scale_init=1024',
        "layers": "model.seq_len=64\nmodel.layer[0].d_model=64\nmodel.layer[1].d_model=64\nmodel.layer[1].repeat=2",
        "optimizer": "train.optimizer.lr=3e-4\ntrain.optimizer.betas=[0.9, 0.99]\ntrain.lr_schedule.min_lr=0",
        "node": "cluster.node[0].cpus.ranks=1\nparallel.pp=1",
        "data": "data.train=shards/x_*.bin\ntrain.global_batch=4",
        "bad-path": "cluster.node[9].name=x",
        "bad-key": "train.stepz=3",
        "bad-value": "train.steps=[1, 2",
        "no-equals": "train.steps",
    }
    for name, text in lines.items():
        write("config_set", name, text)


def shard(tokens, magic=20240520, version=1, count=None):
    header = [0] * 256
    header[0], header[1], header[2] = magic, version, len(tokens) if count is None else count
    return struct.pack("<256i", *header) + struct.pack(f"<{len(tokens)}H", *tokens)


def shard_params(vocab, seq, shuffle, two, seed=1):
    # vocab_size - 1 (uint16), seq_len - 1, flags (bit 0 shuffled, bit 1 two shards), seed
    return struct.pack("<HBBI", vocab - 1, seq - 1, (1 if shuffle else 0) | (2 if two else 0), seed)


def token_shards():
    text = [b % 256 for b in b"the quick brown fox jumps over the lazy dog. " * 3]
    write("token_shards", "bytes-in-order", shard_params(256, 16, False, False) + shard(text))
    write("token_shards", "bytes-shuffled", shard_params(256, 8, True, False, 7) + shard(text))
    two = shard(text[:70]) + shard(text[70:])
    write("token_shards", "two-shards", shard_params(256, 8, True, True, 3) + two)
    write("token_shards", "out-of-vocab", shard_params(100, 8, False, False) + shard(text))
    write("token_shards", "bad-magic", shard_params(256, 8, False, False) + shard(text, magic=1234))
    write("token_shards", "count-too-big", shard_params(256, 8, False, False) + shard(text, count=2**31 - 1))
    write("token_shards", "short-window", shard_params(256, 64, False, False) + shard(text[:20]))


def elf_shared_object(machine=62, elf_type=3, elf_class=2, phnum=2, truncate=None):
    """A minimal 64-bit ELF with a PT_LOAD and a PT_DYNAMIC, and plugin identity fields after it."""
    ident = b"\x7fELF" + bytes([elf_class, 1, 1, 0]) + bytes(8)
    phoff = 64
    header = ident + struct.pack("<HHIQQQIHHHHHH", elf_type, machine, 1, 0, phoff, 0, 0, 64, 56, phnum, 64, 0, 0)
    size = 64 + 56 * phnum + 64
    load = struct.pack("<IIQQQQQQ", 1, 5, 0, 0, 0, size, size, 0x1000)
    dynamic = struct.pack("<IIQQQQQQ", 2, 6, 64 + 56 * phnum, 0, 0, 64, 64, 8)
    data = header + (load + dynamic)[: 56 * phnum] + bytes(64)
    return data[:truncate] if truncate else data


def identity(name=b"acme-mlp", version=b"0.1.0", build_id=b"b1", magic=0x4C4C5254, abi_major=1):
    return struct.pack("<IIHHHH", magic, 48, abi_major, 0, 0, 8) + b"\x01" + name + b"\0" + version + b"\0" + build_id


def plugin_elf():
    write("plugin_elf", "shared-object", elf_shared_object())
    write("plugin_elf", "aarch64", elf_shared_object(machine=183))
    write("plugin_elf", "executable", elf_shared_object(elf_type=2))
    write("plugin_elf", "32-bit", elf_shared_object(elf_class=1))
    write("plugin_elf", "truncated", elf_shared_object(truncate=100))
    write("plugin_elf", "no-dynamic", elf_shared_object(phnum=1))
    write("plugin_elf", "text", b"this is not a shared object\n")
    write("plugin_elf", "identity", identity())
    write("plugin_elf", "identity-long-name", identity(name=b"n" * 300))
    write("plugin_elf", "identity-major-2", identity(abi_major=2))


def safetensors(tensors, metadata=None, pad=b""):
    header, blobs, offset = {}, b"", 0
    for name, dtype, shape, blob in tensors:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + len(blob)]}
        blobs += blob
        offset += len(blob)
    if metadata is not None:
        header["__metadata__"] = metadata
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + blobs + pad


def manifest():
    return {
        "format": "llmrt-checkpoint", "version": 1, "step": 4, "updates_done": 4,
        "loss_scaler": {"scale": 1.0, "clean_steps": 0},
        "layout": {"pp": 2, "tp": 1, "dp": 1, "virtual_stages": 1, "microbatch_size": 2, "microbatches": 4,
                   "schedule": "1f1b", "stage_layers": [3, 3]},
        "precision": "fp32", "config_crc32": "1a2b3c4d", "model_name": "tiny-gpt",
        "plugins": {"gpt": "0.1.0", "adamw": "0.1.0"}, "seed": 1337,
        "data": {"global_batch": 8, "sequences_consumed": 32, "train": ""},
        "optimizer_states": ["exp_avg", "exp_avg_sq"],
        "files": [{"name": "pp0-tp0.safetensors", "pp": 0, "tp": 0, "bytes": 4096, "crc32": 305419896, "rng_offset": 0},
                  {"name": "pp1-tp0.safetensors", "pp": 1, "tp": 0, "bytes": 4096, "crc32": 2271560481, "rng_offset": 7}],
        "tensors": {"layer0.wte": {"global_shape": [256, 32], "shard_dim": 0, "tied": True, "files": ["pp0-tp0.safetensors"]},
                    "layer5.ln_f.weight": {"global_shape": [32], "shard_dim": -1, "tied": False,
                                           "files": ["pp1-tp0.safetensors"]}},
    }


def ckpt_reader():
    f32 = struct.pack("<6f", 1, -2, 3.5, 0, 1e-3, 7)
    st = lambda name, data: write("ckpt_reader", name, b"\0" + data)
    st("model", safetensors([("wte", "F32", [2, 3], f32), ("ln.weight", "F32", [1], struct.pack("<f", 1))],
                            {"format": "llmrt", "step": "4"}))
    st("half", safetensors([("a", "BF16", [2], b"\x80\x3f\x00\x40"), ("b", "F16", [2], b"\x00\x3c\x00\x40"),
                            ("c", "F64", [1], struct.pack("<d", 2.5)), ("d", "I32", [1], b"\1\0\0\0")]))
    st("hole", safetensors([("a", "F32", [1], b"\0\0\0\0")], pad=b"\0\0\0\0"))
    st("empty", safetensors([]))
    man = lambda name, data: write("ckpt_reader", name, b"\1" + json.dumps(data, indent=1).encode())
    man("manifest", manifest())
    escaping = manifest()
    escaping["files"][0]["name"] = "../outside.safetensors"
    man("manifest-escape", escaping)
    missing = manifest()
    del missing["layout"]
    man("manifest-missing-layout", missing)


if __name__ == "__main__":
    config_loader()
    config_set()
    token_shards()
    plugin_elf()
    ckpt_reader()
