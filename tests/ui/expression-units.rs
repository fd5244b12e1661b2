const A: usize = 3;

dropnet::model! {
    Net(784) {
        dense(A + 1) relu;
        dense(10) softmax;
    }
}

fn main() {}
