const RATE: f32 = -0.2;

dropnet::model! {
    Net(52, 1) {
        lstm(64, dropout = RATE);
        dense(1);
    }
}

fn main() {}
