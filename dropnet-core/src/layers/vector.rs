//! Runs the layers' element loops with the widest vector instructions the processor has.
//!
//! The crate is compiled for the baseline of its target (SSE2 on x86-64), so a plain loop
//! over activations handles four values at a time. [`vectorized`] runs a closure through
//! `pulp`, which checks the processor once and calls it inside a function compiled for
//! AVX-512 or AVX2 where available; the closure's loops, inlined there, are vectorised for
//! that instruction set. Without such a processor (or off x86-64) the closure runs as it
//! is.
//!
//! The loops this serves do the same arithmetic per value whatever the vector width (none
//! of them reassociates a sum), so results are bit for bit the same on every processor;
//! [`on_every_level`] lets tests check that.

/// Runs `body` compiled for the best vector instructions available.
///
/// `body` and what it calls should be small and marked `#[inline]` or `#[inline(always)]`:
/// only what is inlined into the dispatched function gets the wider instructions.
#[inline(always)]
pub(crate) fn vectorized<R>(body: impl FnOnce() -> R) -> R {
    pulp::Arch::new().dispatch(body)
}

/// The results of `body` run at every instruction-set level this processor has: the
/// baseline, then AVX2 and AVX-512 where available.
#[cfg(test)]
pub(crate) fn on_every_level<R>(body: impl Fn() -> R) -> Vec<R> {
    #[allow(unused_mut)]
    let mut results = vec![body()];
    #[cfg(target_arch = "x86_64")]
    {
        if let Some(v3) = pulp::x86::V3::try_new() {
            results.push(v3.vectorize(&body));
        }
        if let Some(v4) = pulp::x86::V4::try_new() {
            results.push(v4.vectorize(&body));
        }
    }
    results
}

#[cfg(test)]
mod tests {
    /// A processor with AVX2 gets it: pulp enables each level by a feature of its own, and
    /// with only `x86-v4` enabled an AVX2 processor silently ran the baseline loops.
    #[test]
    #[cfg(target_arch = "x86_64")]
    fn dispatch_takes_avx2_when_the_processor_has_it() {
        if pulp::x86::V3::try_new().is_some() {
            assert!(!matches!(pulp::Arch::new(), pulp::Arch::Scalar));
        }
    }
}
