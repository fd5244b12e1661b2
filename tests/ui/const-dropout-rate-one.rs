const RATE: f32 = 1.0;

dropnet::model! {
    Net(784) {
        dense(128) relu;
        dropout(RATE);
        dense(10) softmax;
    }
}

fn main() {}
