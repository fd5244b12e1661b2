#!/usr/bin/env bash
# Measures what a model costs to build: a crate that declares and trains one seed CNN (and
# one seed LSTM), then the same crate with N more models of shapes not seen before, each
# built again after the dependencies are compiled. The difference, divided by N, is the
# build time one new model adds to its crate.
#
#   bench/build_cost.sh [--models N] [--profile release|dev] [--repeats R]
#
# The crates go under target/build-cost and use this checkout through a path dependency.
# Only the user crate is rebuilt between timings (dropnet itself is compiled once), and
# each timing is the median of R rebuilds after touching main.rs. Builds share the machine
# with whatever else runs: run it on a quiet machine and compare the two lines of one run.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

models=10
profile=release
repeats=3
while [ $# -gt 0 ]; do
  case "$1" in
    --models|--profile|--repeats)
      if [ $# -lt 2 ]; then echo "$1 needs a value (see --help)" >&2; exit 2; fi ;;
  esac
  case "$1" in
    --models) models=$2; shift ;;
    --profile) profile=$2; shift ;;
    --repeats) repeats=$2; shift ;;
    --help|-h) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
for flag in models repeats; do
  value=${!flag}
  case "$value" in
    ''|*[!0-9]*|0*) echo "--$flag takes a positive whole number, got '$value'" >&2; exit 2 ;;
  esac
done
case "$profile" in
  release) flag=--release ;;
  dev) flag= ;;
  *) echo "--profile must be release or dev, got $profile" >&2; exit 2 ;;
esac

work=$root/target/build-cost
# Incremental builds (on by default in dev) would reuse the last build of an unchanged file
# and time nothing; each timed build compiles the crate in full.
export CARGO_INCREMENTAL=0
mkdir -p "$work"

# One crate: the seed CNN and LSTM, plus `extra` CNNs whose filter counts differ from the
# seed's and from each other, so that no layer type repeats and each is compiled anew.
make_crate() {
  local dir=$1 extra=$2
  mkdir -p "$dir/src"
  cat > "$dir/Cargo.toml" <<EOF
[package]
name = "build-cost-$extra"
version = "0.0.0"
edition = "2021"
publish = false

[dependencies]
dropnet = { path = "$root" }

[workspace]

[profile.dev.package."*"]
opt-level = 3

[profile.release]
debug = 1
EOF
  {
    echo 'use dropnet::core::prelude::*;'
    echo
    echo 'dropnet::model! {'
    echo '    SeedCnn(28, 28, 1) {'
    echo '        conv2d(32, 3) relu; maxpool(2); dropout(0.25);'
    echo '        conv2d(64, 3) relu; maxpool(2); dropout(0.25);'
    echo '        flatten; dense(10) softmax;'
    echo '    }'
    echo '}'
    echo
    echo 'dropnet::model! {'
    echo '    SeedLstm(52, 1) {'
    echo '        lstm(64, return_sequences = true); dropout(0.3);'
    echo '        lstm(32); dropout(0.3); dense(1);'
    echo '    }'
    echo '}'
    for i in $(seq 1 "$extra"); do
      echo
      echo 'dropnet::model! {'
      echo "    Cnn$i(28, 28, 1) {"
      echo "        conv2d($((32 + i)), 3) relu; maxpool(2); dropout(0.25);"
      echo "        conv2d($((64 + i)), 3) relu; maxpool(2); dropout(0.25);"
      echo "        flatten; dense($((10 + i))) softmax;"
      echo '    }'
      echo '}'
    done
    echo
    echo '/// Trains a model for one epoch on 8 random samples, so that all of its code is built.'
    echo 'macro_rules! exercise {'
    echo '    ($model:ty, $len:expr, $loss:expr) => {{'
    echo '        let mut model = <$model>::new(1);'
    echo '        println!("{}", model.summary());'
    echo '        model.compile(Adam::default(), $loss);'
    echo '        let x = Samples::from_vec(8, vec![0.5; 8 * $len])?;'
    echo '        Ok::<_, Error>((model, x))'
    echo '    }};'
    echo '}'
    echo
    echo 'fn main() -> Result<()> {'
    echo '    let labels = Labels::new(vec![0; 8]);'
    echo '    let (mut m, x) = exercise!(SeedCnn, 784, SparseCategoricalCrossentropy)?;'
    echo '    m.fit(&x, &labels).epochs(1).verbose(Verbosity::Silent).run()?;'
    echo '    m.evaluate(&x, &labels)?;'
    echo '    m.predict(&x)?;'
    echo '    let (mut m, x) = exercise!(SeedLstm, 52, MeanSquaredError)?;'
    echo '    let y = Samples::from_vec(8, vec![0.5; 8])?;'
    echo '    m.fit(&x, &y).epochs(1).verbose(Verbosity::Silent).run()?;'
    echo '    m.evaluate(&x, &y)?;'
    echo '    m.predict(&x)?;'
    for i in $(seq 1 "$extra"); do
      echo "    let (mut m, x) = exercise!(Cnn$i, 784, SparseCategoricalCrossentropy)?;"
      echo '    m.fit(&x, &labels).epochs(1).verbose(Verbosity::Silent).run()?;'
      echo '    m.evaluate(&x, &labels)?;'
      echo '    m.predict(&x)?;'
    done
    echo '    Ok(())'
    echo '}'
  } > "$dir/src/main.rs"
}

# Median seconds of `repeats` rebuilds of the crate in $1 (its dependencies built first).
time_crate() {
  local dir=$1
  (cd "$dir" && CARGO_TARGET_DIR=$work/target cargo build -q $flag)
  local times=()
  for _ in $(seq 1 "$repeats"); do
    touch "$dir/src/main.rs"
    local start end
    start=$(date +%s.%N)
    (cd "$dir" && CARGO_TARGET_DIR=$work/target cargo build -q $flag)
    end=$(date +%s.%N)
    times+=("$(awk -v a="$start" -v b="$end" 'BEGIN { print b - a }')")
  done
  printf '%s\n' "${times[@]}" | sort -g | sed -n "$(( (repeats + 1) / 2 ))p"
}

make_crate "$work/base" 0
make_crate "$work/more" "$models"
# Each binary runs once, so that what is timed is known to work.
base=$(time_crate "$work/base")
(cd "$work/base" && CARGO_TARGET_DIR=$work/target cargo run -q $flag > /dev/null)
more=$(time_crate "$work/more")
(cd "$work/more" && CARGO_TARGET_DIR=$work/target cargo run -q $flag > /dev/null)
per_model=$(awk -v a="$base" -v b="$more" -v n="$models" 'BEGIN { print (b - a) / n }')

printf 'seed CNN + LSTM crate: %.2f s (%s build, median of %d)\n' "$base" "$profile" "$repeats"
printf 'with %d more CNNs of new shapes: %.2f s\n' "$models" "$more"
printf 'result: profile=%s base_s=%.2f per_model_s=%.3f\n' "$profile" "$base" "$per_model"
