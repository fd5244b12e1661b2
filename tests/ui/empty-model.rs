dropnet::model! {
    Net(784) {}
}

fn main() {}
