//! The school's settings and their limits.

use crate::calls::CallPolicy;
use serde::{Deserialize, Serialize};

/// Everything a school sets once (PATCH /api/v1/settings). Defaults suit a new school.
///
/// This is the one definition of a setting: the store keeps it as JSON, the API shows
/// it and patches it field by field, the OpenAPI document describes it from here. A new
/// setting is a field here, its default, and its check in [`Settings::validate`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct Settings {
    /// IANA zone the timetable and end of day are read in.
    pub timezone: String,
    /// R2: in how many rooms a student may be present at once (1–5); a room's
    /// doorplates (a front and a back door) count as one. The name is the API's.
    pub max_doorplates_per_student: u32,
    /// R4: a personal session ends after this many idle seconds (10–600).
    pub session_idle_seconds: u32,
    /// "HH:MM" in the school's zone: remaining presences end then.
    pub end_of_day: String,
    /// Whether guardians see in which room their child is present.
    pub show_room_to_guardians: bool,
    /// Whether guardians may choose to be told when their child checks in ("checked
    /// in at Dormitory 3 at 21:03"; each guardian opts in per child). Off: nobody is.
    pub arrival_notices: bool,
    /// Whether a push notification on a phone shows a message's text ("张小明: see you
    /// at 5"). Off, it says only who wrote and what kind ("张小明: a voice message").
    pub push_previews: bool,
    /// Messages older than this many days are deleted (0 keeps them forever).
    pub retention_days: u32,
    /// "zh-CN", "en" or "auto" (the browser decides).
    pub language: String,
    /// Upload limits per kind, in bytes.
    pub max_image_bytes: u64,
    pub max_voice_bytes: u64,
    pub max_video_bytes: u64,
    /// First and last day of the term ("YYYY-MM-DD"); the timetable runs only within.
    pub term_start: Option<String>,
    pub term_end: Option<String>,
    /// Days without the timetable ("YYYY-MM-DD").
    pub holidays: Vec<String>,
    /// Live calls between students at doorplates and their guardians: when, how long,
    /// how often, video or not, and the exam hold.
    pub calls: CallPolicy,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            timezone: "UTC".into(),
            max_doorplates_per_student: 2,
            session_idle_seconds: 60,
            end_of_day: "22:30".into(),
            show_room_to_guardians: true,
            arrival_notices: true,
            push_previews: false,
            retention_days: 365,
            language: "auto".into(),
            max_image_bytes: 10 << 20,
            max_voice_bytes: 10 << 20,
            max_video_bytes: 50 << 20,
            term_start: None,
            term_end: None,
            holidays: Vec::new(),
            calls: CallPolicy::default(),
        }
    }
}

impl Settings {
    /// Checks everything but the time zone (which needs a zone database). Returns the
    /// name of the first field out of range and why.
    pub fn validate(&self) -> Result<(), (&'static str, &'static str)> {
        if !(1..=5).contains(&self.max_doorplates_per_student) {
            return Err(("max_doorplates_per_student", "must be between 1 and 5"));
        }
        if !(5..=600).contains(&self.session_idle_seconds) {
            return Err(("session_idle_seconds", "must be between 5 and 600"));
        }
        if parse_hhmm(&self.end_of_day).is_none() {
            return Err(("end_of_day", "must be a time as HH:MM"));
        }
        if !matches!(self.language.as_str(), "zh-CN" | "en" | "auto") {
            return Err(("language", "must be zh-CN, en or auto"));
        }
        if self.retention_days > 36_500 {
            return Err(("retention_days", "must be at most 36500"));
        }
        for (name, v) in [
            ("max_image_bytes", self.max_image_bytes),
            ("max_voice_bytes", self.max_voice_bytes),
            ("max_video_bytes", self.max_video_bytes),
        ] {
            if !(1024..=(1 << 30)).contains(&v) {
                return Err((name, "must be between 1 KiB and 1 GiB"));
            }
        }
        for (name, d) in [("term_start", &self.term_start), ("term_end", &self.term_end)] {
            if d.as_deref().is_some_and(|d| d.parse::<jiff::civil::Date>().is_err()) {
                return Err((name, "must be a date as YYYY-MM-DD"));
            }
        }
        if self.holidays.len() > 400 || self.holidays.iter().any(|d| d.parse::<jiff::civil::Date>().is_err()) {
            return Err(("holidays", "must be at most 400 dates as YYYY-MM-DD"));
        }
        self.calls.validate().map_err(|why| ("calls", why))?;
        Ok(())
    }

    /// The upload limit for a sniffed MIME type.
    pub fn max_bytes_for(&self, mime: &str) -> u64 {
        if mime.starts_with("image/") {
            self.max_image_bytes
        } else if mime.starts_with("audio/") {
            self.max_voice_bytes
        } else {
            self.max_video_bytes
        }
    }
}

/// Seconds after midnight for "HH:MM" (the one reader of wall-clock times, `hhmm`).
pub use crate::hhmm::parse_hhmm;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_limits_hold() {
        assert_eq!(Settings::default().validate(), Ok(()));
        let s = Settings {
            max_doorplates_per_student: 0,
            ..Settings::default()
        };
        assert_eq!(s.validate().unwrap_err().0, "max_doorplates_per_student");
        let s = Settings {
            end_of_day: "25:00".into(),
            ..Settings::default()
        };
        assert_eq!(s.validate().unwrap_err().0, "end_of_day");
    }

    #[test]
    fn times_of_day() {
        assert_eq!(parse_hhmm("08:00"), Some(8 * 3600));
        assert_eq!(parse_hhmm("08:45:30"), Some(8 * 3600 + 45 * 60 + 30));
        assert_eq!(parse_hhmm("8"), None);
        assert_eq!(parse_hhmm("12:60"), None);
    }
}
