const WINDOW: usize = usize::MAX / 2;

dropnet::model! {
    Net(WINDOW, 4) {
        flatten;
        dense(1);
    }
}

fn main() {}
