//! The README's section on callbacks, checkpoints and history files, run as written.
//!
//! The code between the `README` markers below is the README's sample, indented; the second
//! test fails when the two drift apart, so the README never shows code that does not
//! compile or run.

use dropnet::core::callback::{CsvLogger, EarlyStopping, ModelCheckpoint};
use dropnet::prelude::*;

dropnet::model! {
    /// A small classifier of 2-d points, standing in for the README's CNN.
    Points(2) {
        dense(8) tanh;
        dense(2) softmax;
    }
}

/// 40 points, the class given by the sign of the first coordinate.
fn points() -> anyhow::Result<(Samples<Vector<2>>, Labels)> {
    let values: Vec<f32> = (0..80)
        .map(|i| ((i * 37 % 19) as f32 - 9.0) / 9.0)
        .collect();
    let labels = values.chunks(2).map(|p| u32::from(p[0] > 0.0)).collect();
    Ok((Samples::from_vec(40, values)?, Labels::new(labels)))
}

#[test]
fn the_readme_sample_trains_saves_and_resumes() -> anyhow::Result<()> {
    // The sample writes into the current folder; this test is the only one in its process
    // that depends on it.
    let dir = std::env::temp_dir().join(format!("dropnet-readme-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    std::env::set_current_dir(&dir)?;
    let (x, y) = points()?;
    let mut model = Points::new(42);
    model.compile(Adam::default(), SparseCategoricalCrossentropy);

    // README begin
    let mut early = EarlyStopping::new().patience(3).restore_best_weights(true);
    let mut checkpoint = ModelCheckpoint::new("run.ckpt"); // replaced after every epoch
    let mut csv = CsvLogger::new("history.csv");
    let history = model
        .fit(&x, &y)
        .epochs(4)
        .validation_split(0.25) // the last quarter, held out before shuffling
        .callback(&mut early)
        .callback(&mut checkpoint)
        .callback(&mut csv)
        .run()?;
    history.to_json("history.json")?;
    history.plot("history.png")?; // cargo feature `plot`

    // Later, perhaps in another process, with the model built and compiled as before:
    let epoch = model.load_checkpoint("run.ckpt")?; // the last epoch saved
    let more = model
        .fit(&x, &y)
        .epochs(8)
        .initial_epoch(epoch)
        .validation_split(0.25)
        .run()?;
    // README end

    let saved = history.len();
    assert_eq!(epoch, saved);
    assert_eq!(more.records()[0].epoch, saved + 1);
    let csv_text = std::fs::read_to_string("history.csv")?;
    assert_eq!(csv_text.lines().count(), 1 + saved);
    for file in ["history.json", "history.png"] {
        assert!(std::fs::metadata(file)?.len() > 0, "{file}");
    }
    std::env::set_current_dir(std::env::temp_dir())?;
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

#[test]
fn the_readme_shows_the_sample_of_this_file() {
    let source = include_str!("readme_workflow.rs");
    let readme = include_str!("../README.md");
    let begin = source
        .find("// README begin\n")
        .map(|i| i + "// README begin\n".len());
    let end = source.find("    // README end");
    let (Some(begin), Some(end)) = (begin, end) else {
        panic!("the README markers are missing from this file");
    };
    let sample: String = source[begin..end]
        .lines()
        .map(|line| line.strip_prefix("    ").unwrap_or(line))
        .map(|line| format!("{line}\n"))
        .collect();

    assert!(
        readme.contains(&sample),
        "README.md should hold, in a code block:\n{sample}"
    );
}
