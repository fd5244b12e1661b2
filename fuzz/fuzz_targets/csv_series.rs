//! Bytes → the CSV series reader, under each gap policy and each kind of time column, then
//! the steps that follow a successful read (calendar features, split, scaling, windows).
//!
//! The first byte picks the options; the rest is the file. The value column is `v` and the
//! time column `t`.

#![no_main]

use dropnet::core::data::series::{CsvSeries, Gaps, Scaling, Series};
use libfuzzer_sys::fuzz_target;

/// What the reader promises about a series it returns under `gaps`.
fn check_series(series: &Series, gaps: Gaps) {
    assert!(!series.is_empty());
    let nan = series.values().iter().filter(|v| v.is_nan()).count();
    match gaps {
        Gaps::Refuse => assert_eq!((nan, series.gaps()), (0, 0)),
        Gaps::Interpolate => {
            assert_eq!(series.filled(), series.gaps());
            assert!(
                series.values().iter().all(|v| v.is_finite()),
                "interpolation left a value that is not finite: {:?}",
                series.values()
            );
        }
        Gaps::Drop => assert_eq!(nan, series.gaps()),
    }
    if let Some(times) = series.times() {
        assert_eq!(times.len(), series.len());
        assert!(times.iter().all(|t| t.is_finite()));
        assert!(times.windows(2).all(|pair| pair[0] < pair[1]));
    }
}

/// Everything downstream of a read must return a result, never panic.
fn use_series(series: &Series, horizon: usize) {
    if let Ok(frame) = series.with_calendar() {
        assert_eq!(frame.len(), series.len());
        let _ = frame.windows::<2>(horizon, &Scaling::Raw);
    }
    let Ok(split) = series.split_index(0.8) else {
        return;
    };
    let train = &series.values()[..split];
    let scalings = [Scaling::standardize(train), Scaling::change(train)];
    for scaling in scalings.into_iter().flatten() {
        if let Ok(windows) = series.windows::<3>(horizon, &scaling) {
            let (before, after) = windows.split_at(split);
            assert_eq!(before.len() + after.len(), windows.len());
            let _ = windows.naive_rmse();
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&options, text)) = data.split_first() else {
        return;
    };
    let gaps = [Gaps::Refuse, Gaps::Interpolate, Gaps::Drop][usize::from(options % 3)];
    let reader = CsvSeries::column("v").gaps(gaps);
    let reader = match (options / 3) % 3 {
        0 => reader,
        1 => reader.dates("t"),
        _ => reader.times("t"),
    };
    let horizon = usize::from(options / 9 % 4) + 1;

    if let Ok(series) = reader.read_from(text, "fuzz.csv") {
        check_series(&series, gaps);
        use_series(&series, horizon);
    }
});
