dropnet::model! {
    Net(52, 8) {
        spatial_dropout2d(0.2);
        lstm(16);
        dense(1);
    }
}

fn main() {}
