//! Business hours: a weekly schedule at a fixed UTC offset. `open_at` tells whether a moment is
//! inside it; `next_open` when it opens next (for "we're back at …").
use chrono::{DateTime, Datelike, Days, FixedOffset, NaiveDateTime, NaiveTime, Offset, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use crate::error::{AppError, AppResult};

pub const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BusinessHours {
    #[serde(default)]
    pub utc_offset_minutes: i32,
    /// Day (`mon`…`sun`) → `["HH:MM", "HH:MM"]`; a missing day is closed.
    pub days: BTreeMap<String, [String; 2]>,
}

impl BusinessHours {
    /// Checks the schedule, so a saved one always parses.
    pub fn validate(&self) -> AppResult<()> {
        if !(-14 * 60..=14 * 60).contains(&self.utc_offset_minutes) {
            return Err(AppError::Invalid(
                "utc_offset_minutes must be between -840 and 840".into(),
            ));
        }
        for (day, [open, close]) in &self.days {
            if !DAYS.contains(&day.as_str()) {
                return Err(AppError::Invalid(format!(
                    "unknown day {day:?}: use mon, tue, wed, thu, fri, sat, sun"
                )));
            }
            let (o, c) = (parse_time(open)?, parse_time(close)?);
            if o >= c {
                return Err(AppError::Invalid(format!(
                    "{day}: opening time must be before closing time"
                )));
            }
        }
        Ok(())
    }

    /// The schedule's offset; UTC for an out-of-range one (only an unvalidated row has that, and
    /// `minutes * 60` would overflow for the largest).
    fn offset(&self) -> FixedOffset {
        self.utc_offset_minutes
            .checked_mul(60)
            .and_then(FixedOffset::east_opt)
            .unwrap_or_else(|| Utc.fix())
    }

    fn window(&self, weekday: usize) -> Option<(NaiveTime, NaiveTime)> {
        let [o, c] = self.days.get(DAYS[weekday])?;
        Some((parse_time(o).ok()?, parse_time(c).ok()?))
    }

    /// The wall-clock time at `t`, if the calendar has one: near the ends of chrono's range the
    /// shifted time does not exist (`DateTime::with_timezone` then panics when read).
    fn local(&self, t: DateTime<Utc>) -> Option<NaiveDateTime> {
        t.naive_utc().checked_add_offset(self.offset())
    }

    pub fn open_at(&self, t: DateTime<Utc>) -> bool {
        let Some(local) = self.local(t) else {
            return false;
        };
        let wd = local.weekday().num_days_from_monday() as usize;
        self.window(wd)
            .is_some_and(|(o, c)| (o..c).contains(&local.time()))
    }

    /// The next opening time after `t` (None when no day is open).
    pub fn next_open(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let local = self.local(t)?;
        for add in 0..8 {
            // Checked: at the end of chrono's calendar there is no next day (the `+` panicked).
            let day = local.date().checked_add_days(Days::new(add))?;
            let wd = day.weekday().num_days_from_monday() as usize;
            if let Some((o, _)) = self.window(wd) {
                let at = day.and_time(o);
                if at > local {
                    return at.checked_sub_offset(self.offset()).map(|u| u.and_utc());
                }
            }
        }
        None
    }
}

fn parse_time(s: &str) -> AppResult<NaiveTime> {
    if s == "24:00" {
        return NaiveTime::from_hms_opt(23, 59, 59).ok_or(AppError::Invalid("bad time".into()));
    }
    NaiveTime::parse_from_str(s, "%H:%M")
        .map_err(|_| AppError::Invalid(format!("time {s:?} must be HH:MM")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn weekdays_9_to_5(offset: i32) -> BusinessHours {
        let mut days = BTreeMap::new();
        for d in &DAYS[..5] {
            days.insert(d.to_string(), ["09:00".into(), "17:00".into()]);
        }
        BusinessHours {
            utc_offset_minutes: offset,
            days,
        }
    }

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn open_and_next_open_respect_offset_and_weekend() {
        let h = weekdays_9_to_5(60); // UTC+1
        // Friday 2026-11-27 10:00 local = 09:00Z
        assert!(h.open_at(at("2026-11-27T09:00:00Z")));
        // Friday 17:30 local: closed; next open is Monday 09:00 local = 08:00Z
        assert!(!h.open_at(at("2026-11-27T16:30:00Z")));
        assert_eq!(
            h.next_open(at("2026-11-27T16:30:00Z")),
            Some(at("2026-11-30T08:00:00Z"))
        );
        // Before opening on a weekday: opens the same day.
        assert_eq!(
            h.next_open(at("2026-11-26T06:00:00Z")),
            Some(at("2026-11-26T08:00:00Z"))
        );
    }

    #[test]
    fn validation_rejects_nonsense() {
        let mut h = weekdays_9_to_5(0);
        assert!(h.validate().is_ok());
        h.days
            .insert("funday".into(), ["09:00".into(), "10:00".into()]);
        assert!(h.validate().is_err());
        let mut h = weekdays_9_to_5(0);
        h.days
            .insert("sat".into(), ["12:00".into(), "10:00".into()]);
        assert!(h.validate().is_err());
        h = weekdays_9_to_5(100_000);
        assert!(h.validate().is_err());
    }

    /// Found by the property tests (src/props.rs): both panicked.
    #[test]
    fn unvalidated_offsets_and_the_end_of_time_do_not_panic() {
        let h = weekdays_9_to_5(i32::MAX);
        assert!(h.validate().is_err());
        // Evaluated as UTC rather than overflowing `minutes * 60`.
        assert!(h.open_at(at("2026-11-27T09:00:00Z")));
        let h = weekdays_9_to_5(840);
        assert_eq!(h.next_open(DateTime::<Utc>::MAX_UTC), None);
        let _ = h.next_open(DateTime::<Utc>::MIN_UTC);
    }
}
