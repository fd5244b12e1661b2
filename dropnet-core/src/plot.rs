//! Loss curves of training histories, drawn as PNG or SVG images (cargo feature `plot`).
//!
//! [`History::plot`] draws one run; [`loss_curves`] draws several side by side, which is
//! how the `dropout_compare` example shows a model with and without dropout. The left
//! panel has every training (dashed) and validation (solid) loss on a log scale; when there
//! is validation data, the right panel has the validation losses alone on a linear scale,
//! from the third epoch on (the first ones would squeeze the rest into a thin band), each
//! run's lowest value marked with a dot.
//!
//! Text is drawn with the DejaVu Sans font bundled in the crate, so plotting needs no
//! system font library. The feature is off by default: `plotters` with its PNG encoder and
//! font rasteriser adds about a minute of CPU time to a clean build.

use std::io;
use std::ops::Range;
use std::path::Path;

use plotters::coord::ranged1d::{AsRangedCoord, ValueFormatter};
use plotters::coord::types::RangedCoordusize;
use plotters::coord::Shift;
use plotters::element::ComposedElement;
use plotters::prelude::*;
use plotters_backend::DrawingErrorKind;
use plotters_bitmap::BitMapBackendError;

use crate::error::{Error, Result};
use crate::history::History;
use crate::weights::folder_problem;

/// The bundled font, registered as the family every label uses.
const FONT: &[u8] = include_bytes!("../assets/fonts/DejaVuSans.ttf");

/// Width and height of the image in pixels.
const SIZE: (u32, u32) = (1400, 640);

/// Line colours, one per run, in order (then repeated).
const COLORS: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(255, 127, 14),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
];

impl History {
    /// Draws this history's training and validation losses to `path`, a PNG or (by the
    /// extension `svg`) an SVG image; see [`crate::plot`] for the layout. Needs the cargo
    /// feature `plot`.
    ///
    /// # Errors
    /// As [`loss_curves`].
    pub fn plot(&self, path: impl AsRef<Path>) -> Result<()> {
        loss_curves(path, "Training history", &[("", self)])
    }
}

/// Draws the losses of several runs, each a name and its history, to `path`: a PNG or
/// (by the extension `svg`) an SVG image titled `title`. The legend names each curve
/// `training, <name>` or `validation, <name>` (just `training` for an empty name). The
/// x axis is the epoch numbers of the records. NaN, infinite and (on the log scale)
/// non-positive losses are left out of the curves.
///
/// # Errors
/// [`Error::InvalidConfig`] when `path` does not end in `.png` or `.svg`, or no run has an
/// epoch; [`Error::Io`] naming `path` when the image cannot be written: before anything is
/// drawn, in the words [`crate::weights::save`] uses, when the folder of `path` does not
/// exist or is not a folder; else with the operating system's reason.
pub fn loss_curves(path: impl AsRef<Path>, title: &str, runs: &[(&str, &History)]) -> Result<()> {
    let path = path.as_ref();
    let extension = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_lowercase);
    if runs.iter().all(|(_, history)| history.is_empty()) {
        return Err(Error::config("history", "has no epochs to plot"));
    }
    let svg = match extension.as_deref() {
        Some("png") => false,
        Some("svg") => true,
        _ => {
            let reason = format!("a plot is a .png or .svg file, got {}", path.display());
            return Err(Error::config("path", reason));
        }
    };
    // Plotters only opens the file when the image is complete, and then reports a missing
    // folder as a dump of its nested error types; checking first gives the words weights
    // saving uses and skips the drawing.
    if let Some(problem) = folder_problem(path) {
        return Err(problem);
    }
    let curves: Vec<Curves> = runs
        .iter()
        .enumerate()
        .map(|(i, (name, history))| Curves::new(name, history, COLORS[i % COLORS.len()]))
        .collect();

    plotters::style::register_font("sans-serif", FontStyle::Normal, FONT)
        .map_err(|_| Error::io(path, io::Error::other("the bundled font is unreadable")))?;
    let drawn = if svg {
        draw(
            SVGBackend::new(path, SIZE).into_drawing_area(),
            title,
            &curves,
        )
    } else {
        draw(
            BitMapBackend::new(path, SIZE).into_drawing_area(),
            title,
            &curves,
        )
    };
    drawn.map_err(|error| Error::io(path, error))
}

/// The points of one run, as `(epoch, loss)`.
struct Curves {
    name: String,
    color: RGBColor,
    train: Vec<(usize, f64)>,
    val: Vec<(usize, f64)>,
}

impl Curves {
    fn new(name: &str, history: &History, color: RGBColor) -> Self {
        let points = |key: fn(&crate::history::EpochRecord) -> Option<f64>| {
            history
                .records()
                .iter()
                .filter_map(|r| key(r).filter(|v| v.is_finite()).map(|v| (r.epoch, v)))
                .collect()
        };
        Self {
            name: name.to_owned(),
            color,
            train: points(|r| Some(r.loss)),
            val: points(|r| r.val_loss),
        }
    }

    /// A legend label: `what`, then the run's name if it has one.
    fn label(&self, what: &str) -> String {
        match self.name.as_str() {
            "" => what.to_owned(),
            name => format!("{what}, {name}"),
        }
    }

    /// The epoch and value of the lowest validation loss.
    fn best(&self) -> Option<(usize, f64)> {
        self.val.iter().copied().min_by(|a, b| a.1.total_cmp(&b.1))
    }
}

/// The result of drawing, with plotters' errors as I/O errors (see [`io_error`]).
type Drawn = std::result::Result<(), io::Error>;

/// A plotters error as a short I/O error: the operating system's error when one is inside
/// (the image file cannot be written), else plotters' own message.
///
/// Plotters' `Display` for a backend error is a `Debug` dump of nested types, so the I/O
/// error is dug out of the two backends used here rather than printed.
fn io_error<E>(error: DrawingAreaErrorKind<E>) -> io::Error
where
    E: std::error::Error + Send + Sync + 'static,
{
    let backend = match error {
        DrawingAreaErrorKind::BackendError(DrawingErrorKind::DrawingError(backend)) => backend,
        DrawingAreaErrorKind::BackendError(DrawingErrorKind::FontError(font)) => {
            return io::Error::other(format!("cannot draw text: {font}"));
        }
        other => return io::Error::other(format!("cannot draw the plot: {other}")),
    };
    let boxed: Box<dyn std::error::Error + Send + Sync> = Box::new(backend);
    // The SVG backend's error type is `io::Error` itself.
    let boxed = match boxed.downcast::<io::Error>() {
        Ok(error) => return *error,
        Err(boxed) => boxed,
    };
    match boxed.downcast::<BitMapBackendError>() {
        Ok(bitmap) => match *bitmap {
            BitMapBackendError::IOError(error) => error,
            // The PNG encoder wraps the error of creating the file.
            BitMapBackendError::ImageError(image::ImageError::IoError(error)) => error,
            BitMapBackendError::ImageError(image) => {
                io::Error::other(format!("cannot encode the image: {image}"))
            }
            other => io::Error::other(format!("cannot draw the image: {other}")),
        },
        Err(other) => io::Error::other(format!("cannot draw the plot: {other}")),
    }
}

/// Draws the title and the panels on `area`.
fn draw<DB: DrawingBackend>(area: DrawingArea<DB, Shift>, title: &str, curves: &[Curves]) -> Drawn
where
    DB::ErrorType: 'static,
{
    area.fill(&WHITE).map_err(io_error)?;
    let area = area.titled(title, ("sans-serif", 26)).map_err(io_error)?;
    if curves.iter().any(|c| !c.val.is_empty()) {
        let (left, right) = area.split_horizontally(area.dim_in_pixel().0 * 55 / 100);
        all_losses(&left, curves)?;
        validation_losses(&right, curves)?;
    } else {
        all_losses(&area, curves)?;
    }
    area.present().map_err(io_error)
}

/// One line of the log panel.
struct Series {
    label: String,
    points: Vec<(usize, f64)>,
    color: RGBColor,
    /// Training losses are dashed, validation losses solid.
    dashed: bool,
}

impl Series {
    fn new(label: String, points: Vec<(usize, f64)>, color: RGBColor, dashed: bool) -> Self {
        Self {
            label,
            points,
            color,
            dashed,
        }
    }
}

/// Training (dashed) and validation (solid) losses of every run, log scale.
fn all_losses<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, curves: &[Curves]) -> Drawn
where
    DB::ErrorType: 'static,
{
    let positive = |points: &[(usize, f64)]| -> Vec<(usize, f64)> {
        points.iter().copied().filter(|&(_, v)| v > 0.0).collect()
    };
    let series: Vec<Series> = curves
        .iter()
        .flat_map(|c| {
            [
                Series::new(c.label("validation"), positive(&c.val), c.color, false),
                Series::new(c.label("training"), positive(&c.train), c.color, true),
            ]
        })
        .filter(|s| !s.points.is_empty())
        .collect();
    let (low, high) = bounds(series.iter().flat_map(|s| s.points.iter().map(|p| p.1)));
    let low = low.max(1e-12);
    let y_range = (low / 1.5..high.max(low) * 1.5).log_scale();
    let x_range = epochs(curves, false);
    let mut chart = chart(area, "all losses (log scale)", x_range, y_range, None)?;
    for Series {
        label,
        points,
        color,
        dashed,
    } in series
    {
        let style = color.stroke_width(3);
        let drawn = if dashed {
            chart.draw_series(DashedLineSeries::new(points, 10, 6, style))
        } else {
            chart.draw_series(LineSeries::new(points, style))
        };
        drawn
            .map_err(io_error)?
            .label(label)
            .legend(move |(x, y)| legend_line(x, y, color, dashed));
    }
    legend(&mut chart, SeriesLabelPosition::LowerLeft)
}

/// The validation losses alone, linear scale, from the third epoch on when there are more
/// than four, each lowest point marked.
fn validation_losses<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, curves: &[Curves]) -> Drawn
where
    DB::ErrorType: 'static,
{
    let x_range = epochs(curves, true);
    let first = x_range.start;
    let late = |c: &Curves| -> Vec<(usize, f64)> {
        c.val.iter().copied().filter(|&(e, _)| e >= first).collect()
    };
    let (low, high) = bounds(curves.iter().flat_map(late).map(|p| p.1));
    let pad = (high - low).max(1e-3) * 0.1;
    let title = format!("validation loss from epoch {first} (linear scale)");
    let y_range = low - pad..high + pad;
    let mut chart = chart(area, &title, x_range, y_range, Some(high - low + 2.0 * pad))?;
    for c in curves.iter().filter(|c| !c.val.is_empty()) {
        let color = c.color;
        let label = match c.best() {
            Some((epoch, best)) => {
                format!(
                    "{} (dot: lowest, {best:.3} at epoch {epoch})",
                    c.label("validation")
                )
            }
            None => c.label("validation"),
        };
        chart
            .draw_series(LineSeries::new(late(c), color.stroke_width(3)))
            .map_err(io_error)?
            .label(label)
            .legend(move |(x, y)| legend_line(x, y, color, false));
        if let Some(best) = c.best() {
            chart
                .draw_series([Circle::new(best, 7, color.filled())])
                .map_err(io_error)?;
        }
    }
    legend(&mut chart, SeriesLabelPosition::UpperRight)
}

/// The lowest and highest of `values`, `(1e-3, 1)` when there are none.
fn bounds(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (low, high) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    if low.is_finite() && high.is_finite() {
        (low, high)
    } else {
        (1e-3, 1.0)
    }
}

/// The epochs across the x axis: from the first epoch of any run (two later for the
/// validation panel when there are more than four) to the last, at least two wide.
fn epochs(curves: &[Curves], validation: bool) -> Range<usize> {
    let all = || {
        curves
            .iter()
            .flat_map(|c| if validation { &c.val } else { &c.train })
            .map(|p| p.0)
    };
    let (first, last) = (all().min().unwrap_or(1), all().max().unwrap_or(1));
    let first = if validation && last - first >= 4 {
        first + 2
    } else {
        first
    };
    first..last.max(first + 1)
}

/// A chart on `area` titled `title`, `x_range` epochs across and `y_range` up, with its
/// mesh drawn. `linear_span` is the height of a linear y axis, which sets how many
/// decimals its labels need; `None` for a log axis.
fn chart<'a, DB, R>(
    area: &'a DrawingArea<DB, Shift>,
    title: &str,
    x_range: Range<usize>,
    y_range: R,
    linear_span: Option<f64>,
) -> std::result::Result<
    ChartContext<'a, DB, Cartesian2d<RangedCoordusize, R::CoordDescType>>,
    io::Error,
>
where
    DB: DrawingBackend,
    DB::ErrorType: 'static,
    R: AsRangedCoord<Value = f64>,
    R::CoordDescType: ValueFormatter<f64>,
{
    let mut chart = ChartBuilder::on(area)
        .caption(title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(45)
        .y_label_area_size(70)
        .build_cartesian_2d(x_range, y_range)
        .map_err(io_error)?;
    chart
        .configure_mesh()
        .x_desc("epoch")
        .y_desc("loss")
        .axis_desc_style(("sans-serif", 18))
        .label_style(("sans-serif", 15))
        .y_label_formatter(&|v| short(*v, linear_span))
        .light_line_style(WHITE.mix(0.0))
        .draw()
        .map_err(io_error)?;
    Ok(chart)
}

/// A loss for an axis label, without trailing zeros: two decimals (four below 0.1) on a
/// log axis; on a linear axis `span` high, enough decimals that ticks a tenth of the span
/// apart read differently.
fn short(value: f64, span: Option<f64>) -> String {
    let decimals = match span {
        // A tick step of span/10 needs the decimals of its first significant digit.
        Some(span) if span > 0.0 && span.is_finite() => {
            (1.0 - (span / 10.0).log10().floor()).clamp(2.0, 8.0) as usize
        }
        _ if value >= 0.1 => 2,
        _ => 4,
    };
    // At least two decimals, so there is always a point before the zeros trimmed.
    let text = format!("{value:.decimals$}");
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// Two pieces of line drawn relative to a point in pixels.
type LegendLine<DB> =
    ComposedElement<(i32, i32), DB, PathElement<(i32, i32)>, PathElement<(i32, i32)>>;

/// A legend sample: a line 20 pixels long, in two pieces with a gap when `dashed`.
fn legend_line<DB: DrawingBackend>(
    x: i32,
    y: i32,
    color: RGBColor,
    dashed: bool,
) -> LegendLine<DB> {
    let gap = if dashed { 5 } else { 0 };
    let style = color.stroke_width(3);
    EmptyElement::at((x, y))
        + PathElement::new([(0, 0), (8, 0)], style)
        + PathElement::new([(8 + gap, 0), (20, 0)], style)
}

/// Draws the legend of `chart` at `position`.
fn legend<'a, DB: DrawingBackend + 'a, X: Ranged, Y: Ranged>(
    chart: &mut ChartContext<'a, DB, Cartesian2d<X, Y>>,
    position: SeriesLabelPosition,
) -> Drawn
where
    DB::ErrorType: 'static,
{
    chart
        .configure_series_labels()
        .position(position)
        .label_font(("sans-serif", 16))
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .draw()
        .map_err(io_error)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::EpochRecord;
    use crate::weights::tests::Scratch;

    fn history(epochs: usize, validation: bool, offset: f64) -> History {
        let mut history = History::new();
        for epoch in 1..=epochs {
            let loss = 1.0 / epoch as f64 + offset;
            let record = EpochRecord {
                epoch,
                loss,
                accuracy: None,
                val_loss: validation.then_some(loss + 0.1 + 0.01 * epoch as f64),
                val_accuracy: None,
            };
            history.push(record, 0.1);
        }
        history
    }

    #[test]
    fn draws_png_and_svg_images() {
        let dir = Scratch::new("plot");
        let (png, svg) = (dir.0.join("h.png"), dir.0.join("h.svg"));
        let (a, b) = (history(8, true, 0.0), history(8, true, 0.05));

        history(3, false, 0.0).plot(&png).unwrap();
        loss_curves(&svg, "two runs", &[("a", &a), ("b", &b)]).unwrap();

        let png_bytes = std::fs::read(&png).unwrap();
        assert_eq!(&png_bytes[..8], b"\x89PNG\r\n\x1a\n");
        let mut reader = png::Decoder::new(png_bytes.as_slice()).read_info().unwrap();
        let mut pixels = vec![0; reader.output_buffer_size()];
        let frame = reader.next_frame(&mut pixels).unwrap();
        assert_eq!((frame.width, frame.height), SIZE);
        // Not a blank canvas: the curves and labels are drawn on the white background.
        let white = pixels[..frame.buffer_size()]
            .iter()
            .filter(|&&b| b == 255)
            .count();
        assert!(white < frame.buffer_size(), "the image is all white");
        let svg_text = std::fs::read_to_string(&svg).unwrap();
        assert!(
            svg_text.contains("validation, b (dot: lowest, "),
            "the legend is drawn"
        );
        assert!(svg_text.contains("validation loss from epoch 3"));
    }

    #[test]
    fn linear_axis_labels_have_the_decimals_their_span_needs() {
        assert_eq!(short(2.2512, Some(0.03)), "2.2512");
        assert_eq!(short(2.25, Some(0.03)), "2.25");
        assert_eq!(short(0.3, Some(2.0)), "0.3");
        assert_eq!(short(20.0, None), "20");
        assert_eq!(short(0.012_34, None), "0.0123");
    }

    #[test]
    fn odd_histories_draw_and_bad_paths_are_errors() {
        let dir = Scratch::new("plot-odd");
        let mut odd = History::new();
        for (epoch, loss) in [(5, f64::NAN), (6, 0.0), (7, f64::INFINITY)] {
            let record = EpochRecord {
                epoch,
                loss,
                accuracy: None,
                val_loss: Some(loss),
                val_accuracy: None,
            };
            odd.push(record, 0.0);
        }

        odd.plot(dir.0.join("odd.svg")).unwrap();

        let err = history(2, false, 0.0)
            .plot(dir.0.join("h.jpg"))
            .unwrap_err();
        assert!(
            matches!(err, Error::InvalidConfig { name: "path", .. }),
            "{err:?}"
        );
        let err = History::new().plot(dir.0.join("h.png")).unwrap_err();
        assert!(
            matches!(
                err,
                Error::InvalidConfig {
                    name: "history",
                    ..
                }
            ),
            "{err:?}"
        );
    }

    #[test]
    fn a_missing_folder_or_a_file_as_folder_is_reported_as_weights_saving_does() {
        let dir = Scratch::new("plot-folder");
        let file = dir.0.join("file.txt");
        std::fs::write(&file, "not a folder").unwrap();
        let short = history(2, false, 0.0);

        for folder in [dir.0.join("missing"), file] {
            for name in ["h.png", "h.svg"] {
                let path = folder.join(name);
                let err = short.plot(&path).unwrap_err();
                let saved = crate::weights::save_layers("none", &[], &path).unwrap_err();

                assert_eq!(err.to_string(), saved.to_string());
                assert!(
                    matches!(&err, Error::Io { path: p, .. } if *p == path),
                    "{err:?}"
                );
            }
        }
        let err = short.plot(dir.0.join("missing").join("h.png")).unwrap_err();
        assert!(err.to_string().ends_with("missing does not exist"), "{err}");
        let err = short
            .plot(dir.0.join("file.txt").join("h.png"))
            .unwrap_err();
        assert!(
            err.to_string().ends_with("file.txt is not a folder"),
            "{err}"
        );
        assert!(dir.listing() == ["file.txt"], "nothing else is written");
    }

    #[test]
    fn an_unwritable_image_is_reported_with_the_os_reason_not_a_dump() {
        let dir = Scratch::new("plot-unwritable");
        for name in ["h.png", "h.svg"] {
            // A folder where the image should go: its folder exists, the file cannot be
            // created, so the error comes from plotters.
            let path = dir.0.join(name);
            std::fs::create_dir(&path).unwrap();

            let err = history(2, true, 0.0).plot(&path).unwrap_err();

            let Error::Io { path: named, error } = &err else {
                panic!("{err:?}");
            };
            assert_eq!(named, &path);
            assert_eq!(error.kind(), io::ErrorKind::IsADirectory, "{err}");
            let text = err.to_string();
            assert!(text.starts_with(&format!("{}: ", path.display())), "{text}");
            assert!(text.contains("(os error"), "{text}");
            for dump in ["backend", "Error(", "Os {"] {
                assert!(!text.contains(dump), "{text}");
            }
        }
    }
}
