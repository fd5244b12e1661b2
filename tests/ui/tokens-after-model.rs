use dropnet::core::Network;

dropnet::model! {
    Net(4) {
        dense(1);
    } extra
}

fn main() {
    // The model before the stray word is complete and usable.
    assert_eq!(Net::new(0).layers().len(), 1);
}
