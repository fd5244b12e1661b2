//! Calendar dates written `YYYYMMDD`, as day numbers and back.
//!
//! A day number counts days from 1970-01-01 (day 0), negative before it, in the proleptic
//! Gregorian calendar. Differences of day numbers are the days between two dates, which is
//! all linear interpolation in time needs, so no date crate is required.

/// Days in each month of a common year.
const MONTH_DAYS: [u32; 12] = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/// True for Gregorian leap years.
fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

/// Days in `year`.
fn year_len(year: i64) -> i64 {
    if is_leap(year) {
        366
    } else {
        365
    }
}

/// Day number of 1 January of `year`.
fn year_start(year: i64) -> i64 {
    // Leap days in the years 1..y, counted by the Gregorian rule.
    let leaps_before = |y: i64| {
        let y = y - 1;
        y.div_euclid(4) - y.div_euclid(100) + y.div_euclid(400)
    };
    365 * (year - 1970) + leaps_before(year) - leaps_before(1970)
}

/// Parses `YYYYMMDD` (exactly eight ASCII digits, a real date) into a day number.
///
/// Returns `None` for anything else, including 29 February of a common year.
pub(crate) fn parse_yyyymmdd(text: &str) -> Option<i64> {
    if text.len() != 8 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let year: i64 = text[..4].parse().ok()?;
    let month: usize = text[4..6].parse().ok()?;
    let day: u32 = text[6..].parse().ok()?;
    if year == 0 || !(1..=12).contains(&month) || day == 0 {
        return None;
    }

    let leap_day = u32::from(month == 2 && is_leap(year));
    if day > MONTH_DAYS[month - 1] + leap_day {
        return None;
    }

    let before_month: u32 = MONTH_DAYS[..month - 1].iter().sum();
    let leap_before = i64::from(month > 2 && is_leap(year));
    Some(year_start(year) + i64::from(before_month + day - 1) + leap_before)
}

/// The year of a day number and the day's place in it (1 January is day 1).
pub(crate) fn year_and_day(day_number: i64) -> (i64, i64) {
    // The average Gregorian year gives a guess off by at most one either way.
    let mut year = 1970 + (day_number as f64 / 365.2425).floor() as i64;
    while year_start(year) > day_number {
        year -= 1;
    }
    while year_start(year + 1) <= day_number {
        year += 1;
    }
    (year, day_number - year_start(year) + 1)
}

/// The place of a day in its year as an angle: 0 on 1 January, a full turn after the last day.
///
/// This is the week of the year as a fraction of the year's weeks (`(day − 1) / 7` weeks of
/// `days / 7`), so week 1 of every year maps to the same angle whatever its length.
pub(crate) fn year_angle(day_number: i64) -> f64 {
    let (year, day) = year_and_day(day_number);
    let week = (day - 1) as f64 / 7.0;
    let weeks_in_year = year_len(year) as f64 / 7.0;
    std::f64::consts::TAU * week / weeks_in_year
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_day_numbers() {
        assert_eq!(parse_yyyymmdd("19700101"), Some(0));
        assert_eq!(parse_yyyymmdd("19700102"), Some(1));
        assert_eq!(parse_yyyymmdd("19691231"), Some(-1));
        assert_eq!(parse_yyyymmdd("20000301"), Some(11_017));
        // Python: date(1958, 3, 29).toordinal() - date(1970, 1, 1).toordinal()
        assert_eq!(parse_yyyymmdd("19580329"), Some(-4_296));
    }

    #[test]
    fn leap_years_follow_the_gregorian_rule() {
        assert!(parse_yyyymmdd("20000229").is_some());
        assert!(parse_yyyymmdd("19960229").is_some());
        assert_eq!(parse_yyyymmdd("19000229"), None);
        assert_eq!(parse_yyyymmdd("20010229"), None);

        let feb28 = parse_yyyymmdd("20000228").unwrap();
        let mar01 = parse_yyyymmdd("20000301").unwrap();
        assert_eq!(mar01 - feb28, 2);
    }

    #[test]
    fn malformed_dates_are_refused() {
        for text in [
            "",
            "1958032",
            "195803290",
            "1958-3-29",
            "19581301",
            "19580100",
            "00000101",
        ] {
            assert_eq!(parse_yyyymmdd(text), None, "{text}");
        }
        assert_eq!(parse_yyyymmdd("19580431"), None);
    }

    #[test]
    fn day_numbers_convert_back() {
        for text in [
            "19580329", "19691231", "19700101", "20001231", "20010101", "19000301",
        ] {
            let number = parse_yyyymmdd(text).unwrap();
            let (year, day) = year_and_day(number);

            assert_eq!(year, text[..4].parse::<i64>().unwrap(), "{text}");
            assert_eq!(year_start(year) + day - 1, number, "{text}");
        }
        assert_eq!(
            year_and_day(parse_yyyymmdd("20001231").unwrap()),
            (2000, 366)
        );
        assert_eq!(
            year_and_day(parse_yyyymmdd("19580329").unwrap()),
            (1958, 88)
        );
    }

    #[test]
    fn angle_starts_each_year_at_zero_and_turns_once() {
        let jan1 = parse_yyyymmdd("19900101").unwrap();
        let jul2 = parse_yyyymmdd("19900702").unwrap();

        assert_eq!(year_angle(jan1), 0.0);
        // 2 July 1990 is day 183 of 365: 182 days past 1 January, half a turn less half a day.
        let expected = std::f64::consts::TAU * 182.0 / 365.0;
        assert!((year_angle(jul2) - expected).abs() < 1e-12);
        assert!(year_angle(jan1 - 1) < std::f64::consts::TAU);
    }
}
