const RATE: f32 = 1.5;

dropnet::model! {
    Net(28, 28, 1) {
        conv2d(8, 3) relu;
        spatial_dropout2d(0.99999999);
        alpha_dropout(0.1) selu;
        gaussian_noise(stddev = 0.1, rate = 0.2);
        flatten;
        dense(10) softmax;
    }
    Other(4) {
        alpha_dropout(RATE);
        dense(1);
    }
}

fn main() {}
