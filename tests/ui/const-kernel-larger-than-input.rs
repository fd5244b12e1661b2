const HEIGHT: usize = 4;
const K: usize = 5;

dropnet::model! {
    Net(HEIGHT, 28, 1) {
        conv2d(4, K) relu;
        flatten;
        dense(10) softmax;
    }
}

fn main() {}
