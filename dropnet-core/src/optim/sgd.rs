//! Stochastic gradient descent with optional (Nesterov) momentum, as Keras computes it.

use ndarray::{ArrayD, Zip};

use super::{check_learning_rate, check_unit, slot_state, store_state, stored_state, Optimizer};
use crate::error::Result;
use crate::layer::Param;

/// Gradient descent with momentum, Keras's `SGD`.
///
/// For each variable `w` with gradient `g` and velocity `vel` (starting at zero):
///
/// ```text
/// vel = momentum · vel − lr · g
/// w  += vel                          (plain momentum)
/// w  += momentum · vel − lr · g      (nesterov)
/// ```
///
/// With `momentum = 0` this is `w −= lr · g`. Defaults match `keras.optimizers.SGD()`:
/// `lr = 0.01`, no momentum.
///
/// ```
/// use dropnet_core::optim::Sgd;
/// let sgd = Sgd::new(0.1).momentum(0.9).nesterov(true);
/// ```
#[derive(Debug, Clone)]
pub struct Sgd {
    learning_rate: f32,
    momentum: f32,
    nesterov: bool,
    velocity: Vec<ArrayD<f32>>,
    iterations: u64,
}

impl Default for Sgd {
    fn default() -> Self {
        Self::new(0.01)
    }
}

impl Sgd {
    /// Plain gradient descent with learning rate `learning_rate`.
    pub fn new(learning_rate: f32) -> Self {
        Self {
            learning_rate,
            momentum: 0.0,
            nesterov: false,
            velocity: vec![],
            iterations: 0,
        }
    }

    /// Sets the momentum, in `[0, 1)` (default 0).
    pub fn momentum(mut self, momentum: f32) -> Self {
        self.momentum = momentum;
        self
    }

    /// Uses Nesterov momentum (default false).
    pub fn nesterov(mut self, nesterov: bool) -> Self {
        self.nesterov = nesterov;
        self
    }
}

impl Optimizer for Sgd {
    fn name(&self) -> &'static str {
        "SGD"
    }

    fn learning_rate(&self) -> f32 {
        self.learning_rate
    }

    fn set_learning_rate(&mut self, learning_rate: f32) {
        self.learning_rate = learning_rate;
    }

    fn validate(&self) -> Result<()> {
        check_learning_rate(self.learning_rate)?;
        check_unit("momentum", self.momentum)
    }

    fn begin_step(&mut self) {
        self.iterations += 1;
    }

    fn update(&mut self, slot: usize, param: &mut Param) {
        let (lr, momentum) = (self.learning_rate, self.momentum);
        if momentum == 0.0 {
            Zip::from(&mut param.value)
                .and(&param.grad)
                .for_each(|w, &g| *w -= lr * g);
            return;
        }

        let velocity = slot_state(&mut self.velocity, slot, param);
        let nesterov = self.nesterov;
        Zip::from(&mut param.value)
            .and(&param.grad)
            .and(velocity)
            .for_each(|w, &g, vel| {
                *vel = momentum * *vel - lr * g;
                *w += if nesterov {
                    momentum * *vel - lr * g
                } else {
                    *vel
                };
            });
    }

    /// `velocity` with momentum; none without, as plain descent keeps no state.
    fn state_names(&self) -> Vec<&'static str> {
        if self.momentum == 0.0 {
            Vec::new()
        } else {
            vec!["velocity"]
        }
    }

    fn state(&self, name: &str, slot: usize) -> Option<&ArrayD<f32>> {
        (name == "velocity")
            .then(|| stored_state(&self.velocity, slot))
            .flatten()
    }

    fn set_state(&mut self, name: &str, slot: usize, value: ArrayD<f32>) {
        if name == "velocity" {
            store_state(&mut self.velocity, slot, value);
        }
    }

    fn iterations(&self) -> u64 {
        self.iterations
    }

    fn set_iterations(&mut self, iterations: u64) {
        self.iterations = iterations;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::arr1;

    fn steps(sgd: &mut Sgd, grads: &[f32]) -> f32 {
        let mut p = Param::new("kernel", arr1(&[1.0_f32]).into_dyn());
        for &g in grads {
            p.grad = arr1(&[g]).into_dyn();
            sgd.begin_step();
            sgd.update(0, &mut p);
        }
        p.value[[0]]
    }

    #[test]
    fn plain_step() {
        // 1 − 0.1 · 2 = 0.8
        assert_eq!(steps(&mut Sgd::new(0.1), &[2.0]), 0.8);
    }

    #[test]
    fn momentum_matches_hand_computation() {
        // vel = −0.1 · 2 = −0.2, w = 0.8; vel = 0.5 · −0.2 − 0.1 · 1 = −0.2, w = 0.6.
        let w = steps(&mut Sgd::new(0.1).momentum(0.5), &[2.0, 1.0]);
        assert!((w - 0.6).abs() < 1e-7, "{w}");
    }

    #[test]
    fn nesterov_matches_hand_computation() {
        // Step 1: vel = −0.2, w = 1 + 0.5 · −0.2 − 0.2 = 0.7.
        // Step 2: vel = −0.1 − 0.1 = −0.2, w = 0.7 + 0.5 · −0.2 − 0.1 = 0.5.
        let w = steps(&mut Sgd::new(0.1).momentum(0.5).nesterov(true), &[2.0, 1.0]);
        assert!((w - 0.5).abs() < 1e-7, "{w}");
    }

    #[test]
    fn invalid_momentum_is_rejected() {
        assert!(Sgd::new(0.1).momentum(1.0).validate().is_err());
        assert!(Sgd::new(-0.1).validate().is_err());
        assert!(Sgd::default().momentum(0.9).validate().is_ok());
    }
}
