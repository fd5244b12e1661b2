//! `dropout(rate, noise_shape = …)` builds a dropout layer whose mask is shared along the
//! axes where the noise shape is 1, with literal or constant entries.

use dropnet::core::layers::Dropout;
use dropnet::core::{Image, Layer, Sequence};

const FILTERS: usize = 4;

dropnet::model! {
    Maps(8, 8, 1) {
        conv2d(FILTERS, 3) relu;
        dropout(0.5, noise_shape = (1, 1, FILTERS));
        dropout(0.25, noise_shape = (6, 1, 4));
        flatten;
        dense(1);
    }
    Steps(5, 3) {
        dropout(0.2, noise_shape = (1, 3));
        lstm(2);
        dense(1);
    }
}

fn main() {
    let maps = Maps::new(1);
    // conv2d(4, 3) on 8×8×1 gives 6×6×4.
    let channels: &Dropout<Image<6, 6, 4>> = &maps.dropout;
    let rows: &Dropout<Image<6, 6, 4>> = &maps.dropout_1;
    assert_eq!(channels.output_dims(), [6, 6, 4]);
    assert_eq!(rows.output_dims(), [6, 6, 4]);

    let steps = Steps::new(1);
    let features: &Dropout<Sequence<5, 3>> = &steps.dropout;
    assert_eq!(features.output_dims(), [5, 3]);
}
