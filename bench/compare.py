#!/usr/bin/env python3
"""Times dropnet, Keras/TensorFlow and (when given) PyTorch on the seed models, alternately.

Run through bench/compare.sh, which builds dropnet's `train_speed` example and installs the
Python side. Each round runs every system once per setting, in an order that alternates
between rounds, so that a change of machine load hits all of them alike. Ratios are taken
within a round (side by side) and summarised by their median over the rounds.

Epoch times are the medians over the epochs after the first, training steps only, as each
program reports them. Peak memory is the maximum resident set size of the process (os.wait4).
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))


def parse():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--dropnet", help="the train_speed binary")
    p.add_argument("--tf-python", help="python of the TensorFlow venv")
    p.add_argument("--torch-python", default=None, help="python of the PyTorch venv")
    p.add_argument("--data", help="folder with mnist/ and co2/")
    p.add_argument("--rounds", type=at_least(1), default=3)
    p.add_argument("--cnn-epochs", type=at_least(2), default=4)
    p.add_argument("--lstm-epochs", type=at_least(2), default=5)
    p.add_argument("--batches", type=batch_sizes, default="32,128",
                   help="CNN batch sizes, comma separated")
    p.add_argument("--check", action="store_true",
                   help="check the arguments and stop (compare.sh does so before building)")
    return p.parse_args()


def at_least(least):
    """An argparse type: a whole number of at least `least`."""
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}")
        if value < least:
            raise argparse.ArgumentTypeError(f"must be at least {least}, got {value}")
        return value
    return parse


def batch_sizes(text):
    """An argparse type: comma-separated batch sizes, each at least 1."""
    return [at_least(1)(part) for part in text.split(",")]


def run(cmd, env=None):
    """Runs cmd; returns (stdout, peak resident memory in MB). Exits on failure."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env)
        # wait4 gives this child's own peak memory, which Popen.wait does not.
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(), err.read().decode()
    if proc.returncode != 0:
        sys.exit(f"command failed ({proc.returncode}): {' '.join(cmd)}\n{stderr[-2000:]}")
    return stdout, usage.ru_maxrss / 1024.0  # ru_maxrss is in kilobytes on Linux


def dropnet(args, batch, lstm_epochs):
    out, peak = run([args.dropnet, "--batch-size", str(batch), "--cnn-epochs",
                        str(args.cnn_epochs), "--lstm-epochs", str(lstm_epochs),
                        "--data", args.data])
    line = [l for l in out.splitlines() if l.startswith("result:")][-1]
    values = dict(re.findall(r"(\w+)=([0-9.]+)", line))
    return {"cnn": float(values["cnn_epoch_s"]), "lstm": float(values["lstm_epoch_s"]),
            "gflops": float(values["cnn_gflops"]), "peak_mb": peak}


def reference(python, script, task, batch, epochs, data):
    env = dict(os.environ, REFERENCE_DATA=data, TF_CPP_MIN_LOG_LEVEL="2")
    with tempfile.TemporaryDirectory() as tmp:
        out_file = os.path.join(tmp, "result.json")
        _, peak = run([python, os.path.join(HERE, "reference", script), task, "--batch",
                          str(batch), "--epochs", str(epochs), "--out", out_file], env=env)
        with open(out_file) as f:
            result = json.load(f)
    return {"epoch": result["median_epoch_s_2on"], "peak_mb": peak,
            "gflops": result.get("achieved_gflops")}


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def spread(values):
    values = [v for v in values if v is not None]
    return f"{min(values):.2f}–{max(values):.2f}" if values else "-"


def main():
    args = parse()
    if args.check:
        return
    missing = [name for name in ("dropnet", "tf_python", "data") if getattr(args, name) is None]
    if missing:
        sys.exit("compare.py needs " + ", ".join("--" + m.replace("_", "-") for m in missing))
    batches = args.batches
    systems = ["keras"] + (["torch"] if args.torch_python else [])
    scripts = {"keras": (args.tf_python, "keras_seed.py"),
               "torch": (args.torch_python, "torch_seed.py")}
    # times[(model, batch)][system] = list over rounds
    times, peaks, gflops = {}, {}, {}

    def record(key, system, seconds):
        times.setdefault(key, {}).setdefault(system, []).append(seconds)

    for rnd in range(args.rounds):
        order = ["dropnet"] + systems
        if rnd % 2 == 1:
            order.reverse()
        for batch in batches:
            with_lstm = batch == batches[0]
            for system in order:
                print(f"round {rnd + 1}: {system} batch {batch} (load {os.getloadavg()[0]:.2f})",
                      file=sys.stderr, flush=True)
                if system == "dropnet":
                    r = dropnet(args, batch, args.lstm_epochs if with_lstm else 2)
                    record(("cnn", batch), system, r["cnn"])
                    if with_lstm:
                        record(("lstm", batch), system, r["lstm"])
                    gflops.setdefault((system, batch), []).append(r["gflops"])
                    peaks.setdefault((system, batch), []).append(r["peak_mb"])
                    continue
                python, script = scripts[system]
                r = reference(python, script, "cnn", batch, args.cnn_epochs, args.data)
                record(("cnn", batch), system, r["epoch"])
                gflops.setdefault((system, batch), []).append(r["gflops"])
                peaks.setdefault((system, batch), []).append(r["peak_mb"])
                if with_lstm:
                    r = reference(python, script, "lstm", batch, args.lstm_epochs, args.data)
                    record(("lstm", batch), system, r["epoch"])

    print("\nseconds per epoch: median over rounds (range); ratio = dropnet / other, "
          "median of the per-round ratios (range)")
    results = {}
    for (model, batch), per in sorted(times.items()):
        cells = [f"{s} {median(v):.3f} s ({spread(v)})" for s, v in per.items()]
        print(f"{model} batch {batch}: " + ", ".join(cells))
        for other in systems:
            ratios = [d / o for d, o in zip(per["dropnet"], per.get(other, []))]
            if ratios:
                print(f"    dropnet / {other}: {median(ratios):.2f} ({spread(ratios)})")
                results[f"{model}{batch}_vs_{other}"] = median(ratios)
    # Some systems' epoch times fall into groups from one round to the next (Keras's CNN on
    # some machines); the rounds themselves show which group each ratio was taken against.
    print("\nseconds per epoch, round by round")
    for (model, batch), per in sorted(times.items()):
        cells = [f"{s} " + " ".join(f"{x:.3f}" for x in v) for s, v in per.items()]
        print(f"{model} batch {batch}: " + "; ".join(cells))
    print("\npeak resident memory of the CNN run, MB (max over rounds); achieved GFLOP/s (median)")
    for (system, batch), values in sorted(peaks.items()):
        rate = median(gflops.get((system, batch), []))
        rate = f"{rate:.1f}" if rate is not None else "-"
        print(f"{system} batch {batch}: {max(v for v in values if v is not None):.0f} MB, "
              f"{rate} GFLOP/s")
    print("result: " + " ".join(f"{k}={v:.2f}" for k, v in results.items()))


if __name__ == "__main__":
    main()
