//! Wall-clock times of day as people write them: "HH:MM" (or "HH:MM:SS"). A leaf, so
//! the settings, quiet hours and call hours all read times the same way.

/// Seconds after midnight for "HH:MM" or "HH:MM:SS".
pub fn parse_hhmm(s: &str) -> Option<u32> {
    let mut parts = s.split(':');
    let h: u32 = parts.next()?.parse().ok()?;
    let m: u32 = parts.next()?.parse().ok()?;
    let sec: u32 = match parts.next() {
        Some(p) => p.parse().ok()?,
        None => 0,
    };
    if parts.next().is_some() || h > 23 || m > 59 || sec > 59 {
        return None;
    }
    Some(h * 3600 + m * 60 + sec)
}
