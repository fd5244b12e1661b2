//! Adam with Keras's defaults and Keras's form of the bias correction.

use ndarray::{ArrayD, Zip};

use super::{check_learning_rate, check_unit, slot_state, store_state, stored_state, Optimizer};
use crate::error::{Error, Result};
use crate::layer::Param;

/// Adam ([Kingma & Ba, 2014](https://arxiv.org/abs/1412.6980)), as Keras 3 computes it.
///
/// At step `t` (counted from 1), for each variable `w` with gradient `g`:
///
/// ```text
/// m += (g − m)(1 − beta1)
/// v += (g² − v)(1 − beta2)
/// w −= lr · sqrt(1 − beta2^t) / (1 − beta1^t) · m / (sqrt(v) + eps)
/// ```
///
/// Defaults match `keras.optimizers.Adam()`: `lr = 1e-3`, `beta1 = 0.9`, `beta2 = 0.999`,
/// `eps = 1e-7`.
///
/// ```
/// use dropnet_core::optim::Adam;
/// let adam = Adam::new(3e-4).beta1(0.8);
/// assert_eq!(adam.eps_value(), 1e-7);
/// ```
#[derive(Debug, Clone)]
pub struct Adam {
    learning_rate: f32,
    beta1: f32,
    beta2: f32,
    eps: f32,
    t: u64,
    m: Vec<ArrayD<f32>>,
    v: Vec<ArrayD<f32>>,
}

impl Default for Adam {
    fn default() -> Self {
        Self::new(1e-3)
    }
}

impl Adam {
    /// Adam with learning rate `learning_rate` and Keras's other defaults.
    pub fn new(learning_rate: f32) -> Self {
        Self {
            learning_rate,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-7,
            t: 0,
            m: vec![],
            v: vec![],
        }
    }

    /// Sets the decay of the first moment (default 0.9).
    pub fn beta1(mut self, beta1: f32) -> Self {
        self.beta1 = beta1;
        self
    }

    /// Sets the decay of the second moment (default 0.999).
    pub fn beta2(mut self, beta2: f32) -> Self {
        self.beta2 = beta2;
        self
    }

    /// Sets the term added to `sqrt(v)` (default 1e-7, Keras's `epsilon`).
    pub fn eps(mut self, eps: f32) -> Self {
        self.eps = eps;
        self
    }

    /// The term added to `sqrt(v)`.
    pub fn eps_value(&self) -> f32 {
        self.eps
    }

    /// Number of steps taken so far.
    pub fn steps(&self) -> u64 {
        self.t
    }
}

impl Optimizer for Adam {
    fn name(&self) -> &'static str {
        "Adam"
    }

    fn learning_rate(&self) -> f32 {
        self.learning_rate
    }

    fn set_learning_rate(&mut self, learning_rate: f32) {
        self.learning_rate = learning_rate;
    }

    fn validate(&self) -> Result<()> {
        check_learning_rate(self.learning_rate)?;
        check_unit("beta1", self.beta1)?;
        check_unit("beta2", self.beta2)?;
        if !(self.eps.is_finite() && self.eps > 0.0) {
            return Err(Error::config(
                "eps",
                format!("must be finite and positive, got {}", self.eps),
            ));
        }
        Ok(())
    }

    fn begin_step(&mut self) {
        self.t += 1;
    }

    fn update(&mut self, slot: usize, param: &mut Param) {
        // Keras folds both bias corrections into the step size instead of correcting m and v.
        let t = self.t.max(1) as i32;
        let (beta1, beta2) = (f64::from(self.beta1), f64::from(self.beta2));
        let alpha =
            f64::from(self.learning_rate) * (1.0 - beta2.powi(t)).sqrt() / (1.0 - beta1.powi(t));
        let alpha = alpha as f32;
        let (keep1, keep2, eps) = (1.0 - self.beta1, 1.0 - self.beta2, self.eps);

        let m = slot_state(&mut self.m, slot, param);
        let v = slot_state(&mut self.v, slot, param);
        Zip::from(&mut param.value)
            .and(&param.grad)
            .and(m)
            .and(v)
            .for_each(|w, &g, m, v| {
                *m += (g - *m) * keep1;
                *v += (g * g - *v) * keep2;
                *w -= (*m * alpha) / (v.sqrt() + eps);
            });
    }

    fn state_names(&self) -> Vec<&'static str> {
        vec!["m", "v"]
    }

    fn state(&self, name: &str, slot: usize) -> Option<&ArrayD<f32>> {
        match name {
            "m" => stored_state(&self.m, slot),
            "v" => stored_state(&self.v, slot),
            _ => None,
        }
    }

    fn set_state(&mut self, name: &str, slot: usize, value: ArrayD<f32>) {
        match name {
            "m" => store_state(&mut self.m, slot, value),
            "v" => store_state(&mut self.v, slot, value),
            _ => {}
        }
    }

    fn iterations(&self) -> u64 {
        self.t
    }

    fn set_iterations(&mut self, iterations: u64) {
        self.t = iterations;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{arr1, ArrayD};

    fn param(value: &[f32], grad: &[f32]) -> Param {
        let mut p = Param::new("kernel", arr1(value).into_dyn());
        p.grad = arr1(grad).into_dyn();
        p
    }

    #[test]
    fn first_step_moves_each_weight_by_about_the_learning_rate() {
        let mut adam = Adam::default();
        let mut p = param(&[1.0, -2.0, 0.5], &[0.5, -0.1, 0.0]);

        adam.begin_step();
        adam.update(0, &mut p);

        // Step 1: m = 0.1 g, v = 0.001 g², alpha = 1e-3 · sqrt(0.001) / 0.1, so the step is
        // 1e-3 · g / (|g| + 1e-7 / sqrt(0.001)) ≈ 1e-3 · sign(g); zero gradient, no move.
        let expected = |w: f32, g: f32| {
            let (m, v) = (0.1 * g, 0.001 * g * g);
            let alpha = 1e-3 * 0.001_f32.sqrt() / 0.1;
            w - m * alpha / (v.sqrt() + 1e-7)
        };
        let got = p.value.as_slice().unwrap();
        assert!((got[0] - expected(1.0, 0.5)).abs() < 1e-7, "{got:?}");
        assert!((got[0] - 0.999).abs() < 1e-6);
        assert!((got[1] - (-1.999)).abs() < 1e-6);
        assert_eq!(got[2], 0.5);
    }

    #[test]
    fn second_step_matches_hand_computation() {
        let mut adam = Adam::new(0.01).beta1(0.5).beta2(0.75).eps(0.1);
        let mut p = param(&[1.0], &[2.0]);

        adam.begin_step();
        adam.update(0, &mut p);
        p.grad = arr1(&[-1.0_f32]).into_dyn();
        adam.begin_step();
        adam.update(0, &mut p);

        // Step 1: m = 1, v = 1, alpha = 0.01 · sqrt(0.25) / 0.5 = 0.01,
        //         w = 1 − 0.01 · 1 / (1 + 0.1) = 0.990909…
        // Step 2: m = 1 + (−1 − 1) · 0.5 = 0, v = 1 + (1 − 1) · 0.25 = 1, so w stays.
        let w1 = 1.0 - 0.01 / 1.1;
        assert!((p.value[[0]] - w1).abs() < 1e-7, "{}", p.value);
        assert_eq!(adam.steps(), 2);

        let mut q = param(&[0.0], &[1.0]);
        let mut adam = Adam::new(0.01).beta1(0.5).beta2(0.75).eps(0.1);
        for _ in 0..2 {
            adam.begin_step();
            adam.update(0, &mut q);
        }
        // g = 1 both times. Step 1: m = 0.5, v = 0.25, alpha = 0.01,
        //         w = −0.01 · 0.5 / (0.5 + 0.1).
        // Step 2: m = 0.75, v = 0.4375, alpha = 0.01 · sqrt(1 − 0.5625) / (1 − 0.25).
        let w1 = -0.01 * 0.5 / 0.6;
        let alpha2 = 0.01 * 0.4375_f32.sqrt() / 0.75;
        let w2 = w1 - 0.75 * alpha2 / (0.4375_f32.sqrt() + 0.1);
        assert!((q.value[[0]] - w2).abs() < 1e-7, "{} vs {w2}", q.value);
    }

    #[test]
    fn invalid_settings_are_rejected() {
        assert!(Adam::new(0.0).validate().is_err());
        assert!(Adam::new(f32::NAN).validate().is_err());
        assert!(Adam::default().beta1(1.0).validate().is_err());
        assert!(Adam::default().eps(0.0).validate().is_err());
        assert!(Adam::default().validate().is_ok());
    }

    #[test]
    fn state_follows_the_slot() {
        let mut adam = Adam::default();
        let mut a = param(&[0.0, 0.0], &[1.0, 1.0]);
        let mut b = Param::new("bias", ArrayD::zeros(ndarray::IxDyn(&[3])));

        adam.begin_step();
        adam.update(0, &mut a);
        adam.update(1, &mut b);

        assert_eq!(adam.m[0].shape(), &[2]);
        assert_eq!(adam.m[1].shape(), &[3]);
        // m = (1 − 0)(1 − beta1), with 1 − 0.9 rounded in f32.
        assert_eq!(adam.m[0][[0]], 1.0 - 0.9_f32);
    }
}
