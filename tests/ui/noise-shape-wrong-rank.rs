dropnet::model! {
    Net(784) {
        dense(128) relu;
        dropout(0.5, noise_shape = (1, 128));
        dense(10) softmax;
    }
}

fn main() {}
