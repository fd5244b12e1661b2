const K: u32 = 3;

dropnet::model! {
    Net(28, 28, 1) {
        conv2d(4, K) relu;
        maxpool(2);
        flatten;
        dense(10) softmax;
    }
}

fn main() {}
