dropnet::model! {
    Detector(52, 1) {
        lstm(16);
        dense(1) softmax;
    }
}

fn main() {}
