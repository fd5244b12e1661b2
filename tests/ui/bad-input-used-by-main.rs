use dropnet::prelude::*;

dropnet::model! {
    Net(2, 2, 2, 2) {
        flatten;
        dense(3) softmax;
    }
}

fn main() {
    // The input cannot be a shape, so the stand-in model reads a placeholder; calls that
    // do not name the input type still add no error.
    let mut net = Net::new(42);
    net.compile(Adam::default(), SparseCategoricalCrossentropy);
    println!("{} {}", net.summary(), Net::PARAM_COUNT);
}
