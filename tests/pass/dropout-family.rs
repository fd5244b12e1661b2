//! Every layer of the dropout family keeps its input's shape, has no parameters, gets its
//! Keras name and its rate (or standard deviation), from literals or constants.

use dropnet::core::layers::{AlphaDropout, GaussianDropout, GaussianNoise, SpatialDropout2d};
use dropnet::core::{Image, Layer, Network, Vector};

const RATE: f32 = 0.3;
const SIGMA: f32 = 0.0;

dropnet::model! {
    /// A small CNN with a layer of each kind.
    pub Noisy(8, 8, 1) {
        conv2d(2, 3) relu;
        spatial_dropout2d(0.2);
        spatial_dropout2d(0);
        gaussian_dropout(RATE);
        flatten;
        dense(4) selu;
        alpha_dropout(0.1);
        gaussian_noise(0.5);
        gaussian_noise(SIGMA);
        dense(1);
    }
}

fn main() {
    let model = Noisy::new(3);
    // conv2d(2, 3) on 8×8×1 gives 6×6×2, which every image layer after it keeps.
    let spatial: &SpatialDropout2d<Image<6, 6, 2>> = &model.spatial_dropout2d;
    let _: &SpatialDropout2d<Image<6, 6, 2>> = &model.spatial_dropout2d_1;
    let gaussian: &GaussianDropout<Image<6, 6, 2>> = &model.gaussian_dropout;
    let alpha: &AlphaDropout<Vector<4>> = &model.alpha_dropout;
    let noise: &GaussianNoise<Vector<4>> = &model.gaussian_noise;
    let _: &GaussianNoise<Vector<4>> = &model.gaussian_noise_1;

    assert_eq!(spatial.output_dims(), [6, 6, 2]);
    assert_eq!(gaussian.output_dims(), [6, 6, 2]);
    assert_eq!(alpha.output_dims(), [4]);
    assert_eq!(noise.output_dims(), [4]);
    // (9·2 + 2) + (72·4 + 4) + (4 + 1): the noise layers add nothing.
    assert_eq!(Noisy::PARAM_COUNT, 20 + 292 + 5);

    let names: Vec<&str> = model.layers().iter().map(|layer| layer.name()).collect();
    assert_eq!(
        names,
        [
            "conv2d",
            "spatial_dropout2d",
            "spatial_dropout2d_1",
            "gaussian_dropout",
            "flatten",
            "dense",
            "alpha_dropout",
            "gaussian_noise",
            "gaussian_noise_1",
            "dense_1",
        ]
    );
    let counted: usize = model.layers().iter().map(|layer| layer.param_count()).sum();
    assert_eq!(counted, Noisy::PARAM_COUNT);
}
