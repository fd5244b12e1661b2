const FEATURES: usize = 0;

dropnet::model! {
    Net(52, FEATURES) {
        flatten;
        dense(1);
    }
}

fn main() {}
