//! Constants in several calls of one module, in a public model of a public module, and
//! in a model declared inside a function: the private copies of the constants never clash
//! and may size public types.

use dropnet::core::Network;

const UNITS: usize = 4;
const RATE: f32 = 0.25;

dropnet::model! {
    First(UNITS) { dropout(RATE); dense(UNITS) relu; dense(1); }
}

dropnet::model! {
    Second(UNITS) { dropout(RATE); dense(UNITS); }
}

pub mod nets {
    pub const WIDTH: usize = 3;

    dropnet::model! {
        /// A public model sized by a constant.
        pub Public(WIDTH, WIDTH, 1) { conv2d(2, WIDTH) relu; flatten; dense(WIDTH); }
    }
}

fn main() {
    dropnet::model! {
        Local(UNITS) { dense(UNITS) sigmoid; }
    }

    // 4·4 + 4, 4·1 + 1; 4·4 + 4; 3·3·1·2 + 2, 2·3 + 3; 4·4 + 4
    assert_eq!(First::PARAM_COUNT, 25);
    assert_eq!(Second::PARAM_COUNT, 20);
    assert_eq!(nets::Public::PARAM_COUNT, 29);
    assert_eq!(Local::PARAM_COUNT, 20);
    assert_eq!(First::new(1).layers().len(), 3);
    assert_eq!(nets::Public::OUTPUT_SHAPE, [3]);
}
