//! Properties of inboxes::hours (schedules saved by admins, evaluated on every widget load).
use chrono::{DateTime, Utc};
use proptest::prelude::*;

use crate::inboxes::hours::{BusinessHours, DAYS};

use super::*;

fn hhmm() -> impl Strategy<Value = String> {
    prop_oneof![
        (0..24u32, 0..60u32).prop_map(|(h, m)| format!("{h:02}:{m:02}")),
        Just("24:00".to_string()),
        "[0-9:]{0,6}",
        any::<String>(),
    ]
}

fn any_hours() -> impl Strategy<Value = BusinessHours> {
    let day = prop_oneof![
        proptest::sample::select(DAYS.to_vec()).prop_map(str::to_string),
        any::<String>()
    ];
    (
        prop_oneof![any::<i32>(), -900..900i32],
        proptest::collection::btree_map(day, (hhmm(), hhmm()).prop_map(|(o, c)| [o, c]), 0..8),
    )
        .prop_map(|(utc_offset_minutes, days)| BusinessHours {
            utc_offset_minutes,
            days,
        })
}

fn valid_hours() -> impl Strategy<Value = BusinessHours> {
    let window = (0..24 * 60u32, 1..24 * 60u32).prop_map(|(a, len)| {
        let close = (a + len).min(24 * 60);
        let t = |m: u32| {
            if m == 24 * 60 {
                "24:00".to_string()
            } else {
                format!("{:02}:{:02}", m / 60, m % 60)
            }
        };
        [t(a.min(close - 1)), t(close)]
    });
    (
        -840..=840i32,
        proptest::collection::btree_map(
            proptest::sample::select(DAYS.to_vec()).prop_map(str::to_string),
            window,
            1..8,
        ),
    )
        .prop_map(|(utc_offset_minutes, days)| BusinessHours {
            utc_offset_minutes,
            days,
        })
}

proptest! {
    #![proptest_config(config())]

    /// Rows are validated when saved, but an old or hand-edited row is evaluated all the same.
    #[test]
    fn any_schedule_at_any_time_never_panics(h in any_hours(), t in any_time()) {
        let _ = h.validate();
        let _ = h.open_at(t);
        let _ = h.next_open(t);
    }

    #[test]
    fn next_open_is_an_open_moment_within_a_week(h in valid_hours(), t in any_time()) {
        prop_assert!(h.validate().is_ok(), "{:?}", h);
        // Away from the ends of time there is always a next opening (at the ends the local
        // wall-clock time, or the next week, may not exist in chrono's calendar).
        let edge = chrono::Duration::days(9);
        let inside = t > DateTime::<Utc>::MIN_UTC + edge && t < DateTime::<Utc>::MAX_UTC - edge;
        match h.next_open(t) {
            Some(at) => {
                prop_assert!(at > t);
                prop_assert!(at - t <= chrono::Duration::days(8));
                prop_assert!(h.open_at(at), "{:?} closed at its own opening {}", h, at);
            }
            None => prop_assert!(!inside, "no opening after {}", t),
        }
    }
}
