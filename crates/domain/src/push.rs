//! Web Push rules, no IO: which push endpoints the server may send to (an allow-list of
//! the real push services, so a subscription cannot aim the server at any host), what a
//! push service's answer means, how long to wait before trying again, and when a push
//! is too late to be worth showing.

/// The push services of the browsers people use: Chrome and Edge on Android and the
/// desktop (FCM), Firefox (Mozilla's autopush), Edge and Windows (WNS), Safari on iOS
/// and macOS (Apple). `*.` matches any subdomain (not the bare domain).
pub const DEFAULT_PUSH_HOSTS: &[&str] = &[
    "fcm.googleapis.com",
    "android.googleapis.com",
    "updates.push.services.mozilla.com",
    "push.services.mozilla.com",
    "*.notify.windows.com",
    "web.push.apple.com",
    "*.push.apple.com",
];

/// The longest endpoint URL kept (the real services' are a few hundred characters).
pub const MAX_ENDPOINT_LEN: usize = 1024;

/// A push not delivered within this long after it was due is dropped: a notification
/// about a message hours old is noise (the app shows the message anyway).
pub const MAX_LATE_MICROS: i64 = 2 * 3600 * 1_000_000;

/// Why an endpoint is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EndpointError {
    /// Not a URL we can read (or too long).
    Malformed,
    /// Not https.
    NotHttps,
    /// https, but the host is not a push service on the allow-list.
    HostNotAllowed,
}

/// Whether `host` matches one allow-list entry (`*.example.com` matches any subdomain).
fn host_matches(host: &str, entry: &str) -> bool {
    let entry = entry.trim().to_ascii_lowercase();
    match entry.strip_prefix("*.") {
        Some(domain) => host.len() > domain.len() + 1 && host.ends_with(&format!(".{domain}")),
        None => host == entry,
    }
}

/// The host of an `https://host[:443]/path` URL, lowercased; `None` for anything else
/// (user info, another port, an empty host, characters a host cannot have).
fn https_host(url: &str) -> Result<String, EndpointError> {
    let lower = url.get(..8).map(str::to_ascii_lowercase);
    let rest = match lower.as_deref() {
        Some("https://") => &url[8..],
        _ if url.to_ascii_lowercase().starts_with("http://") => return Err(EndpointError::NotHttps),
        _ => return Err(EndpointError::Malformed),
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    if authority.contains('@') {
        return Err(EndpointError::Malformed);
    }
    let host = match authority.rsplit_once(':') {
        Some((h, "443")) => h,
        Some(_) => return Err(EndpointError::HostNotAllowed),
        None => authority,
    };
    let ok = !host.is_empty()
        && host.len() <= 253
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
    if !ok {
        return Err(EndpointError::Malformed);
    }
    Ok(host.to_ascii_lowercase().trim_end_matches('.').to_string())
}

/// Checks a subscription's endpoint: https, on a host of [`DEFAULT_PUSH_HOSTS`] or of
/// the operator's `extra_hosts`. Nothing else reaches the sender.
pub fn check_endpoint(url: &str, extra_hosts: &[String]) -> Result<(), EndpointError> {
    if url.len() > MAX_ENDPOINT_LEN || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(EndpointError::Malformed);
    }
    let host = https_host(url)?;
    let allowed = DEFAULT_PUSH_HOSTS.iter().any(|e| host_matches(&host, e))
        || extra_hosts
            .iter()
            .any(|e| valid_host_entry(e) && host_matches(&host, e));
    if allowed {
        Ok(())
    } else {
        Err(EndpointError::HostNotAllowed)
    }
}

/// Checks an operator's extra allow-list entry: a DNS name (its last label has a
/// letter: no address literal, no `localhost`), or `*.` and a domain with at least one
/// dot (no bare `*`, which would allow every host).
pub fn valid_host_entry(entry: &str) -> bool {
    let host = entry.strip_prefix("*.").unwrap_or(entry);
    let tld = host.rsplit('.').next().unwrap_or("");
    !host.is_empty()
        && host.contains('.')
        && tld.bytes().any(|b| b.is_ascii_alphabetic())
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
}

/// What a push service's answer means for the push (RFC 8030 §5, RFC 8292).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Accepted (201; some services answer 200 or 202).
    Delivered,
    /// The subscription is gone (404, 410): forget it and what waits for it.
    Gone,
    /// Busy or failing (429, 5xx, no answer): try again after this many seconds.
    RetryIn(u64),
    /// Refused for good (400, 403, 413 …): retrying would not help.
    Refused,
}

/// The wait before attempt `attempts + 1` after a failure: 10 s doubling to 15 minutes,
/// or the push service's `Retry-After` when it says more (at most an hour).
pub fn backoff_secs(attempts: u32, retry_after: Option<u64>) -> u64 {
    let ours = 10u64.saturating_mul(1u64 << attempts.min(10)).min(15 * 60);
    retry_after.map_or(ours, |r| r.min(3600).max(ours))
}

/// Reads a push service's answer; `status` is `None` when there was no answer at all
/// (no connection, a timeout).
pub fn verdict(status: Option<u16>, attempts: u32, retry_after: Option<u64>) -> Verdict {
    match status {
        Some(200..=202) => Verdict::Delivered,
        Some(404 | 410) => Verdict::Gone,
        Some(429) | Some(500..=599) | None => Verdict::RetryIn(backoff_secs(attempts, retry_after)),
        Some(_) => Verdict::Refused,
    }
}

/// A ringing call is worth a notification only while it rings (45 s) and a moment more.
pub const MAX_LATE_CALL_MICROS: i64 = 60 * 1_000_000;

/// How late a push with this tag may still go: a call's (`call:…`) only while it rings,
/// anything else [`MAX_LATE_MICROS`].
pub fn max_late(tag: &str) -> i64 {
    if tag.starts_with("call:") {
        MAX_LATE_CALL_MICROS
    } else {
        MAX_LATE_MICROS
    }
}

/// Whether a push with this tag that became ready at `ready_at` is too late at `now`.
pub fn too_late(tag: &str, ready_at: i64, now: i64) -> bool {
    now - ready_at > max_late(tag)
}

/// The seconds a push service should keep a push for a device that is offline: what
/// remains of its lateness allowance (at least a minute, at most what remains of two
/// hours).
pub fn ttl_secs(tag: &str, ready_at: i64, now: i64) -> u64 {
    ((ready_at + max_late(tag) - now) / 1_000_000).max(60) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_real_push_services_are_allowed_and_nothing_else() {
        for ok in [
            "https://fcm.googleapis.com/fcm/send/abc:APA91b",
            "https://updates.push.services.mozilla.com/wpush/v2/gAAAA",
            "https://wns2-par02p.notify.windows.com/w/?token=BQYAAA",
            "https://web.push.apple.com/QGuQyavXutnMH",
            "https://FCM.googleapis.com:443/fcm/send/x",
        ] {
            assert_eq!(check_endpoint(ok, &[]), Ok(()), "{ok}");
        }
        let no = |url: &str| check_endpoint(url, &[]).unwrap_err();
        assert_eq!(no("http://fcm.googleapis.com/fcm/send/x"), EndpointError::NotHttps);
        assert_eq!(
            no("https://evil.example/fcm.googleapis.com"),
            EndpointError::HostNotAllowed
        );
        assert_eq!(
            no("https://fcm.googleapis.com.evil.example/x"),
            EndpointError::HostNotAllowed
        );
        assert_eq!(no("https://notify.windows.com/x"), EndpointError::HostNotAllowed);
        assert_eq!(no("https://fcm.googleapis.com:8443/x"), EndpointError::HostNotAllowed);
        assert_eq!(no("https://127.0.0.1/x"), EndpointError::HostNotAllowed);
        assert_eq!(no("https://user@fcm.googleapis.com/x"), EndpointError::Malformed);
        assert_eq!(no("https://fcm.googleapis.com/a b"), EndpointError::Malformed);
        assert_eq!(no("ftp://fcm.googleapis.com/x"), EndpointError::Malformed);
        assert_eq!(no("not a url"), EndpointError::Malformed);
        assert_eq!(
            no(&format!("https://fcm.googleapis.com/{}", "x".repeat(1100))),
            EndpointError::Malformed
        );
    }

    #[test]
    fn an_operator_extends_the_list() {
        let extra = vec!["push.example.org".to_string(), "*.push.example.net".to_string()];
        assert_eq!(check_endpoint("https://push.example.org/x", &extra), Ok(()));
        assert_eq!(check_endpoint("https://a.push.example.net/x", &extra), Ok(()));
        assert_eq!(
            check_endpoint("https://push.example.net/x", &extra),
            Err(EndpointError::HostNotAllowed)
        );
        assert!(valid_host_entry("push.example.org") && valid_host_entry("*.example.org"));
        assert!(!valid_host_entry("*") && !valid_host_entry("*.org") && !valid_host_entry("a/b"));
        assert!(!valid_host_entry("127.0.0.1") && !valid_host_entry("localhost") && !valid_host_entry("*.0.1"));
    }

    #[test]
    fn answers_decide_between_done_retry_forget_and_give_up() {
        assert_eq!(verdict(Some(201), 0, None), Verdict::Delivered);
        assert_eq!(verdict(Some(410), 3, None), Verdict::Gone);
        assert_eq!(verdict(Some(404), 0, None), Verdict::Gone);
        assert_eq!(verdict(Some(429), 0, None), Verdict::RetryIn(10));
        assert_eq!(verdict(Some(503), 2, None), Verdict::RetryIn(40));
        assert_eq!(verdict(None, 1, None), Verdict::RetryIn(20));
        assert_eq!(verdict(Some(429), 0, Some(120)), Verdict::RetryIn(120));
        assert_eq!(verdict(Some(429), 0, Some(86_400)), Verdict::RetryIn(3600));
        assert_eq!(verdict(Some(500), 30, None), Verdict::RetryIn(900));
        assert_eq!(verdict(Some(400), 0, None), Verdict::Refused);
        assert_eq!(verdict(Some(413), 0, None), Verdict::Refused);
    }

    #[test]
    fn a_push_hours_late_is_dropped() {
        let hour = 3600 * 1_000_000;
        assert!(!too_late("c:1", 0, 2 * hour));
        assert!(too_late("c:1", 0, 2 * hour + 1));
        assert_eq!(ttl_secs("c:1", 0, 0), 7200);
        assert_eq!(ttl_secs("c:1", 0, 2 * hour), 60);
        // A call rings for 45 s: its push is worthless a minute on.
        assert!(!too_late("call:7", 0, 60_000_000));
        assert!(too_late("call:7", 0, 60_000_001));
        assert_eq!(ttl_secs("call:7", 0, 0), 60);
    }
}
