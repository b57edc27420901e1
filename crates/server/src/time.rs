//! Instants on the wire: RFC 3339 with offset, from and to UTC microseconds.

use doorplate_domain::Micros;

pub fn rfc3339(t: Micros) -> String {
    match jiff::Timestamp::from_microsecond(t) {
        Ok(ts) => ts.to_string(),
        Err(_) => String::new(),
    }
}

pub fn parse_rfc3339(s: &str) -> Option<Micros> {
    s.parse::<jiff::Timestamp>().ok().map(|t| t.as_microsecond())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let t = parse_rfc3339("2026-11-24T08:00:00+08:00").unwrap();
        assert_eq!(rfc3339(t), "2026-11-24T00:00:00Z");
        assert_eq!(parse_rfc3339("yesterday"), None);
    }
}
