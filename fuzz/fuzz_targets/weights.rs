//! Bytes → loading weights into two small fixed models, a CNN and an LSTM.
//!
//! Whatever the bytes, loading returns a result; when it fails, the model keeps every
//! weight it had, bit for bit, and when it succeeds, saving and loading again gives the
//! same weights.

#![no_main]

use dropnet::core::weights;
use dropnet::core::Network;
use libfuzzer_sys::fuzz_target;

dropnet::model! {
    SmallCnn(4, 4, 1) {
        conv2d(2, 3) relu;
        flatten;
        dense(3) softmax;
    }

    SmallLstm(3, 2) {
        lstm(2);
        dense(1);
    }
}

/// Every weight of `model` as bits, by tensor name, so NaN payloads compare too.
fn snapshot<N: Network>(model: &N) -> Vec<(String, Vec<u32>)> {
    let mut out = Vec::new();
    for layer in model.layers() {
        for param in layer.params() {
            let values = param.value.iter().map(|v| v.to_bits()).collect();
            out.push((format!("{}/{}", layer.name(), param.name), values));
        }
    }
    out
}

/// Loads `data` into `model`: unchanged on failure, a faithful round trip on success.
fn check<N: Network>(mut model: N, data: &[u8]) {
    let before = snapshot(&model);
    if let Err(err) = weights::load_from(&mut model, data, "fuzz") {
        assert_eq!(
            snapshot(&model),
            before,
            "a failed load changed the model: {err}"
        );
        return;
    }

    let loaded = snapshot(&model);
    let path = std::env::temp_dir().join(format!("dropnet-fuzz-w-{}", std::process::id()));
    weights::save(&model, &path).expect("a loaded model can be saved");
    let reloaded = std::fs::read(&path).expect("the saved file can be read");
    weights::load_from(&mut model, reloaded.as_slice(), "saved").expect("a saved file loads");
    assert_eq!(snapshot(&model), loaded);
}

fuzz_target!(|data: &[u8]| {
    check(SmallCnn::new(1), data);
    check(SmallLstm::new(1), data);
});
