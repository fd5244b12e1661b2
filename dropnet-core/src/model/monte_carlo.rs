//! Monte Carlo dropout: many forward passes with dropout active, summarised per output.
//!
//! Averaging the outputs of passes that each drop a different random subset of units
//! approximates the predictive distribution of a Bayesian network (Gal and Ghahramani,
//! 2016); the spread between passes is an uncertainty estimate that needs no retraining.

use ndarray::{s, Array2, ArrayView2, Zip};

use super::chain::{Chain, Ends, Rows, Set};
use super::check::{check_batch_size, check_inputs};
use crate::error::{Error, Result};
use crate::layer::{Layer, Mode};
use crate::network::Network;
use crate::runtime::Runtime;
use crate::shape::{Samples, Shape, TargetsRef};

/// The summary of a Monte Carlo prediction: per sample and output, the mean and the
/// standard deviation over the sampled passes.
#[derive(Debug, Clone)]
pub struct McPrediction<S: Shape> {
    /// Mean output over the passes (mean probabilities after a softmax).
    pub mean: Samples<S>,
    /// Standard deviation of each output over the passes, dividing by the number of
    /// passes (not by one less), so one pass gives 0.
    pub std: Samples<S>,
    /// Number of passes summarised.
    pub samples: usize,
}

/// Runs `samples` Monte Carlo passes of `model` over `x` in batches of `batch_size`, after
/// restarting every layer's Monte Carlo stream from `seed`.
///
/// Each batch is loaded once and passed through the model `samples` times. The sums are
/// kept in `f64`, where the mean square minus the squared mean of `f32` outputs keeps far
/// more digits than the outputs have.
pub(crate) fn predict_mc<N: Network + ?Sized>(
    model: &mut N,
    x: &Samples<N::Input>,
    samples: usize,
    seed: u64,
    batch_size: usize,
) -> Result<McPrediction<N::Output>> {
    let ends = Ends::of::<N>();
    let (mut layers, runtime) = model.parts_mut();
    let passes = Passes {
        samples,
        seed,
        batch_size,
    };
    let (mean, std) = predict_mc_layers(&mut layers, runtime, ends, x.matrix(), passes)?;
    Ok(McPrediction {
        mean: Samples::from_matrix(mean)?,
        std: Samples::from_matrix(std)?,
        samples,
    })
}

/// How [`predict_mc`] samples: `samples` passes over batches of `batch_size`, the Monte
/// Carlo streams restarted from `seed`.
#[derive(Debug, Clone, Copy)]
struct Passes {
    samples: usize,
    seed: u64,
    batch_size: usize,
}

/// [`predict_mc`] on the model's parts, not generic so that it is compiled once; returns
/// the mean and the standard deviation as `[n, output_len]` matrices.
fn predict_mc_layers(
    layers: &mut [&mut dyn Layer],
    runtime: &mut Runtime,
    ends: Ends,
    x: ArrayView2<'_, f32>,
    passes: Passes,
) -> Result<(Array2<f32>, Array2<f32>)> {
    let Passes {
        samples,
        seed,
        batch_size,
    } = passes;
    check_settings(layers, samples, batch_size)?;
    check_inputs("prediction", x)?;

    for layer in layers.iter_mut() {
        layer.reseed_monte_carlo(seed);
    }
    let n = x.nrows();
    // Running sums of the outputs and of their squares, `[n, output_len]`.
    let mut sum = Array2::<f64>::zeros((n, ends.output));
    let mut sum_sq = Array2::<f64>::zeros((n, ends.output));
    if n > 0 {
        let (buffers, _, _) = runtime.split();
        let rows = batch_size.min(n);
        let mut chain = Chain::new(layers, buffers, rows, None, ends)?;
        let set = Set {
            x,
            y: TargetsRef::Classes(&[]),
        };
        for start in (0..n).step_by(batch_size) {
            let end = (start + batch_size).min(n);
            chain.load(&set, Rows::Range(start, end), false);
            for _ in 0..samples {
                chain.forward(end - start, Mode::MonteCarlo, false);
                Zip::from(sum.slice_mut(s![start..end, ..]))
                    .and(sum_sq.slice_mut(s![start..end, ..]))
                    .and(&chain.output(end - start))
                    .for_each(|total, squares, &y| {
                        *total += f64::from(y);
                        *squares += f64::from(y) * f64::from(y);
                    });
            }
        }
    }
    Ok(summarise(sum, sum_sq, samples))
}

/// Fails when `samples` or `batch_size` is 0, or when none of `layers` is stochastic.
fn check_settings(layers: &[&mut dyn Layer], samples: usize, batch_size: usize) -> Result<()> {
    if samples == 0 {
        let reason = "Monte Carlo prediction needs at least 1 pass, got 0";
        return Err(Error::config("samples", reason));
    }
    check_batch_size(batch_size)?;
    if !layers.iter().any(|layer| layer.is_stochastic()) {
        return Err(Error::NoDropout);
    }
    Ok(())
}

/// Mean and standard deviation from the sums of `samples` passes.
fn summarise(sum: Array2<f64>, sum_sq: Array2<f64>, samples: usize) -> (Array2<f32>, Array2<f32>) {
    let count = samples as f64;
    let mean = sum.mapv(|total| total / count);
    // Rounding can make the variance a tiny negative number when every pass agrees.
    let std = Zip::from(&sum_sq)
        .and(&mean)
        .map_collect(|&squares, &m| (squares / count - m * m).max(0.0).sqrt() as f32);
    (mean.mapv(|m| m as f32), std)
}

#[cfg(test)]
mod tests {
    use super::super::testing::{bars, TinyCnn};
    use crate::callback::Verbosity;
    use crate::error::Error;
    use crate::history::History;
    use crate::loss::SparseCategoricalCrossentropy;
    use crate::model::Model;
    use crate::optim::Adam;
    use crate::shape::{Image, Samples};

    /// A compiled TinyCnn, with a dropout layer of `rate` when given.
    fn model(rate: Option<f32>) -> TinyCnn {
        let mut model = TinyCnn::new(4, rate);
        model.compile(Adam::new(0.01), SparseCategoricalCrossentropy);
        model
    }

    fn train(model: &mut TinyCnn) -> History {
        let (x, y) = bars(24, 1);
        let fit = model.fit(&x, &y).epochs(2).batch_size(8);
        fit.verbose(Verbosity::Silent).run().unwrap()
    }

    #[test]
    fn repeats_by_seed_and_spreads_with_dropout() {
        // 40 samples: a full batch of 32 and a partial one.
        let (x, _) = bars(40, 3);
        let mut model = model(Some(0.5));

        let first = model.predict_mc(&x, 6).unwrap();
        let second = model.predict_mc(&x, 6).unwrap();
        let other = model.predict_mc_with_seed(&x, 6, 99).unwrap();
        let single = model.predict_mc(&x, 1).unwrap();

        assert_eq!(first.mean.matrix(), second.mean.matrix());
        assert_eq!(first.std.matrix(), second.std.matrix());
        assert_ne!(first.mean.matrix(), other.mean.matrix());
        assert_eq!(
            (first.mean.len(), first.std.len(), first.samples),
            (40, 40, 6)
        );
        let stds = first.std.matrix();
        assert!(stds.iter().all(|&s| s >= 0.0) && stds.iter().any(|&s| s > 1e-3));
        assert!(stds.slice(ndarray::s![32.., ..]).iter().any(|&s| s > 1e-3));
        assert!(single.std.matrix().iter().all(|&s| s == 0.0));
        // Probabilities average to probabilities.
        for row in first.mean.matrix().rows() {
            assert!((row.sum() - 1.0).abs() < 1e-5, "{row}");
        }
    }

    #[test]
    fn leaves_weights_and_a_following_fit_unchanged() {
        let (x, _) = bars(10, 3);
        let mut sampled = model(Some(0.5));
        let mut untouched = model(Some(0.5));
        let before = sampled.weights();

        sampled.predict_mc(&x, 5).unwrap();
        assert_eq!(sampled.weights(), before);

        let (history, expected) = (train(&mut sampled), train(&mut untouched));
        assert_eq!(history, expected);
        assert_eq!(sampled.weights(), untouched.weights());
        let (a, b) = (sampled.predict(&x).unwrap(), untouched.predict(&x).unwrap());
        assert_eq!(a.matrix(), b.matrix());
    }

    #[test]
    fn refuses_models_without_dropout_zero_samples_and_non_finite_inputs() {
        let (x, _) = bars(4, 3);
        for rate in [None, Some(0.0)] {
            let error = model(rate).predict_mc(&x, 5).unwrap_err();
            assert!(matches!(error, Error::NoDropout), "{error}");
        }

        let error = model(Some(0.5)).predict_mc(&x, 0).unwrap_err();
        assert!(
            matches!(
                error,
                Error::InvalidConfig {
                    name: "samples",
                    ..
                }
            ),
            "{error}"
        );

        let mut values = x.matrix().iter().copied().collect::<Vec<_>>();
        values[40] = f32::NAN;
        let bad = Samples::<Image<6, 6, 1>>::from_vec(4, values).unwrap();
        let error = model(Some(0.5)).predict_mc(&bad, 3).unwrap_err();
        assert!(
            matches!(
                error,
                Error::NonFiniteInput {
                    set: "prediction",
                    index: 1,
                    ..
                }
            ),
            "{error}"
        );
    }
}
