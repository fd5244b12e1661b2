"""Data loading shared by keras_seed.py and torch_seed.py (numpy only).

MNIST: official IDX layout, 8000 train / 2000 test, pixels / 255 -> float32.
CO2:   weekly Mauna Loa series; the 59 empty co2 fields are filled by linear
       interpolation in time (date -> day number); then a chronological 80/20
       split of the *series*, mean/std from the training part only, windows of
       52 weeks -> next week.  Validation windows may start inside the training
       part (their inputs), but every validation *target* lies after the split.
"""
import csv
import datetime as _dt
import gzip
import os
import struct

import numpy as np

DATA = os.environ.get("REFERENCE_DATA", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "data"))
WINDOW = 52


def _read_idx(path):
    with gzip.open(path, "rb") as f:
        raw = f.read()
    magic = struct.unpack(">I", raw[:4])[0]
    ndim = magic & 0xFF
    dims = struct.unpack(">" + "I" * ndim, raw[4:4 + 4 * ndim])
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load_mnist():
    """Returns (x_train, y_train, x_test, y_test); x float32 in [0,1], shape (N,28,28); y int64."""
    d = os.path.join(DATA, "mnist")
    xtr = _read_idx(os.path.join(d, "train-images-idx3-ubyte.gz")).astype(np.float32) / 255.0
    ytr = _read_idx(os.path.join(d, "train-labels-idx1-ubyte.gz")).astype(np.int64)
    xte = _read_idx(os.path.join(d, "t10k-images-idx3-ubyte.gz")).astype(np.float32) / 255.0
    yte = _read_idx(os.path.join(d, "t10k-labels-idx1-ubyte.gz")).astype(np.int64)
    assert xtr.shape == (8000, 28, 28) and xte.shape == (2000, 28, 28)
    return xtr, ytr, xte, yte


def load_co2_series():
    """Returns (dates as day numbers, co2 values with gaps linearly interpolated, n_gaps)."""
    days, vals = [], []
    with open(os.path.join(DATA, "co2", "co2.csv"), newline="") as f:
        for row in csv.DictReader(f):
            d = _dt.datetime.strptime(row["date"], "%Y%m%d").date().toordinal()
            days.append(d)
            vals.append(float(row["co2"]) if row["co2"].strip() else np.nan)
    days = np.asarray(days, dtype=np.float64)
    vals = np.asarray(vals, dtype=np.float64)
    gap = np.isnan(vals)
    # no leading/trailing gaps in this file; np.interp would hold the edge value otherwise
    vals[gap] = np.interp(days[gap], days[~gap], vals[~gap])
    return days, vals, int(gap.sum())


def co2_windows(window=WINDOW, train_frac=0.8):
    """Standardized windows.  Returns dict with x_train (N,window,1), y_train (N,1),
    x_val, y_val (float32, standardized), mean, std (ppmv), split index, counts."""
    _, s, n_gaps = load_co2_series()
    split = int(len(s) * train_frac)
    mean = s[:split].mean()
    std = s[:split].std()
    z = (s - mean) / std

    def win(lo, hi):  # targets at indices lo..hi-1, inputs the previous `window`
        idx = np.arange(lo, hi)
        x = np.stack([z[i - window:i] for i in idx])[..., None]
        y = z[idx][:, None]
        return x.astype(np.float32), y.astype(np.float32)

    x_tr, y_tr = win(window, split)
    x_va, y_va = win(split, len(z))
    return dict(x_train=x_tr, y_train=y_tr, x_val=x_va, y_val=y_va, mean=float(mean),
                std=float(std), split=split, n=len(s), n_gaps=n_gaps)


def naive_last_value_rmse(d):
    """RMSE (ppmv) of predicting the next week by the window's last value, on the val windows."""
    pred = d["x_val"][:, -1, 0].astype(np.float64)
    err = (pred - d["y_val"][:, 0]) * d["std"]
    return float(np.sqrt(np.mean(err ** 2)))


def threads_now():
    """OS threads of this process right now (from /proc/self/status)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Threads:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def cnn_flops(batch=1):
    """MACs of Example 1 CNN forward per image, and training FLOPs (fwd + bwd)."""
    conv1 = 26 * 26 * 32 * (3 * 3 * 1)
    conv2 = 11 * 11 * 64 * (3 * 3 * 32)
    dense = 5 * 5 * 64 * 10
    fwd = conv1 + conv2 + dense
    # backward: grad wrt weights for every layer (= fwd MACs) + grad wrt inputs
    # for every layer except the first (its input needs no gradient)
    train = fwd + fwd + (fwd - conv1)
    return dict(conv1_macs=conv1, conv2_macs=conv2, dense_macs=dense, fwd_macs=fwd,
                fwd_flops=2 * fwd * batch, train_flops=2 * train * batch,
                train_flops_3x=3 * 2 * fwd * batch)


if __name__ == "__main__":
    xtr, ytr, xte, yte = load_mnist()
    print("mnist", xtr.shape, ytr.shape, xte.shape, yte.shape, xtr.dtype, float(xtr.max()),
          np.bincount(ytr).tolist())
    d = co2_windows()
    print("co2 n=%d gaps=%d split=%d mean=%.4f std=%.4f" % (d["n"], d["n_gaps"], d["split"], d["mean"], d["std"]),
          "train", d["x_train"].shape, "val", d["x_val"].shape,
          "naive RMSE %.4f ppmv" % naive_last_value_rmse(d))
    f = cnn_flops()
    print("cnn", f, "epoch(8000) train GFLOP %.2f" % (f["train_flops"] * 8000 / 1e9))


# ---------------------------------------------------------------- contention accounting
_HZ = os.sysconf("SC_CLK_TCK")


def cpu_snapshot():
    """(wall time, machine busy CPU-seconds, this process's CPU-seconds (all threads))."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    busy = sum(v[:8]) - v[3] - v[4]
    with open("/proc/self/stat") as f:
        s = f.read().rsplit(")", 1)[1].split()
    own = int(s[11]) + int(s[12])  # utime, stime
    import time as _t
    return _t.perf_counter(), busy / _HZ, own / _HZ


def others_cores(a, b):
    """Average number of cores used by *other* processes between two snapshots."""
    dt = max(1e-9, b[0] - a[0])
    return max(0.0, ((b[1] - a[1]) - (b[2] - a[2])) / dt)


CLEAN = 0.15  # an epoch is 'clean' if other processes used < 0.15 cores on average during it


def clean_median(times, others, skip_first=True):
    """Median epoch time over epochs 2..N that were clean; (median or None, n_clean)."""
    import statistics
    pairs = list(zip(times, others))[1 if skip_first else 0:]
    c = [t for t, o in pairs if o < CLEAN]
    return (statistics.median(c) if c else None), len(c)
