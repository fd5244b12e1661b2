const RATE: f64 = 0.5;

dropnet::model! {
    Net(784) {
        dense(128) relu;
        dropout(RATE);
        dense(10) softmax;
    }
}

fn main() {}
