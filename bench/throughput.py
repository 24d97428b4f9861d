"""Training throughput and peak memory: aekit's engine against a minimal hand-written loop.

Usage::

    .venv/bin/python bench/throughput.py --data-dir ../shared/data/mnist

Both sides train the *same* ``torch.nn.Module`` (built by aekit, seeded alike) on
the same in-memory MNIST training tensor (60000 x 784) with Adam and batch 128.
The hand-written loop is what one would write in a notebook: a permutation per
epoch, index the tensor, forward, backward, step, no host syncs. aekit's side is
``model.fit(X)`` (no validation set, no run folder), timed per epoch by the
engine. Each measurement runs in its own fresh process (so its peak RSS is its
own), alternating aekit and hand-written over ``--rounds`` rounds; reported are
the median samples per second and the ratio aekit / hand-written, and the peak
RSS of each. Models: the MLP VAE 784-512-256-16 with a Bernoulli likelihood and
the convolutional autoencoder (channels 32-64, d = 16).

``--fit-latency`` times ``fit`` of a 2-epoch VAE on 20000 images against its
training epochs; ``--contention`` times training steps of one process while a
2-thread job beside it runs in every other ``--contention-window`` seconds (12), for
the default thread count and for 1 and 2 threads, ``--contention-epochs`` epochs of
12800 images each (both print JSON and write ``throughput-load.json`` beside
``--out``).

``--decompose`` adds the hand-written loop with aekit's fused Adam, and with fused
Adam and subnormals flushed to zero (``aekit.training.device.flush_denormals``, as ``fit``
trains), which splits aekit's lead into what the optimiser gives, what flushing
gives and what the rest of the engine gives.

``--ddp`` also times ``aekit train vae`` (the same VAE, MNIST, global batch 128)
launched by ``torchrun --nproc_per_node=2`` against one process, both through the
CLI on this machine's CPU cores (gloo), from the per-epoch seconds in each run's
``metrics.json``. ``--compile`` adds ``fit(X, compile=True)`` as a third side
(its first epoch, which compiles, is discarded like every first epoch).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import resource
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

MODELS = ("vae-mlp", "ae-conv")


def estimator(model: str, epochs: int):
    from aekit import VAE, Autoencoder

    if model == "vae-mlp":
        return VAE(16, likelihood="bernoulli", hidden=(512, 256), epochs=epochs, lr=1e-3)
    return Autoencoder(16, architecture="conv", epochs=epochs, lr=1e-3, lr_schedule="none")


def load(data_dir: str, model: str) -> np.ndarray:
    from aekit.data import load_idx_dataset

    X, _ = load_idx_dataset("mnist", "train", data_dir=data_dir, download=False)
    return X.reshape(len(X), -1) if model == "vae-mlp" else X.reshape(len(X), 1, 28, 28)


def hand_written(
    module: torch.nn.Module,
    X: torch.Tensor,
    epochs: int,
    batch: int,
    fused: bool = False,
    flush: bool = False,
) -> list:
    """The loop a user writes by hand: no validation, no checkpoints, no syncs.
    ``fused`` gives it aekit's fused Adam, ``flush`` flushes subnormals to zero
    (``--decompose``)."""
    from aekit.training.device import flush_denormals

    optimizer = torch.optim.Adam(module.parameters(), lr=1e-3, fused=fused or None)
    module.train()
    seconds = []
    with flush_denormals() if flush else contextlib.nullcontext():
        for _ in range(epochs):
            seconds.append(_hand_epoch(module, optimizer, X, batch))
    return seconds


def _hand_epoch(
    module: torch.nn.Module, optimizer: torch.optim.Optimizer, X: torch.Tensor, batch: int
) -> float:
    """One epoch of the hand-written loop; its seconds."""
    start = time.perf_counter()
    perm = torch.randperm(len(X))
    for i in range(0, len(X), batch):
        xb = X[perm[i : i + batch]]
        loss = module(xb)["loss"]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    float(loss)  # one sync at the end of the epoch, as the engine does
    return time.perf_counter() - start


def worker(side: str, model: str, data_dir: str, epochs: int) -> dict:
    torch.manual_seed(0)
    X = load(data_dir, model)
    est = estimator(model, epochs).set_params(random_state=0, device="cpu")
    if side in ("aekit", "aekit-compiled"):
        est.fit(X, compile=side == "aekit-compiled")  # compiling happens in epoch 1
        seconds = [row["seconds"] for row in est.history_]
    else:
        # the same module aekit builds, trained by the loop above
        module = est.build_module(tuple(X.shape[1:]))
        fused, flush = side.startswith("hand-fused"), side == "hand-fused-flushed"
        seconds = hand_written(module, torch.from_numpy(X), epochs, 128, fused, flush)
    rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    # the first epoch warms caches up; the rest are steady state
    steady = seconds[1:] if len(seconds) > 1 else seconds
    return {"samples_per_second": len(X) / statistics.median(steady), "peak_rss_mib": rss_mib}


def ddp_comparison(data_dir: str, epochs: int, workdir: Path) -> dict:
    """Samples per second of ``aekit train vae`` with one process and with two (torchrun)."""
    train = ["-m", "aekit", "train", "vae", "--data", "mnist", "--data-dir", data_dir]
    train += ["--likelihood", "bernoulli", "--hidden", "512,256", "-d", "16", "--lr", "1e-3"]
    train += ["--batch-size", "128", "--epochs", str(epochs), "--quiet", "--overwrite"]
    speeds = {}
    for name, launcher in (
        ("1 process", [sys.executable]),
        ("2 processes", [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2"]),
    ):
        out = workdir / name.replace(" ", "-")
        subprocess.run([*launcher, *train, "--out", str(out)], check=True, capture_output=True)
        history = json.loads((out / "metrics.json").read_text())["history"]
        steady = [row["seconds"] for row in history[1:]] or [history[0]["seconds"]]
        seconds = statistics.median(steady)
        speeds[name] = {
            "seconds_per_epoch": seconds,
            "samples_per_second": 54000 / seconds,  # MNIST train less the 10% validation split
            "final_train_loss": history[-1]["train_loss"],
            "rank_weight_spread": max(row.get("rank_weight_spread", 0.0) for row in history),
        }
    one, two = speeds["1 process"], speeds["2 processes"]
    return {"speedup": one["seconds_per_epoch"] / two["seconds_per_epoch"], **speeds}


COMPETITOR = """
import time, torch
torch.set_num_threads(2)
a, b = torch.randn(1024, 1024), torch.randn(1024, 1024)
while True:
    a @ b
"""


def fit_latency(data_dir: str) -> dict:
    """Wall time of ``fit`` for a 2-epoch VAE on 20000 MNIST images against the time
    of its training epochs: what ``fit`` does beyond training."""
    from aekit import VAE

    X = load(data_dir, "vae-mlp")[:20000]
    out = {}
    # the first torch.optim optimizer of a process imports torch._dynamo (about 1.3 s
    # here): "cold" is the first fit of a fresh process, "warm" a later one
    for when in ("cold", "warm"):
        model = VAE(16, likelihood="bernoulli", hidden=(512, 256), epochs=2, random_state=0)
        start = time.perf_counter()
        model.fit(X)
        wall = time.perf_counter() - start
        epochs = sum(row["seconds"] for row in model.history_)
        out[when] = {"fit_seconds": wall, "epoch_seconds": epochs, "ratio": wall / epochs}
    return out


def contention_worker(threads: str, data_dir: str, epochs: int = 192, window: float = 12.0) -> dict:
    """Trains the MNIST VAE (12800 images an epoch) while a 2-thread competitor runs
    in every other ``window`` seconds, and times every training step. "kept" is the
    median over loaded windows of their steps per second over the mean of the two
    idle windows around them: in the same process and next to each other in time,
    since this VM's speed drifts by tens of percent between minutes, far more than
    between neighbouring windows."""
    import threading

    from aekit import VAE
    from aekit.training.governor import LoadGovernor

    stamps: list[float] = []
    counts: list[int] = []
    adapt = LoadGovernor.adapt

    def timed_adapt(self) -> None:  # called once per training step by the engine
        stamps.append(time.perf_counter())
        counts.append(torch.get_num_threads())
        adapt(self)

    LoadGovernor.adapt = timed_adapt
    X = load(data_dir, "vae-mlp")[:12800]
    n_threads = None if threads == "default" else int(threads)
    model = VAE(16, likelihood="bernoulli", hidden=(512, 256), epochs=epochs, lr=1e-3)
    model.set_params(random_state=0, device="cpu", n_threads=n_threads)
    windows: list[tuple[str, float, float]] = []
    done = threading.Event()

    # one competitor, paused (SIGSTOP) and resumed (SIGCONT): the load comes and goes
    # at once, without a Python start-up in every window
    competitor = subprocess.Popen([sys.executable, "-c", COMPETITOR])
    competitor.send_signal(signal.SIGSTOP)

    def alternate() -> None:
        loaded = False
        while not done.is_set():
            competitor.send_signal(signal.SIGCONT if loaded else signal.SIGSTOP)
            begin = time.perf_counter()
            done.wait(window)
            windows.append(("competitor" if loaded else "idle", begin, time.perf_counter()))
            loaded = not loaded

    toggler = threading.Thread(target=alternate)
    toggler.start()
    try:
        # the governor as `aekit train` runs it (a Python fit runs it only when asked)
        model.fit(X, callbacks=[LoadGovernor(n_threads, torch.device("cpu"))])
    finally:
        done.set()
        toggler.join()
        competitor.kill()
        competitor.wait()
    stamps_array = np.array(stamps)
    counts_array = np.array(counts)
    rates: dict[str, list[float]] = {"idle": [], "competitor": []}
    threads_used: dict[str, dict[int, int]] = {"idle": {}, "competitor": {}}
    whole: list[tuple[str, float]] = []  # (kind, steps per second) in time order
    for name, begin, end in windows[1:-1]:  # whole windows while training ran
        inside = (stamps_array >= begin) & (stamps_array < end)
        rates[name].append(int(inside.sum()) / (end - begin))
        whole.append((name, rates[name][-1]))
        for count in counts_array[inside].tolist():
            threads_used[name][count] = threads_used[name].get(count, 0) + 1
    idle, loaded = (statistics.median(rates[k]) for k in ("idle", "competitor"))
    paired = [
        rate / ((whole[i - 1][1] + whole[i + 1][1]) / 2)
        for i, (name, rate) in enumerate(whole)
        if name == "competitor" and 0 < i < len(whole) - 1
    ]
    # where in a loaded window the steps are lost: its first second, the next four
    # (probes), the rest
    phases = {"0-1s": (0.0, 1.0), "1-5s": (1.0, 5.0), "5s-end": (5.0, window)}
    by_phase: dict[str, float] = {}
    for phase, (start, stop) in phases.items():
        steps = seconds = 0.0
        for name, begin, end in windows[1:-1]:
            if name == "competitor":
                low, high = begin + start, min(end, begin + stop)
                steps += int(((stamps_array >= low) & (stamps_array < high)).sum())
                seconds += high - low
        by_phase[phase] = steps / seconds
    return {
        "idle_steps_per_s": idle,
        "competitor_steps_per_s": loaded,
        "kept": statistics.median(paired),
        "kept_by_window": paired,
        "kept_of_medians": loaded / idle,
        "steps_by_threads": threads_used,
        "competitor_steps_per_s_by_phase": by_phase,
        "windows": rates,
    }


def contention(data_dir: str, epochs: int, window: float) -> dict:
    """Steps per second of the MNIST VAE with and without a 2-thread matmul job
    beside it, for the default thread count and for 1 and 2 threads (each its own
    process, see :func:`contention_worker`)."""
    out: dict[str, dict] = {}
    for threads in ("default", "1", "2"):
        command = [sys.executable, __file__, "--contention-worker", threads]
        command += ["--data-dir", data_dir, "--contention-epochs", str(epochs)]
        command += ["--contention-window", str(window)]
        text = subprocess.run(command, capture_output=True, text=True, check=True).stdout
        out[threads] = json.loads(text.strip().splitlines()[-1])
        print("contention", threads, out[threads], file=sys.stderr, flush=True)
    idle_default = out["default"]["idle_steps_per_s"]
    for row in out.values():  # against the default's idle speed
        row["kept_of_default_idle"] = row["competitor_steps_per_s"] / idle_default
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=os.environ.get("AEKIT_DATA"))
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--out", default="bench/out/throughput.json")
    parser.add_argument("--ddp", action="store_true", help="also time torchrun, 2 processes")
    parser.add_argument("--compile", action="store_true", help="also time fit(compile=True)")
    parser.add_argument(
        "--decompose", action="store_true", help="also the hand loop with fused Adam"
    )
    parser.add_argument("--fit-latency", action="store_true", help="time fit beyond training")
    parser.add_argument("--contention", action="store_true", help="epochs beside a CPU job")
    parser.add_argument("--contention-epochs", type=int, default=192, help="of 12800 images")
    parser.add_argument("--contention-window", type=float, default=12.0, help="seconds")
    parser.add_argument("--worker", nargs=2, metavar=("SIDE", "MODEL"), help=argparse.SUPPRESS)
    parser.add_argument("--contention-worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.contention_worker:
        row = contention_worker(
            args.contention_worker, args.data_dir, args.contention_epochs, args.contention_window
        )
        print(json.dumps(row))
        return
    if args.fit_latency or args.contention:
        report = {"fit_latency": fit_latency(args.data_dir)} if args.fit_latency else {}
        if args.contention:
            report["contention"] = contention(
                args.data_dir, args.contention_epochs, args.contention_window
            )
        print(json.dumps(report, indent=2))
        out = Path(args.out).with_name("throughput-load.json")
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(report, indent=2))
        return
    if args.worker:
        print(json.dumps(worker(*args.worker, args.data_dir, args.epochs)))
        return
    sides = ["aekit", "hand"] + (["aekit-compiled"] if args.compile else [])
    sides += ["hand-fused", "hand-fused-flushed"] if args.decompose else []
    results: dict[str, dict[str, list]] = {}
    for model in args.models:
        for _ in range(args.rounds):
            for side in sides:
                command = [sys.executable, __file__, "--worker", side, model]
                command += ["--data-dir", args.data_dir, "--epochs", str(args.epochs)]
                out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
                row = json.loads(out.strip().splitlines()[-1])
                entry = results.setdefault(model, {}).setdefault(side, [])
                entry.append(row)
                print(model, side, row, file=sys.stderr, flush=True)
    table = []
    for model, sides in results.items():
        speed = {
            s: statistics.median(r["samples_per_second"] for r in rows) for s, rows in sides.items()
        }
        rss = {s: max(r["peak_rss_mib"] for r in rows) for s, rows in sides.items()}
        table.append(
            {
                "model": model,
                "aekit_samples_per_second": speed["aekit"],
                "hand_samples_per_second": speed["hand"],
                "throughput_ratio": speed["aekit"] / speed["hand"],
                "aekit_peak_rss_mib": rss["aekit"],
                "hand_peak_rss_mib": rss["hand"],
                "rss_ratio": rss["aekit"] / rss["hand"],
            }
            | (
                {
                    "compiled_samples_per_second": speed["aekit-compiled"],
                    "compiled_over_eager": speed["aekit-compiled"] / speed["aekit"],
                }
                if "aekit-compiled" in speed
                else {}
            )
            | (
                {
                    "hand_fused_samples_per_second": speed["hand-fused"],
                    "hand_fused_flushed_samples_per_second": speed["hand-fused-flushed"],
                    "hand_fused_over_hand": speed["hand-fused"] / speed["hand"],
                    "flushed_over_hand_fused": speed["hand-fused-flushed"] / speed["hand-fused"],
                    "aekit_over_hand_fused_flushed": speed["aekit"] / speed["hand-fused-flushed"],
                }
                if "hand-fused" in speed
                else {}
            )
        )
    ddp = None
    if args.ddp:
        ddp = ddp_comparison(args.data_dir, args.epochs, Path(args.out).parent / "ddp-runs")
    report = {
        "command": " ".join(sys.argv),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "date": time.strftime("%Y-%m-%d"),
        "results": table,
        "ddp": ddp,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2))
    print("| model | aekit samples/s | hand samples/s | ratio | aekit peak RSS | hand | ratio |")
    print("|---|---|---|---|---|---|---|")
    for r in table:
        print(
            f"| {r['model']} | {r['aekit_samples_per_second']:.0f} | "
            f"{r['hand_samples_per_second']:.0f} | {r['throughput_ratio']:.2f} | "
            f"{r['aekit_peak_rss_mib']:.0f} MiB | {r['hand_peak_rss_mib']:.0f} MiB | "
            f"{r['rss_ratio']:.2f} |"
        )
    for r in table:
        if "compiled_over_eager" in r:
            print(
                f"{r['model']}: compiled {r['compiled_samples_per_second']:.0f} samples/s, "
                f"{r['compiled_over_eager']:.2f}x eager aekit"
            )
        if "hand_fused_over_hand" in r:
            print(
                f"{r['model']}: hand loop with fused Adam {r['hand_fused_samples_per_second']:.0f}"
                f" samples/s, also flushing subnormals "
                f"{r['hand_fused_flushed_samples_per_second']:.0f}: fused Adam "
                f"{r['hand_fused_over_hand']:.2f}x, flushing {r['flushed_over_hand_fused']:.2f}x, "
                f"the rest of aekit {r['aekit_over_hand_fused_flushed']:.2f}x"
            )
    if ddp is not None:
        print(json.dumps(ddp, indent=2))


if __name__ == "__main__":
    main()
