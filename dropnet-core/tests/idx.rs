//! The MNIST files shipped with the repository load through the public API.

use dropnet_core::data::mnist;

/// The repository's 8,000/2,000 subset, in the official IDX layout, gzip-compressed.
const SHIPPED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../data/mnist");

#[test]
fn shipped_mnist_loads_with_documented_sizes_and_class_counts() -> anyhow::Result<()> {
    let data = mnist::load(SHIPPED)?;

    assert_eq!(data.train_images.len(), 8000);
    assert_eq!(data.train_labels.len(), 8000);
    assert_eq!(data.test_images.len(), 2000);
    assert_eq!(data.test_labels.len(), 2000);

    // Class counts over all 10,000 digits, as listed in the data README.
    let expected = [1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978];
    let mut counts = [0usize; 10];
    let all = data
        .train_labels
        .as_slice()
        .iter()
        .chain(data.test_labels.as_slice());
    for &label in all {
        counts[label as usize] += 1;
    }
    assert_eq!(counts, expected);

    // Pixels are bytes divided by 255: within [0, 1], with both ends present.
    let pixels = data.train_images.matrix();
    assert!(pixels.iter().all(|&p| (0.0..=1.0).contains(&p)));
    assert!(pixels.iter().any(|&p| p == 1.0) && pixels.iter().any(|&p| p == 0.0));
    Ok(())
}
