use dropnet::core::Network;

dropnet::model! {
    pub Net(784) {
        dense(10) softmax;
        dropout(0.5);
    }
}

fn main() {
    let net = Net::new(42);
    let layers = net.layers();
    assert!(layers.is_empty());
}
