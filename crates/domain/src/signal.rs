//! WebRTC signalling as the server relays it: a session description (offer or answer)
//! or an ICE candidate, checked before it is passed on. The server is not a party to the
//! call's media; it only makes sure what it forwards is the shape a browser produces,
//! of a bounded size, so nothing else rides on the call's channel to the other side.

/// The largest session description relayed, in bytes (a browser's video offer is a few
/// kilobytes).
pub const MAX_SDP_BYTES: usize = 64 * 1024;
/// The longest line of a session description.
const MAX_SDP_LINE: usize = 4096;
/// The longest candidate line.
pub const MAX_CANDIDATE_BYTES: usize = 1024;

/// Why signalling was refused (the API answers 400 `bad_signal` with this text).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BadSignal(pub &'static str);

/// Checks a session description: `offer` or `answer`, starting with `v=0`, only the line
/// types SDP defines (RFC 8866), no control characters, within the size limits.
pub fn check_sdp(kind: &str, sdp: &str) -> Result<(), BadSignal> {
    if !matches!(kind, "offer" | "answer") {
        return Err(BadSignal("the type of a session description is offer or answer"));
    }
    if sdp.len() > MAX_SDP_BYTES {
        return Err(BadSignal("the session description is too large"));
    }
    let mut lines = sdp.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
    if lines.next() != Some("v=0") {
        return Err(BadSignal("a session description starts with v=0"));
    }
    let mut media = 0;
    for line in lines {
        if line.is_empty() {
            continue;
        }
        if line.len() > MAX_SDP_LINE {
            return Err(BadSignal("a line of the session description is too long"));
        }
        let b = line.as_bytes();
        if b.len() < 2 || b[1] != b'=' || !b"vosiuepcbtrzkam".contains(&b[0]) {
            return Err(BadSignal("the session description has a line SDP does not define"));
        }
        if line.chars().any(|c| c.is_control()) {
            return Err(BadSignal("the session description has control characters"));
        }
        if b[0] == b'm' {
            media += 1;
        }
        if let Some(c) = line.strip_prefix("a=candidate:") {
            check_candidate_fields(c)?;
        }
    }
    if media == 0 {
        return Err(BadSignal("the session description has no media"));
    }
    Ok(())
}

/// Checks an ICE candidate as a browser gives it (`candidate:…`, or empty for the end of
/// candidates), with its `sdpMid` and `sdpMLineIndex`.
pub fn check_candidate(candidate: &str, sdp_mid: Option<&str>, mline: Option<u32>) -> Result<(), BadSignal> {
    if candidate.len() > MAX_CANDIDATE_BYTES {
        return Err(BadSignal("the candidate is too long"));
    }
    if let Some(mid) = sdp_mid
        && (mid.len() > 32 || !mid.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
    {
        return Err(BadSignal("sdpMid is a short token"));
    }
    if mline.is_some_and(|m| m > 64) {
        return Err(BadSignal("sdpMLineIndex is out of range"));
    }
    if candidate.is_empty() {
        return Ok(());
    }
    let rest = candidate
        .strip_prefix("candidate:")
        .ok_or(BadSignal("a candidate starts with candidate:"))?;
    check_candidate_fields(rest)
}

/// `foundation component transport priority address port typ type [name value]…`
/// (RFC 8839 §5.1).
fn check_candidate_fields(rest: &str) -> Result<(), BadSignal> {
    let bad = BadSignal("the candidate is not a well-formed ICE candidate");
    if rest.chars().any(|c| c.is_control()) {
        return Err(bad);
    }
    let f: Vec<&str> = rest.split(' ').collect();
    if f.len() < 8 || !f.len().is_multiple_of(2) {
        return Err(bad);
    }
    let token = |s: &str, extra: &[u8]| {
        !s.is_empty() && s.len() <= 256 && s.bytes().all(|b| b.is_ascii_alphanumeric() || extra.contains(&b))
    };
    let ok = token(f[0], b"+/")
        && f[1].parse::<u16>().is_ok_and(|c| (1..=256).contains(&c))
        && matches!(f[2].to_ascii_lowercase().as_str(), "udp" | "tcp")
        && f[3].parse::<u32>().is_ok()
        && token(f[4], b".:-")
        && f[5].parse::<u16>().is_ok()
        && f[6] == "typ"
        && matches!(f[7], "host" | "srflx" | "prflx" | "relay")
        && f[8..].iter().all(|t| token(t, b".:-_+/=#"));
    if ok { Ok(()) } else { Err(bad) }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OFFER: &str = "v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=rtcp:9 IN IP4 0.0.0.0\r\na=ice-ufrag:abcd\r\na=fingerprint:sha-256 AB:CD\r\na=rtpmap:111 opus/48000/2\r\n";

    #[test]
    fn a_browser_s_offer_passes() {
        assert_eq!(check_sdp("offer", OFFER), Ok(()));
        assert_eq!(check_sdp("answer", &OFFER.replace("\r\n", "\n")), Ok(()));
    }

    #[test]
    fn what_is_not_sdp_is_refused() {
        assert!(check_sdp("rollback", OFFER).is_err());
        assert!(check_sdp("offer", "hello").is_err());
        assert!(check_sdp("offer", "v=0\r\nx=evil\r\nm=audio 9 RTP 0\r\n").is_err());
        assert!(check_sdp("offer", "v=0\r\ns=-\r\n").is_err(), "no media");
        assert!(check_sdp("offer", &format!("{OFFER}a=x:\u{7}\r\n")).is_err());
        assert!(check_sdp("offer", &format!("{OFFER}{}", "a=x\r\n".repeat(20_000))).is_err());
        assert!(check_sdp("offer", &format!("{OFFER}a=candidate:not a candidate\r\n")).is_err());
    }

    #[test]
    fn candidates_are_parsed() {
        let host =
            "candidate:842163049 1 udp 1677729535 192.0.2.3 46154 typ host generation 0 ufrag EEtu network-cost 999";
        assert_eq!(check_candidate(host, Some("0"), Some(0)), Ok(()));
        let relay = "candidate:3 1 UDP 41885439 127.0.0.1 50000 typ relay raddr 127.0.0.1 rport 46154";
        assert_eq!(check_candidate(relay, Some("0"), Some(0)), Ok(()));
        let mdns = "candidate:1 1 udp 2122260223 0f1c2d3e-aaaa-bbbb-cccc-123456789abc.local 54321 typ host";
        assert_eq!(check_candidate(mdns, None, Some(1)), Ok(()));
        assert_eq!(check_candidate("", Some("0"), Some(0)), Ok(()), "end of candidates");
        assert!(check_candidate("candidate:1 1 udp 1 1.2.3.4 5 typ evil", None, None).is_err());
        assert!(check_candidate("candidate:1 1 udp 1 1.2.3.4 99999 typ host", None, None).is_err());
        assert!(check_candidate("<script>", None, None).is_err());
        assert!(check_candidate(host, Some("a b"), None).is_err());
        assert!(check_candidate(host, Some("0"), Some(1000)).is_err());
        assert!(check_candidate(&format!("{host} x {}", "y".repeat(2000)), None, None).is_err());
    }
}
