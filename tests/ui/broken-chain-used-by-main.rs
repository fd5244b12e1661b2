use dropnet::prelude::*;

dropnet::model! {
    pub Net(5, 5, 1) {
        conv2d(4, 7) relu;
        flatten;
        dense(3) softmax;
    }
}

fn main() -> dropnet::core::Result<()> {
    // Only the kernel is reported: the stand-in model still has the declared input and
    // the output of its last layer, so none of these calls adds an error.
    let mut net = Net::new(42);
    net.compile(Adam::default(), SparseCategoricalCrossentropy);
    let x = Samples::<Image<5, 5, 1>>::from_vec(2, vec![0.0; 50])?;
    let y = Labels::new(vec![0, 1]);
    let history = net.fit(&x, &y).epochs(1).batch_size(2).run()?;
    let probabilities: Samples<Vector<3>> = net.predict(&x)?;
    println!("{history:?} {} {}", probabilities.len(), net.summary());
    Ok(())
}
