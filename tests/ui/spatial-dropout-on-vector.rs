dropnet::model! {
    Net(784) {
        dense(128) relu;
        spatial_dropout2d(0.2);
        dense(10) softmax;
    }
}

fn main() {}
