const UNITS: usize = 3_000_000;

dropnet::model! {
    Net(28, 28, 1) {
        flatten;
        dense(UNITS);
    }
}

fn main() {}
