//! Time series: one numeric column of a CSV file, made into training windows.
//!
//! The path from a file to a model's inputs has four steps, each one call:
//!
//! 1. [`CsvSeries`] reads a column by its header name, with an optional time column, and
//!    applies a [`Gaps`] policy to empty fields. It returns a [`Series`].
//! 2. [`Series::split_index`] turns a fraction into the index where the validation part
//!    starts. The split is chronological: nothing is shuffled across it.
//! 3. [`Scaling`] is fitted on the training part only (`&values[..split]`), so nothing about
//!    the validation part leaks into the inputs.
//! 4. [`Series::windows`] (or [`Frame::windows`] when there are extra features) cuts
//!    sliding windows of `W` steps with the target `horizon` steps after each window's last
//!    step; [`Windows::split_at`] separates them by where their target lies.
//!
//! Windows are typed `Samples<Sequence<W, F>>`: the window length and the number of features
//! per step are part of the type, so a model declared for one feature does not accept
//! windows with calendar features added ([`Series::with_calendar`]).
//!
//! ```
//! use dropnet_core::data::series::{CsvSeries, Gaps, Scaling};
//! use dropnet_core::{Samples, Sequence};
//!
//! # fn main() -> dropnet_core::Result<()> {
//! let text = "date,co2\n\
//!             19580329,316.1\n19580405,317.3\n19580412,\n19580419,317.5\n\
//!             19580426,317.9\n19580503,318.3\n19580510,318.0\n19580517,317.6\n";
//! let series = CsvSeries::column("co2")
//!     .dates("date")
//!     .gaps(Gaps::Interpolate)
//!     .read_from(text.as_bytes(), "co2.csv")?;
//! assert_eq!((series.len(), series.filled()), (8, 1));
//!
//! // Forecast the change one week ahead from 3-week windows, scaled by the spread of the
//! // weekly differences in the first 75% of the series.
//! let split = series.split_index(0.75)?;
//! let scaling = Scaling::change(&series.values()[..split])?;
//! let windows = series.windows::<3>(1, &scaling)?;
//! let (train, val) = windows.split_at(split);
//!
//! // 8 − 3 − 1 + 1 = 5 windows; targets at series indices 3..8, split at 6.
//! assert_eq!((train.len(), val.len()), (3, 2));
//! let inputs: &Samples<Sequence<3, 1>> = train.inputs();
//! assert_eq!(inputs.sample(0).unwrap()[2], 0.0); // the last step is the reference
//! println!("naive RMSE {:.3} ppmv", val.naive_rmse()?);
//! # Ok(())
//! # }
//! ```

mod dates;
mod windows;

use std::fs::File;
use std::io;
use std::ops::Range;
use std::path::{Path, PathBuf};

pub use crate::error::CsvProblem;
use crate::error::{Error, Result};
pub use windows::{Frame, Scaling, Windows};

/// What to do with empty fields (gaps) in the value column.
///
/// A field holding only spaces counts as empty. Text such as `NaN` or `inf` is not a gap but
/// an error, so a gap is always visible in the file as an empty field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Gaps {
    /// Fail with [`CsvProblem::Gap`] naming the row and column of the first gap.
    #[default]
    Refuse,
    /// Fill each gap on the straight line between the nearest values before and after it,
    /// placed by the time column when there is one, else by row. A gap before the first or
    /// after the last value cannot be filled and fails with [`CsvProblem::EdgeGap`].
    Interpolate,
    /// Keep gaps as `NaN`; windowing then leaves out every window whose inputs or target
    /// touch one, and scaling ignores them.
    Drop,
}

/// How a time column is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TimeKind {
    /// `YYYYMMDD`, read as a day number.
    Date,
    /// Any number (a year fraction, seconds, an index …).
    Number,
}

/// Which columns of a CSV file make a series, and what to do with its gaps.
///
/// The file must have a header line. Fields are trimmed of surrounding spaces; columns are
/// found by their exact header name. A time column, when given, must increase strictly
/// from row to row; it places the values for interpolation and, for dates, gives the
/// calendar features. Built like a Keras or pandas call with keyword arguments:
/// `CsvSeries::column("co2").dates("date").gaps(Gaps::Interpolate).read(path)`.
///
/// Rows in error messages are counted as a spreadsheet shows them: the header is row 1,
/// the first data row is row 2 (see [`CsvProblem`]). A blank line between rows is a row
/// too, with no fields: a gap in a one-column file, a row of the wrong length in any other.
/// Blank lines at the end of the file are ignored. The whole file is read into memory,
/// which suits series of up to millions of steps.
#[derive(Debug, Clone)]
pub struct CsvSeries {
    column: String,
    time: Option<(String, TimeKind)>,
    gaps: Gaps,
}

/// Where the wanted fields are in each record.
struct Layout {
    /// Fields per record, from the header.
    fields: usize,
    /// Index of the value column.
    value: usize,
    /// Index and name of the time column.
    time: Option<(usize, String)>,
}

/// The CSV reader over the whole text in memory.
type Reader<'a> = csv::Reader<&'a [u8]>;

/// The column as read, before the gap policy: `NaN` marks gaps.
#[derive(Default)]
struct Raw {
    values: Vec<f64>,
    times: Vec<f64>,
    /// The row of each value, for messages about it later.
    rows: Vec<u64>,
    /// The previous time, as a number and as written.
    previous_time: Option<(f64, String)>,
}

impl CsvSeries {
    /// Reads the numeric column named `name`, with gaps refused and no time column.
    pub fn column(name: impl Into<String>) -> Self {
        Self {
            column: name.into(),
            time: None,
            gaps: Gaps::Refuse,
        }
    }

    /// Takes times from the column `name`, written as dates `YYYYMMDD`.
    pub fn dates(mut self, name: impl Into<String>) -> Self {
        self.time = Some((name.into(), TimeKind::Date));
        self
    }

    /// Takes times from the column `name`, written as plain numbers.
    pub fn times(mut self, name: impl Into<String>) -> Self {
        self.time = Some((name.into(), TimeKind::Number));
        self
    }

    /// Sets the policy for empty fields (the default refuses them).
    pub fn gaps(mut self, gaps: Gaps) -> Self {
        self.gaps = gaps;
        self
    }

    /// Reads the series from the file at `path`.
    ///
    /// # Errors
    /// [`Error::Io`] when the file cannot be opened or read, [`Error::Csv`] with a
    /// [`CsvProblem`] naming the row and column for anything wrong in its content.
    pub fn read(&self, path: impl AsRef<Path>) -> Result<Series> {
        let path = path.as_ref();
        let file = File::open(path).map_err(|err| Error::io(path, err))?;
        self.read_from(io::BufReader::new(file), path)
    }

    /// Reads the series from `reader`; `name` stands for the file in error messages.
    ///
    /// # Errors
    /// As [`CsvSeries::read`].
    pub fn read_from(&self, mut reader: impl io::Read, name: impl Into<PathBuf>) -> Result<Series> {
        let path = name.into();
        let mut text = Vec::new();
        reader
            .read_to_end(&mut text)
            .map_err(|err| Error::io(&path, err))?;
        let mut csv = csv::ReaderBuilder::new()
            .flexible(true)
            .from_reader(text.as_slice());

        let mut lines = Lines::new(&text);
        let layout = self.layout(&mut csv, &mut lines, &path)?;
        let raw = self.read_rows(&mut csv, &layout, &mut lines, &path)?;
        self.finish(raw, &path)
    }

    /// Finds the wanted columns in the header.
    fn layout(&self, csv: &mut Reader<'_>, lines: &mut Lines<'_>, path: &Path) -> Result<Layout> {
        let header = csv.headers().map_err(|err| from_csv(path, err))?;
        let names: Vec<String> = header
            .iter()
            .map(|name| name.trim_start_matches('\u{feff}').trim().to_owned())
            .collect();
        if names.iter().all(String::is_empty) {
            return Err(csv_error(path, CsvProblem::Empty));
        }
        lines.locate(0, header);

        let find = |column: &str| {
            names.iter().position(|name| name == column).ok_or_else(|| {
                let present = names.clone();
                let column = column.to_owned();
                csv_error(path, CsvProblem::MissingColumn { column, present })
            })
        };
        let value = find(&self.column)?;
        let time = match &self.time {
            Some((name, _)) => Some((find(name)?, name.clone())),
            None => None,
        };

        let fields = names.len();
        Ok(Layout {
            fields,
            value,
            time,
        })
    }

    /// Reads every record: values with `NaN` for gaps, times, rows.
    fn read_rows(
        &self,
        csv: &mut Reader<'_>,
        layout: &Layout,
        lines: &mut Lines<'_>,
        path: &Path,
    ) -> Result<Raw> {
        let mut raw = Raw::default();
        let mut record = csv::StringRecord::new();
        while csv
            .read_record(&mut record)
            .map_err(|err| from_csv(path, err))?
        {
            let byte = record.position().map_or(0, |position| position.byte());
            let (blank_rows, row) = lines.locate(byte as usize, &record);

            for blank in blank_rows {
                self.push_blank(&mut raw, layout, blank)
                    .map_err(|problem| csv_error(path, problem))?;
            }
            self.push_row(&mut raw, layout, &record, row)
                .map_err(|problem| csv_error(path, problem))?;
        }

        if raw.values.is_empty() {
            return Err(csv_error(path, CsvProblem::NoRows));
        }
        Ok(raw)
    }

    /// Checks one record and adds its value and time.
    fn push_row(
        &self,
        raw: &mut Raw,
        layout: &Layout,
        record: &csv::StringRecord,
        row: u64,
    ) -> Result<(), CsvProblem> {
        if record.len() != layout.fields {
            let (expected, got) = (layout.fields, record.len());
            return Err(CsvProblem::FieldCount { row, expected, got });
        }

        raw.values
            .push(self.parse_value(&record[layout.value], row)?);
        raw.rows.push(row);
        if let Some((index, name)) = &layout.time {
            self.push_time(raw, record[*index].trim(), name, row)?;
        }
        Ok(())
    }

    /// A blank line between records: in a one-column file an empty field (a gap), in any
    /// other a row without the header's fields.
    fn push_blank(&self, raw: &mut Raw, layout: &Layout, row: u64) -> Result<(), CsvProblem> {
        if layout.fields != 1 {
            let expected = layout.fields;
            return Err(CsvProblem::FieldCount {
                row,
                expected,
                got: 0,
            });
        }
        self.push_row(raw, layout, &csv::StringRecord::from(vec![""]), row)
    }

    /// One value field: a finite number, or `NaN` for a gap the policy accepts.
    fn parse_value(&self, field: &str, row: u64) -> Result<f64, CsvProblem> {
        let text = field.trim();
        let column = self.column.clone();
        if text.is_empty() {
            return match self.gaps {
                Gaps::Refuse => Err(CsvProblem::Gap { row, column }),
                Gaps::Interpolate | Gaps::Drop => Ok(f64::NAN),
            };
        }

        match text.parse::<f64>() {
            Ok(value) if value.is_finite() => Ok(value),
            _ => Err(CsvProblem::BadValue {
                row,
                column,
                text: text.to_owned(),
                expected: "a finite number (leave the field empty to mark a gap)",
            }),
        }
    }

    /// One time field, which must come after the previous row's.
    fn push_time(
        &self,
        raw: &mut Raw,
        text: &str,
        column: &str,
        row: u64,
    ) -> Result<(), CsvProblem> {
        let (kind, expected) = match self.time {
            Some((_, TimeKind::Date)) => (TimeKind::Date, "a date written YYYYMMDD"),
            _ => (TimeKind::Number, "a finite number"),
        };
        let time = match kind {
            TimeKind::Date => dates::parse_yyyymmdd(text).map(|day| day as f64),
            TimeKind::Number => text.parse::<f64>().ok().filter(|t| t.is_finite()),
        };
        let bad = || CsvProblem::BadValue {
            row,
            column: column.to_owned(),
            text: text.to_owned(),
            expected,
        };
        let time = time.ok_or_else(bad)?;

        if let Some((previous, previous_text)) = raw.previous_time.take() {
            if time <= previous {
                return Err(CsvProblem::TimeOrder {
                    row,
                    column: column.to_owned(),
                    text: text.to_owned(),
                    previous: previous_text,
                });
            }
        }
        raw.previous_time = Some((time, text.to_owned()));
        raw.times.push(time);
        Ok(())
    }

    /// Applies the gap policy (refusal already happened while reading).
    fn finish(&self, raw: Raw, path: &Path) -> Result<Series> {
        let Raw {
            mut values,
            times,
            rows,
            ..
        } = raw;
        let gaps = values.iter().filter(|v| v.is_nan()).count();
        let times = self.time.as_ref().map(|_| times);

        let mut filled = 0;
        if self.gaps == Gaps::Interpolate {
            filled = interpolate(&mut values, times.as_deref()).map_err(|index| {
                let row = rows[index];
                let column = self.column.clone();
                csv_error(path, CsvProblem::EdgeGap { row, column })
            })?;
        }

        Ok(Series {
            name: self.column.clone(),
            values,
            times,
            dated: matches!(self.time, Some((_, TimeKind::Date))),
            gaps,
            filled,
        })
    }
}

/// Line numbers of records, counted in the text itself.
///
/// The CSV reader's own line count goes wrong with `\r\n` line ends, and it skips blank
/// lines without a word; counting here gives the row a spreadsheet shows and finds blank
/// lines between records.
struct Lines<'a> {
    text: &'a [u8],
    /// Bytes before `cursor` are counted.
    cursor: usize,
    /// Line number at `cursor`, from 1.
    line: u64,
    /// Where the next record starts if no blank line comes first.
    next: u64,
}

impl<'a> Lines<'a> {
    fn new(text: &'a [u8]) -> Self {
        Self {
            text,
            cursor: 0,
            line: 1,
            next: 1,
        }
    }

    /// The blank lines before a record that the reader began parsing at `byte`, and the
    /// line on which the record's text starts.
    fn locate(&mut self, byte: usize, record: &csv::StringRecord) -> (Range<u64>, u64) {
        // The reader's offset can point into the line end before the record.
        let mut start = byte.max(self.cursor).min(self.text.len());
        while matches!(self.text.get(start), Some(b'\r' | b'\n')) {
            start += 1;
        }
        self.line += newlines(&self.text[self.cursor..start]);
        self.cursor = start;

        let blanks = self.next.min(self.line)..self.line;
        let inside: u64 = record.iter().map(|field| newlines(field.as_bytes())).sum();
        self.next = self.line + inside + 1;
        (blanks, self.line)
    }
}

/// Number of `\n` in `bytes`.
fn newlines(bytes: &[u8]) -> u64 {
    bytes.iter().filter(|&&b| b == b'\n').count() as u64
}

/// Wraps a problem with the file it concerns.
fn csv_error(path: &Path, problem: CsvProblem) -> Error {
    Error::Csv {
        path: path.to_owned(),
        problem,
    }
}

/// Turns an error of the CSV reader into ours, keeping I/O errors as such.
fn from_csv(path: &Path, err: csv::Error) -> Error {
    let reason = err.to_string();
    match err.into_kind() {
        csv::ErrorKind::Io(source) => Error::io(path, source),
        _ => csv_error(path, CsvProblem::Malformed { reason }),
    }
}

/// Fills each `NaN` on the line between its nearest present neighbours, placed by `times`
/// (by index when `None`). Returns the number filled, or the index of a gap with no
/// present value on one side.
fn interpolate(values: &mut [f64], times: Option<&[f64]>) -> std::result::Result<usize, usize> {
    let at = |i: usize| times.map_or(i as f64, |t| t[i]);
    let present: Vec<usize> = (0..values.len()).filter(|&i| !values[i].is_nan()).collect();
    let (Some(&first), Some(&last)) = (present.first(), present.last()) else {
        return Err(0);
    };
    if first > 0 {
        return Err(0);
    }
    if last + 1 < values.len() {
        return Err(last + 1);
    }

    let mut filled = 0;
    for pair in present.windows(2) {
        let (a, b) = (pair[0], pair[1]);
        // The same expression as numpy's `interp`, so filled values agree to the last bit.
        let slope = (values[b] - values[a]) / (at(b) - at(a));
        for i in a + 1..b {
            let value = slope * (at(i) - at(a)) + values[a];
            values[i] = if value.is_finite() {
                value
            } else {
                between((values[a], values[b]), (at(a), at(i), at(b)))
            };
            filled += 1;
        }
    }
    Ok(filled)
}

/// The value at time `t` on the line from `va` (at `ta`) to `vb` (at `tb`), for when
/// numpy's expression overflows: a time step so small (subnormal) that the slope is
/// infinite, or values of opposite signs near `f64::MAX` whose difference is. Weighing the
/// two values by the fraction of the way keeps every step finite, and the result is held
/// between them, where a point of the line lies.
fn between((va, vb): (f64, f64), (ta, t, tb): (f64, f64, f64)) -> f64 {
    // Times increase strictly, so the span is positive; halving keeps it finite when the
    // times are of opposite signs near `f64::MAX`.
    let span = tb - ta;
    let fraction = if span.is_finite() {
        (t - ta) / span
    } else {
        (t / 2.0 - ta / 2.0) / (tb / 2.0 - ta / 2.0)
    };
    let fraction = if fraction.is_nan() {
        0.5
    } else {
        fraction.clamp(0.0, 1.0)
    };
    let (low, high) = if va <= vb { (va, vb) } else { (vb, va) };
    (va * (1.0 - fraction) + vb * fraction).clamp(low, high)
}

/// One numeric column in time order, with its times when the file had them.
///
/// Values are `f64`; gaps kept under [`Gaps::Drop`] are `NaN`.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    name: String,
    values: Vec<f64>,
    times: Option<Vec<f64>>,
    dated: bool,
    gaps: usize,
    filled: usize,
}

impl Series {
    /// A series from values already in memory; `NaN` marks gaps, which windowing skips as
    /// under [`Gaps::Drop`]. It has no times, so no calendar features.
    pub fn new(name: impl Into<String>, values: Vec<f64>) -> Self {
        let gaps = values.iter().filter(|v| v.is_nan()).count();
        Self {
            name: name.into(),
            values,
            times: None,
            dated: false,
            gaps,
            filled: 0,
        }
    }

    /// The column's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Number of steps, gaps included.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// True when there are no steps.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// The values in time order; gaps not filled are `NaN`.
    pub fn values(&self) -> &[f64] {
        &self.values
    }

    /// The times, when read from a time column: day numbers (days from 1970-01-01) for
    /// dates, the numbers as written otherwise.
    pub fn times(&self) -> Option<&[f64]> {
        self.times.as_deref()
    }

    /// How many value fields were empty in the file.
    pub fn gaps(&self) -> usize {
        self.gaps
    }

    /// How many of those gaps interpolation filled (0 unless [`Gaps::Interpolate`]).
    pub fn filled(&self) -> usize {
        self.filled
    }

    /// The index where the validation part starts when the first `fraction` of the steps
    /// is for training: `floor(len × fraction)`, as Python's `int(n * fraction)`.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] unless `0 < fraction ≤ 1`.
    pub fn split_index(&self, fraction: f64) -> Result<usize> {
        if !(fraction > 0.0 && fraction <= 1.0) {
            let reason = format!("must be in (0, 1], got {fraction}");
            return Err(Error::config("fraction", reason));
        }
        Ok((self.len() as f64 * fraction).floor() as usize)
    }

    /// The series as per-step features: the value alone, so `F = 1`.
    pub fn frame(&self) -> Frame<1> {
        Frame::new(self.values.clone(), Vec::new())
    }

    /// The value followed by the sine and cosine of the week of the year, so `F = 3`.
    ///
    /// The week is taken as a fraction of the year, `(day of year − 1) / days in year`,
    /// turned into an angle; sine and cosine together place every week on a circle, so the
    /// last week of December sits next to the first of January.
    ///
    /// The feature count is in the windows' type, so windows with calendar features are
    /// `Windows<W, 3>` and their inputs `Samples<Sequence<W, 3>>`:
    ///
    /// ```
    /// # use dropnet_core::data::series::{Scaling, Series, Windows};
    /// # fn f(series: &Series, scaling: &Scaling) -> dropnet_core::Result<()> {
    /// let windows: Windows<52, 3> = series.with_calendar()?.windows::<52>(1, scaling)?;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// and they do not pass where one feature per step is expected, as by a model declared
    /// `(52, 1)`; its input shape has to change with them:
    ///
    /// ```compile_fail
    /// # use dropnet_core::data::series::{Scaling, Series, Windows};
    /// # fn f(series: &Series, scaling: &Scaling) -> dropnet_core::Result<()> {
    /// let windows: Windows<52, 1> = series.with_calendar()?.windows::<52>(1, scaling)?;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] when the series was not read with a date column
    /// ([`CsvSeries::dates`]).
    pub fn with_calendar(&self) -> Result<Frame<3>> {
        let times = match (&self.times, self.dated) {
            (Some(times), true) => times,
            _ => {
                let reason = "calendar features need dates; read the series with `.dates(..)`";
                return Err(Error::config("calendar", reason));
            }
        };

        let mut extra = Vec::with_capacity(2 * times.len());
        for &day in times {
            let angle = dates::year_angle(day as i64);
            extra.extend_from_slice(&[angle.sin(), angle.cos()]);
        }
        Ok(Frame::new(self.values.clone(), extra))
    }

    /// Sliding windows of `W` steps of the value alone; see [`Frame::windows`].
    ///
    /// # Errors
    /// As [`Frame::windows`].
    pub fn windows<const W: usize>(
        &self,
        horizon: usize,
        scaling: &Scaling,
    ) -> Result<Windows<W, 1>> {
        self.frame().windows::<W>(horizon, scaling)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str, options: &CsvSeries) -> Result<Series> {
        options.read_from(text.as_bytes(), "test.csv")
    }

    fn problem(result: Result<Series>) -> CsvProblem {
        match result {
            Err(Error::Csv { problem, path }) => {
                assert_eq!(path, Path::new("test.csv"));
                problem
            }
            other => panic!("expected a CSV error, got {other:?}"),
        }
    }

    #[test]
    fn reads_the_named_column_among_others() {
        let text = "a,value,b\n1,2.5,x\n2, 3 ,y\n3,-1e1,z\n";

        let series = read(text, &CsvSeries::column("value")).unwrap();

        assert_eq!(series.values(), &[2.5, 3.0, -10.0]);
        assert_eq!(series.name(), "value");
        assert_eq!((series.gaps(), series.filled()), (0, 0));
        assert_eq!(series.times(), None);
    }

    #[test]
    fn interpolates_by_time_when_dates_are_uneven() {
        // 10 days then 30 days between known values: the gap 10 days after 1.0 gets 1.25.
        let text = "date,v\n20000101,1.0\n20000111,\n20000210,2.0\n";
        let options = CsvSeries::column("v").dates("date").gaps(Gaps::Interpolate);

        let series = read(text, &options).unwrap();

        assert_eq!(series.values(), &[1.0, 1.25, 2.0]);
        assert_eq!((series.gaps(), series.filled()), (1, 1));
        let times = series.times().unwrap();
        assert_eq!(times[1] - times[0], 10.0);
    }

    #[test]
    fn interpolates_by_row_without_times_and_by_plain_number_times() {
        let text = "t,v\n0,0\n1,\n2,\n6,6\n";

        let by_row = read(text, &CsvSeries::column("v").gaps(Gaps::Interpolate)).unwrap();
        let by_time = read(
            text,
            &CsvSeries::column("v").times("t").gaps(Gaps::Interpolate),
        );

        assert_eq!(by_row.values(), &[0.0, 2.0, 4.0, 6.0]);
        assert_eq!(by_time.unwrap().values(), &[0.0, 1.0, 2.0, 6.0]);
    }

    #[test]
    fn edge_gaps_cannot_be_interpolated() {
        let options = CsvSeries::column("v").gaps(Gaps::Interpolate);

        let leading = problem(read("v\n\n1\n2\n", &options));
        let trailing = problem(read("v\n1\n2\n \n", &options));

        assert_eq!(
            leading,
            CsvProblem::EdgeGap {
                row: 2,
                column: "v".into()
            }
        );
        assert_eq!(
            trailing,
            CsvProblem::EdgeGap {
                row: 4,
                column: "v".into()
            }
        );
    }

    #[test]
    fn drop_keeps_gaps_as_nan() {
        let series = read("v\n1\n\n3\n", &CsvSeries::column("v").gaps(Gaps::Drop)).unwrap();

        assert!(series.values()[1].is_nan());
        assert_eq!((series.gaps(), series.filled()), (1, 0));
    }

    #[test]
    fn refusal_names_the_spreadsheet_row_and_column() {
        // Header is row 1, so the third data row is row 4.
        let err = read("t,v\n1,1\n2,2\n3,\n", &CsvSeries::column("v")).unwrap_err();

        let message = err.to_string();
        assert!(matches!(
            &err,
            Error::Csv {
                problem: CsvProblem::Gap { row: 4, .. },
                ..
            }
        ));
        assert!(message.contains("row 4, column `v`"), "{message}");
        assert!(message.starts_with("test.csv: "), "{message}");
    }

    #[test]
    fn text_in_a_numeric_column_is_named_with_row_and_column() {
        for text in ["n/a", "NaN", "inf", "3,5"] {
            let csv = format!("v,w\n1,0\n\"{text}\",0\n");
            let found = problem(read(&csv, &CsvSeries::column("v")));

            let CsvProblem::BadValue {
                row,
                column,
                text: got,
                ..
            } = &found
            else {
                panic!("{found:?}")
            };
            assert_eq!((*row, column.as_str(), got.as_str()), (3, "v", text));
            assert!(found.to_string().contains(&format!("found `{text}`")));
        }
    }

    #[test]
    fn missing_column_lists_the_columns_present() {
        let found = problem(read("date,co2\n1,2\n", &CsvSeries::column("CO2")));

        assert_eq!(
            found,
            CsvProblem::MissingColumn {
                column: "CO2".into(),
                present: vec!["date".into(), "co2".into()],
            }
        );
        assert_eq!(
            found.to_string(),
            "no column `CO2`; the header has `date`, `co2`"
        );
    }

    #[test]
    fn wrong_field_count_says_expected_and_got() {
        let found = problem(read("a,b\n1,2\n3\n", &CsvSeries::column("a")));

        assert_eq!(
            found,
            CsvProblem::FieldCount {
                row: 3,
                expected: 2,
                got: 1
            }
        );
    }

    #[test]
    fn empty_file_and_header_only_are_refused() {
        assert_eq!(
            problem(read("", &CsvSeries::column("v"))),
            CsvProblem::Empty
        );
        assert_eq!(
            problem(read("v\n", &CsvSeries::column("v"))),
            CsvProblem::NoRows
        );
        assert_eq!(
            problem(read("v", &CsvSeries::column("v"))),
            CsvProblem::NoRows
        );
    }

    #[test]
    fn bad_dates_and_time_order_are_refused() {
        let options = CsvSeries::column("v").dates("d");

        let bad = problem(read("d,v\n19990230,1\n", &options));
        let order = problem(read("d,v\n19990101,1\n19990101,2\n", &options));

        assert!(matches!(bad, CsvProblem::BadValue { row: 2, ref text, .. } if text == "19990230"));
        assert!(
            matches!(order, CsvProblem::TimeOrder { row: 3, .. }),
            "{order:?}"
        );
    }

    #[test]
    fn rows_count_lines_with_any_line_end() {
        for text in ["a,v\n1,1\n\n", "a,v\r\n1,1\r\n\r\n"] {
            let csv = format!("{text}2,2\n3,x\n");
            let found = problem(read(&csv, &CsvSeries::column("v")));

            // Lines: header, 1, blank, 2, 3 — the blank one is a row without fields.
            assert_eq!(
                found,
                CsvProblem::FieldCount {
                    row: 3,
                    expected: 2,
                    got: 0
                }
            );
        }

        let found = problem(read(
            "a,v\r\n1,1\r\n2,2\r\n3,x\r\n",
            &CsvSeries::column("v"),
        ));
        assert!(
            matches!(found, CsvProblem::BadValue { row: 4, .. }),
            "{found:?}"
        );
    }

    #[test]
    fn a_blank_line_in_a_one_column_file_is_a_gap() {
        let text = "v\n1\n\n3\n\n";

        let refused = problem(read(text, &CsvSeries::column("v")));
        let filled = read(text, &CsvSeries::column("v").gaps(Gaps::Interpolate)).unwrap();

        assert_eq!(
            refused,
            CsvProblem::Gap {
                row: 3,
                column: "v".into()
            }
        );
        // The blank line at the very end is a line end, not a row.
        assert_eq!(filled.values(), &[1.0, 2.0, 3.0]);
    }

    #[test]
    fn quoted_line_breaks_keep_rows_counted() {
        let text = "note,v\n\"two\nlines\",1\nok,x\n";

        let found = problem(read(text, &CsvSeries::column("v")));

        assert!(
            matches!(found, CsvProblem::BadValue { row: 4, .. }),
            "{found:?}"
        );
    }

    #[test]
    fn text_that_is_not_utf8_is_malformed() {
        let bytes: &[u8] = b"v\n1\n\xff\n";

        let err = CsvSeries::column("v")
            .read_from(bytes, "test.csv")
            .unwrap_err();

        let found = problem(Err(err));
        assert!(matches!(found, CsvProblem::Malformed { .. }), "{found:?}");
    }

    #[test]
    fn missing_file_is_an_io_error() {
        let err = CsvSeries::column("v").read("no/such/file.csv").unwrap_err();

        assert!(matches!(err, Error::Io { .. }), "{err:?}");
    }

    #[test]
    fn split_index_rounds_down_like_python() {
        let series = Series::new("v", vec![0.0; 2284]);

        assert_eq!(series.split_index(0.8).unwrap(), 1827);
        assert_eq!(series.split_index(1.0).unwrap(), 2284);
        assert!(series.split_index(0.0).is_err());
        assert!(series.split_index(f64::NAN).is_err());
    }

    #[test]
    fn calendar_features_need_dates() {
        let err = Series::new("v", vec![1.0, 2.0])
            .with_calendar()
            .unwrap_err();

        assert!(
            matches!(
                err,
                Error::InvalidConfig {
                    name: "calendar",
                    ..
                }
            ),
            "{err:?}"
        );
    }
}
