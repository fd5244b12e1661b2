const SHARED: usize = 2;

dropnet::model! {
    Net(10, 8) {
        dropout(0.2, noise_shape = (SHARED, 8));
        lstm(4);
        dense(1);
    }
}

fn main() {}
