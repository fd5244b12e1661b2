dropnet::model! {
    Net(28, 28, 1) {
        conv2d(32, 3) relu;
        maxpool(2);
        dropout(0.25, noise_shape = (1, 13, 16));
        flatten;
        dense(10) softmax;
    }
}

fn main() {}
