#!/usr/bin/env bash
# Trains the seed CNN and the seed LSTM with dropnet, Keras/TensorFlow and (with --torch)
# PyTorch, alternately in one run on the same data, and prints seconds per epoch, the
# ratios dropnet / other, peak memory and achieved GFLOP/s.
#
#   bench/compare.sh [--torch] [--rounds N] [--cnn-epochs N] [--lstm-epochs N]
#                    [--batches 32,128]
#
# The Python side goes into virtual environments under target/bench-venv (made on the first
# run, reused afterwards): tensorflow-cpu, and with --torch PyTorch (without its CUDA
# libraries where that wheel imports without them, otherwise with them: several GB). This
# is a benchmark: neither the tests nor CI run it. A quiet machine gives the clearest
# figures; PyTorch in particular slows sharply when another process
# takes a core.
set -euo pipefail
cd "$(dirname "$0")/.."

TF_PIN=${TF_PIN:-tensorflow-cpu==2.21.0}
TORCH_PIN=${TORCH_PIN:-torch==2.15.0}
PYTHON=${PYTHON:-python3}
VENVS=target/bench-venv

torch=no
passed=()
while [ $# -gt 0 ]; do
  case "$1" in
    --torch) torch=yes ;;
    --help|-h) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) passed+=("$1") ;;
  esac
  shift
done

# Bad arguments are refused now, not after the build and the installs.
"$PYTHON" bench/compare.py --check "${passed[@]}"

export PIP_DISABLE_PIP_VERSION_CHECK=1
# Marks a finished install, so that an interrupted one is redone rather than trusted.
if [ ! -f "$VENVS/tf/.installed" ]; then
  echo "installing $TF_PIN into $VENVS/tf" >&2
  rm -rf "$VENVS/tf"
  "$PYTHON" -m venv "$VENVS/tf"
  "$VENVS/tf/bin/pip" install -q "$TF_PIN" numpy
  touch "$VENVS/tf/.installed"
fi

torch_args=()
if [ "$torch" = yes ]; then
  if [ ! -f "$VENVS/torch/.installed" ]; then
    echo "installing $TORCH_PIN (CPU use, without CUDA wheels) into $VENVS/torch" >&2
    rm -rf "$VENVS/torch"
    "$PYTHON" -m venv "$VENVS/torch"
    # The nvidia-* dependencies of the wheel on the package index are several gigabytes
    # and unused on a CPU; try without them first. Some builds refuse to import without
    # the CUDA libraries, and then the full install is the only way.
    "$VENVS/torch/bin/pip" install -q numpy filelock typing-extensions sympy mpmath \
      networkx jinja2 markupsafe fsspec setuptools
    "$VENVS/torch/bin/pip" install -q --no-deps "$TORCH_PIN"
    if ! "$VENVS/torch/bin/python" -c 'import torch' 2>/dev/null; then
      echo "this torch needs its CUDA libraries to import; installing them (several GB)" >&2
      "$VENVS/torch/bin/pip" install -q "$TORCH_PIN"
    fi
    "$VENVS/torch/bin/python" -c 'import torch; torch.randn(2, 2) @ torch.randn(2, 2)'
    touch "$VENVS/torch/.installed"
  fi
  torch_args=(--torch-python "$VENVS/torch/bin/python")
fi

cargo build --release --example train_speed
"$VENVS/tf/bin/python" -c \
  'import tensorflow as tf, keras; print("tensorflow", tf.__version__, "keras", keras.__version__)'
[ "$torch" = yes ] && "$VENVS/torch/bin/python" -c 'import torch; print("torch", torch.__version__)'

"$VENVS/tf/bin/python" bench/compare.py \
  --dropnet target/release/examples/train_speed \
  --tf-python "$VENVS/tf/bin/python" \
  "${torch_args[@]}" \
  --data data \
  "${passed[@]}"
