//! Evaluation and prediction: forward passes in inference mode over every sample.

use ndarray::{s, Array2, ArrayView2};

use super::chain::{on_pool, part_size, Chain, Ends, Rows, Set, Totals};
use super::check::{check_batch_size, check_inputs, check_set};
use crate::error::{Error, Result};
use crate::history::Evaluation;
use crate::layer::{Layer, Mode};
use crate::loss::Loss;
use crate::network::Network;
use crate::runtime::Runtime;
use crate::shape::{Samples, TargetsRef};

/// Loss and accuracy of `model` on `x` and `y`, in batches of `batch_size`.
pub(crate) fn evaluate<'a, N: Network + ?Sized>(
    model: &mut N,
    x: &'a Samples<N::Input>,
    y: TargetsRef<'a>,
    batch_size: usize,
) -> Result<Evaluation> {
    let ends = Ends::of::<N>();
    let (mut layers, runtime) = model.parts_mut();
    evaluate_layers(
        &mut layers,
        runtime,
        ends,
        Set { x: x.matrix(), y },
        batch_size,
    )
}

/// [`evaluate`] on the model's parts, not generic so that it is compiled once.
fn evaluate_layers(
    layers: &mut [&mut dyn Layer],
    runtime: &mut Runtime,
    ends: Ends,
    set: Set<'_>,
    batch_size: usize,
) -> Result<Evaluation> {
    let (buffers, compiled, _) = runtime.split();
    let loss = &*compiled
        .ok_or(Error::NotCompiled { call: "evaluate" })?
        .loss;
    check_batch_size(batch_size)?;
    check_set("evaluation", set.x, set.y, ends.output, loss)?;

    let rows = batch_size.min(set.x.nrows());
    let mut chain = Chain::new(layers, buffers, rows, Some(loss), ends)?;
    evaluate_set(&mut chain, loss, &set, batch_size)
}

/// Loss and accuracy over all of `set`, consecutive batches of `batch_size`, the last one
/// possibly smaller; each batch weighs by its number of samples. Batches too large for the
/// caches go forward in parts ([`part_size`]), which gives the same outputs.
pub(crate) fn evaluate_set(
    chain: &mut Chain<'_, '_>,
    loss: &dyn Loss,
    set: &Set<'_>,
    batch_size: usize,
) -> Result<Evaluation> {
    let n = set.x.nrows();
    let step = part_size(batch_size.min(n), chain.sample_values()).max(1);
    let totals = on_pool(|| -> Result<Totals> {
        let mut totals = Totals::default();
        for start in (0..n).step_by(step) {
            let end = (start + step).min(n);
            chain.load(set, Rows::Range(start, end), true);
            chain.forward_for_loss(end - start, Mode::Infer);
            totals.add(chain.score(loss, end - start, false)?, end - start);
        }
        Ok(totals)
    })?;
    let accuracy = loss.is_classification().then(|| totals.accuracy());
    Ok(Evaluation {
        loss: totals.mean_loss(),
        accuracy,
    })
}

/// The model's outputs for every sample of `x`, in batches of `batch_size` (in parts when
/// too large for the caches, see [`part_size`]).
pub(crate) fn predict<N: Network + ?Sized>(
    model: &mut N,
    x: &Samples<N::Input>,
    batch_size: usize,
) -> Result<Samples<N::Output>> {
    let ends = Ends::of::<N>();
    let (mut layers, runtime) = model.parts_mut();
    let outputs = predict_layers(&mut layers, runtime, ends, x.matrix(), batch_size)?;
    Samples::from_matrix(outputs)
}

/// [`predict`] on the model's parts, not generic so that it is compiled once; returns the
/// outputs as a `[n, output_len]` matrix.
fn predict_layers(
    layers: &mut [&mut dyn Layer],
    runtime: &mut Runtime,
    ends: Ends,
    x: ArrayView2<'_, f32>,
    batch_size: usize,
) -> Result<Array2<f32>> {
    check_batch_size(batch_size)?;
    check_inputs("prediction", x)?;
    let n = x.nrows();
    let mut result = Array2::zeros((n, ends.output));
    if n == 0 {
        return Ok(result);
    }

    let (buffers, _, _) = runtime.split();
    let rows = batch_size.min(n);
    let mut chain = Chain::new(layers, buffers, rows, None, ends)?;
    let set = Set {
        x,
        y: TargetsRef::Classes(&[]),
    };
    let step = part_size(rows, chain.sample_values());
    on_pool(|| {
        for start in (0..n).step_by(step) {
            let end = (start + step).min(n);
            chain.load(&set, Rows::Range(start, end), false);
            chain.forward(end - start, Mode::Infer, false);
            result
                .slice_mut(s![start..end, ..])
                .assign(&chain.output(end - start));
        }
    });
    Ok(result)
}
