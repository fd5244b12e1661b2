//! `elu` and `selu` follow `conv2d` and `dense` as `relu` does, and name the core's
//! activation types.

use dropnet::core::activation::{Elu, Linear, Selu};
use dropnet::core::layers::{Conv2d, Dense};

dropnet::model! {
    Net(8, 8, 1) {
        conv2d(2, 3) elu;
        flatten;
        dense(4) selu;
        dense(1);
    }
}

fn main() {
    let model = Net::new(7);
    // 8 − 3 + 1 = 6, so the flattened map is 6·6·2 = 72 values.
    let _: &Conv2d<8, 8, 1, 2, 3, 1, false, Elu> = &model.conv2d;
    let _: &Dense<72, 4, Selu> = &model.dense;
    let _: &Dense<4, 1, Linear> = &model.dense_1;
    assert_eq!(Net::PARAM_COUNT, (9 * 2 + 2) + (72 * 4 + 4) + (4 + 1));
}
