//! From a CSV column to typed training windows, on hand-made text and on the shipped Mauna
//! Loa CO2 file.

use dropnet_core::data::series::{CsvProblem, CsvSeries, Gaps, Scaling, Series, Windows};
use dropnet_core::{Error, Samples, Sequence};

/// The weekly CO2 record shipped with the repository.
const CO2: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../data/co2/co2.csv");

fn co2(gaps: Gaps) -> dropnet_core::Result<Series> {
    CsvSeries::column("co2").dates("date").gaps(gaps).read(CO2)
}

/// Accepts only one-feature 52-week windows, as a model declared `(52, 1)` does.
fn one_feature_windows(inputs: &Samples<Sequence<52, 1>>) -> usize {
    inputs.len()
}

#[test]
fn co2_file_has_its_rows_and_gaps() -> anyhow::Result<()> {
    let series = co2(Gaps::Interpolate)?;

    assert_eq!(series.len(), 2284);
    assert_eq!((series.gaps(), series.filled()), (59, 59));
    assert!(series.values().iter().all(|v| v.is_finite()));
    // The first gap (1958-05-10) lies midway in time between 316.9 and 317.5.
    assert!((series.values()[6] - 317.2).abs() < 1e-9);
    Ok(())
}

#[test]
fn co2_refused_gap_names_its_spreadsheet_row() {
    let err = co2(Gaps::Refuse).unwrap_err();

    // The seventh data row, under the header in row 1.
    let Error::Csv { problem, .. } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(
        problem,
        &CsvProblem::Gap {
            row: 8,
            column: "co2".into()
        }
    );
}

#[test]
fn co2_change_windows_match_the_keras_reference() -> anyhow::Result<()> {
    let series = co2(Gaps::Interpolate)?;
    let split = series.split_index(0.8)?;
    let scaling = Scaling::change(&series.values()[..split])?;

    let windows = series.windows::<52>(1, &scaling)?;
    let (train, val) = windows.split_at(split);

    assert_eq!(split, 1827);
    assert_eq!(windows.len(), 2284 - 52 - 1 + 1);
    assert_eq!((train.len(), val.len()), (1775, 457));
    assert_eq!(one_feature_windows(train.inputs()), 1775);
    // np.diff(s[:1827]).std() in the reference script.
    let Scaling::Change { scale } = scaling else {
        panic!("{scaling:?}")
    };
    assert!((scale - 0.481_752_838_129).abs() < 1e-9, "{scale}");
    // The reference's naive (no change) forecast: 0.5130 ppmv on the validation windows.
    let naive = val.naive_rmse()?;
    assert_eq!((naive * 1000.0).round(), 513.0, "{naive}");
    Ok(())
}

#[test]
fn co2_drop_policy_keeps_the_windows_clear_of_gaps() -> anyhow::Result<()> {
    let series = co2(Gaps::Drop)?;

    let windows = series.windows::<52>(1, &Scaling::Raw)?;

    assert_eq!(windows.len() + windows.dropped(), 2232);
    assert_eq!(windows.len(), 1761);
    assert!(windows.inputs().matrix().iter().all(|v| v.is_finite()));
    Ok(())
}

#[test]
fn calendar_features_make_three_features_per_step() -> anyhow::Result<()> {
    let series = co2(Gaps::Interpolate)?;
    let split = series.split_index(0.8)?;
    let scaling = Scaling::change(&series.values()[..split])?;

    let windows: Windows<52, 3> = series.with_calendar()?.windows::<52>(1, &scaling)?;

    assert_eq!(windows.inputs().to_array().shape(), &[2232, 52, 3]);
    // Step 0 of window 0 is 1958-03-29, day 88 of 365: sine and cosine of 87/365 of a turn.
    let angle = std::f64::consts::TAU * 87.0 / 365.0;
    let first = windows.inputs().sample(0).unwrap();
    assert!((f64::from(first[1]) - angle.sin()).abs() < 1e-6);
    assert!((f64::from(first[2]) - angle.cos()).abs() < 1e-6);
    // The last step of every window is the reference: change 0.
    assert_eq!(first[51 * 3], 0.0);
    Ok(())
}

#[test]
fn a_changed_validation_value_moves_no_training_statistic() -> anyhow::Result<()> {
    let text = |last: &str| format!("t,v\n1,1\n2,3\n3,2\n4,5\n5,4\n6,6\n7,7\n8,{last}\n");
    let prepare = |text: String| -> anyhow::Result<_> {
        let series = CsvSeries::column("v")
            .times("t")
            .read_from(text.as_bytes(), "v.csv")?;
        let split = series.split_index(0.75)?;
        let scaling = Scaling::standardize(&series.values()[..split])?;
        let (train, val) = series.windows::<2>(1, &scaling)?.split_at(split);
        Ok((scaling, train, val))
    };

    let (scaling_a, train_a, val_a) = prepare(text("8"))?;
    let (scaling_b, train_b, val_b) = prepare(text("80"))?;

    assert_eq!(scaling_a, scaling_b);
    assert_eq!(train_a.inputs().matrix(), train_b.inputs().matrix());
    assert_eq!(train_a.targets().matrix(), train_b.targets().matrix());
    assert_ne!(val_a.targets().matrix(), val_b.targets().matrix());
    Ok(())
}

#[test]
fn problems_are_typed_errors_not_panics() {
    let read = |text: &str| CsvSeries::column("v").read_from(text.as_bytes(), "x.csv");
    let problem = |text: &str| match read(text) {
        Err(Error::Csv { problem, .. }) => problem,
        other => panic!("{other:?}"),
    };

    assert_eq!(problem(""), CsvProblem::Empty);
    assert_eq!(problem("v\n"), CsvProblem::NoRows);
    assert!(matches!(
        problem("w\n1\n"),
        CsvProblem::MissingColumn { .. }
    ));
    assert!(matches!(
        problem("v\nabc\n"),
        CsvProblem::BadValue { row: 2, .. }
    ));
    assert!(matches!(
        problem("v,w\n1,2,3\n"),
        CsvProblem::FieldCount {
            expected: 2,
            got: 3,
            ..
        }
    ));

    let short = Series::new("v", vec![1.0, 2.0]);
    assert!(matches!(
        short.windows::<52>(1, &Scaling::Raw),
        Err(Error::SeriesTooShort { .. })
    ));
}

/// Found by the `csv_series` fuzz target: times a subnormal apart made the slope of the
/// interpolating line infinite, and the gap was filled with `inf`.
#[test]
fn a_gap_between_times_a_subnormal_apart_is_filled_between_its_neighbours() -> anyhow::Result<()> {
    let text = "t,v\n0,0\n11e-320,\n21.9291e-320,10\n";

    let series = CsvSeries::column("v")
        .times("t")
        .gaps(Gaps::Interpolate)
        .read_from(text.as_bytes(), "fuzz.csv")?;

    let filled = series.values()[1];
    assert!((0.0..=10.0).contains(&filled), "{filled}");
    // 11e-320 of the way to 21.9291e-320 is about half way.
    assert!((filled - 5.0).abs() < 0.1, "{filled}");
    Ok(())
}

/// Values near the largest `f64`, of opposite signs, whose difference overflows: the line
/// between them is still finite.
#[test]
fn a_gap_between_values_near_the_float_limit_is_filled_finitely() -> anyhow::Result<()> {
    let text = "v\n-1.7e308\n\n1.7e308\n1.7e308\n\n1.7e308\n";

    let series = CsvSeries::column("v")
        .gaps(Gaps::Interpolate)
        .read_from(text.as_bytes(), "big.csv")?;

    assert_eq!(
        series.values(),
        [-1.7e308, 0.0, 1.7e308, 1.7e308, 1.7e308, 1.7e308]
    );
    Ok(())
}
