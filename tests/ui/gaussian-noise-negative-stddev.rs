dropnet::model! {
    Net(784) {
        gaussian_noise(-0.1);
        dense(10) softmax;
    }
}

fn main() {}
