//! Maintenance windows (`--window 'Sat 02:00-04:00'`, repeatable): no batch starts outside
//! them. Times are read in one zone, `--timezone` or the controller's own, with jiff and
//! the system's tz database, so a window means the same across a daylight-saving change.
//!
//! Syntax: `[DAYS ]HH:MM-HH:MM`, DAYS being a day (`Sat`), a range (`Mon-Fri`), a list
//! (`Sat,Sun`) or `daily` (also the default). A window whose end is not after its start
//! runs past midnight: `Fri 22:00-02:00` is open from Friday 22:00 to Saturday 02:00.

use std::str::FromStr;

use jiff::civil::Weekday;
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan as _};

/// One window: the days it opens on, and its times in minutes since midnight.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Window {
    /// Indexed by days since Monday.
    days: [bool; 7],
    start: u16,
    end: u16,
    text: String,
}

/// A `--window` that cannot be read; the message says the expected syntax.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{text}`: {why}; expected `[DAYS ]HH:MM-HH:MM`, e.g. `Sat 02:00-04:00` or `Mon-Fri 22:00-02:00`"
)]
pub struct BadWindow {
    pub text: String,
    pub why: String,
}

const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

fn day(word: &str) -> Option<usize> {
    let word = word.to_ascii_lowercase();
    DAYS.iter()
        .position(|d| word.len() >= 3 && d.starts_with(&word[..3]) && is_day_name(&word))
}

/// `sat`, `Saturday`, `SAT`: the three-letter abbreviation or the whole English name.
fn is_day_name(word: &str) -> bool {
    const NAMES: [&str; 7] = [
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
    ];
    word.len() == 3 || NAMES.contains(&word)
}

fn minutes(text: &str) -> Option<u16> {
    let (h, m) = text.split_once(':')?;
    let (h, m): (u16, u16) = (h.parse().ok()?, m.parse().ok()?);
    (h < 24 && m < 60 && text.len() <= 5).then_some(h * 60 + m)
}

impl FromStr for Window {
    type Err = BadWindow;

    fn from_str(text: &str) -> Result<Self, BadWindow> {
        let bad = |why: &str| BadWindow {
            text: text.to_string(),
            why: why.to_string(),
        };
        let mut words: Vec<&str> = text.split_whitespace().collect();
        let times = words.pop().ok_or_else(|| bad("it is empty"))?;
        let mut days = [words.is_empty(); 7];
        for spec in words
            .iter()
            .flat_map(|w| w.split(','))
            .filter(|w| !w.is_empty())
        {
            if spec.eq_ignore_ascii_case("daily") {
                days = [true; 7];
                continue;
            }
            let (first, last) = spec.split_once('-').unwrap_or((spec, spec));
            let unknown = || {
                bad(&format!(
                    "`{spec}` is not a day (Mon, Tue, ..., Sun, or daily)"
                ))
            };
            let (first, last) = (
                day(first).ok_or_else(unknown)?,
                day(last).ok_or_else(unknown)?,
            );
            let mut d = first;
            loop {
                days[d] = true;
                if d == last {
                    break;
                }
                d = (d + 1) % 7;
            }
        }
        let (start, end) = times
            .split_once('-')
            .ok_or_else(|| bad("the times need a `-` between start and end"))?;
        let not_time = |t: &str| bad(&format!("`{t}` is not a time HH:MM (00:00-23:59)"));
        let start = minutes(start).ok_or_else(|| not_time(start))?;
        let end = minutes(end).ok_or_else(|| not_time(end))?;
        if start == end {
            return Err(bad("it starts and ends at the same time"));
        }
        Ok(Window {
            days,
            start,
            end,
            text: text.to_string(),
        })
    }
}

impl Window {
    /// Whether the window is open on `weekday` (days since Monday) at `minute`.
    fn contains(&self, weekday: usize, minute: u16) -> bool {
        if self.start < self.end {
            self.days[weekday] && (self.start..self.end).contains(&minute)
        } else {
            (self.days[weekday] && minute >= self.start)
                || (self.days[(weekday + 6) % 7] && minute < self.end)
        }
    }

    /// As the user wrote it.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

/// The campaign's windows and the zone they are read in. No window: always open.
#[derive(Debug, Clone)]
pub struct Schedule {
    pub windows: Vec<Window>,
    pub zone: TimeZone,
}

/// A `--timezone` that the tz database does not know.
#[derive(Debug, thiserror::Error)]
#[error(
    "--timezone `{zone}` is not a time zone of the system's tz database ({why}); use a name such as `Europe/Paris` or `UTC`"
)]
pub struct BadZone {
    pub zone: String,
    pub why: String,
}

impl Schedule {
    /// `zone` by name, or the controller's own zone.
    pub fn new(windows: Vec<Window>, zone: Option<&str>) -> Result<Self, BadZone> {
        let zone = match zone {
            Some(name) => TimeZone::get(name).map_err(|e| BadZone {
                zone: name.to_string(),
                why: e.to_string(),
            })?,
            None => TimeZone::try_system().unwrap_or(TimeZone::UTC),
        };
        Ok(Schedule { windows, zone })
    }

    pub fn is_open(&self, at: Timestamp) -> bool {
        if self.windows.is_empty() {
            return true;
        }
        let local = at.to_zoned_datetime(self.zone.clone());
        let weekday = weekday_index(local.weekday());
        let minute =
            u16::from(local.hour().unsigned_abs()) * 60 + u16::from(local.minute().unsigned_abs());
        self.windows.iter().any(|w| w.contains(weekday, minute))
    }

    /// When a window next opens at or after `at`: `at` itself when one is open. `None`
    /// only if no window has a day (impossible once parsed).
    pub fn next_open(&self, at: Timestamp) -> Option<Timestamp> {
        if self.is_open(at) {
            return Some(at);
        }
        let today = at.to_zoned_datetime(self.zone.clone()).date();
        (0..8i32)
            .filter_map(|ahead| today.checked_add(ahead.days()).ok())
            .flat_map(|date| {
                let weekday = weekday_index(date.weekday());
                self.windows
                    .iter()
                    .filter(move |w| w.days[weekday])
                    .filter_map(move |w| {
                        let (h, m) = (w.start / 60, w.start % 60);
                        let time =
                            jiff::civil::time(i8::try_from(h).ok()?, i8::try_from(m).ok()?, 0, 0);
                        date.to_datetime(time)
                            .to_zoned_datetime(self.zone.clone())
                            .ok()
                            .map(|z| z.timestamp())
                    })
            })
            .filter(|start| *start > at)
            .min()
    }
}

fn weekday_index(weekday: Weekday) -> usize {
    usize::from(Weekday::Monday.until(weekday).unsigned_abs())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schedule(windows: &[&str]) -> Schedule {
        let windows = windows.iter().map(|w| w.parse().expect("window")).collect();
        Schedule::new(windows, Some("Europe/Paris")).expect("zone")
    }

    fn at(text: &str) -> Timestamp {
        let zoned: jiff::ZonedDateTime = format!("{text}[Europe/Paris]").parse().expect("time");
        zoned.timestamp()
    }

    #[test]
    fn windows_open_on_their_days_and_times() {
        // 2026-11-28 is a Saturday.
        let s = schedule(&["Sat 02:00-04:00"]);
        assert!(s.is_open(at("2026-11-28T02:00")));
        assert!(s.is_open(at("2026-11-28T03:59")));
        assert!(!s.is_open(at("2026-11-28T04:00")), "the end is excluded");
        assert!(!s.is_open(at("2026-11-29T02:30")), "Sunday");
        let weekdays = schedule(&["Mon-Fri 22:00-02:00"]);
        assert!(weekdays.is_open(at("2026-11-27T23:00")), "Friday night");
        assert!(
            weekdays.is_open(at("2026-11-28T01:00")),
            "past midnight into Saturday"
        );
        assert!(!weekdays.is_open(at("2026-11-28T23:00")), "Saturday night");
        assert!(!weekdays.is_open(at("2026-11-30T01:00")), "Sunday night");
        assert!(schedule(&[]).is_open(at("2026-11-28T12:00")));
        let wrapped = schedule(&["Fri-Mon 01:00-02:00"]);
        assert!(wrapped.is_open(at("2026-11-30T01:30")), "Monday");
        assert!(!wrapped.is_open(at("2026-12-01T01:30")), "Tuesday");
    }

    #[test]
    fn the_next_opening_is_found() {
        let s = schedule(&["Sat 02:00-04:00", "daily 12:00-12:30"]);
        assert_eq!(
            s.next_open(at("2026-11-28T05:00")),
            Some(at("2026-11-28T12:00"))
        );
        assert_eq!(
            s.next_open(at("2026-11-28T12:10")),
            Some(at("2026-11-28T12:10"))
        );
        let weekly = schedule(&["Sat 02:00-04:00"]);
        assert_eq!(
            weekly.next_open(at("2026-11-28T05:00")),
            Some(at("2026-12-05T02:00"))
        );
    }

    #[test]
    fn bad_windows_say_why() {
        let err = |text: &str| text.parse::<Window>().expect_err(text).to_string();
        assert!(
            err("Sat 2-4").contains("`2` is not a time HH:MM"),
            "{}",
            err("Sat 2-4")
        );
        assert!(err("Sot 02:00-04:00").contains("`Sot` is not a day"));
        assert!(err("").contains("it is empty"));
        assert!(err("Sat 02:00").contains("`-` between start and end"));
        assert!(err("Sat 24:00-01:00").contains("`24:00` is not a time"));
        assert!(err("Sat 02:00-02:00").contains("same time"));
        assert!("saturday,Sun 02:00-04:00".parse::<Window>().is_ok());
        assert!("02:00-04:00".parse::<Window>().is_ok());
        let zone = Schedule::new(Vec::new(), Some("Mars/Olympus")).expect_err("no zone");
        assert!(zone.to_string().contains("Mars/Olympus"));
    }
}
