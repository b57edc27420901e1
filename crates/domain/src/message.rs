//! Message kinds and the status a sender sees (sent → notified → read).

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageKind {
    Text,
    Image,
    Voice,
    Video,
    /// The trace of a call that never connected, written by the server (text
    /// `missed:video`, `declined:voice` …); clients cannot send one.
    Call,
}

impl MessageKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MessageKind::Text => "text",
            MessageKind::Image => "image",
            MessageKind::Voice => "voice",
            MessageKind::Video => "video",
            MessageKind::Call => "call",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "text" => Self::Text,
            "image" => Self::Image,
            "voice" => Self::Voice,
            "video" => Self::Video,
            "call" => Self::Call,
            _ => return None,
        })
    }

    /// Whether an uploaded file of this MIME type may carry a message of this kind.
    pub fn accepts_mime(self, mime: &str) -> bool {
        match self {
            MessageKind::Text | MessageKind::Call => false,
            MessageKind::Image => mime.starts_with("image/"),
            // A voice note recorded by a browser is often `video/webm` with one audio
            // track: the bytes cannot tell the two apart, so both are accepted.
            MessageKind::Voice => mime.starts_with("audio/") || mime == "video/webm",
            MessageKind::Video => mime.starts_with("video/"),
        }
    }
}

/// What the sender sees of a message. It only ever moves forward.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageStatus {
    /// Stored durably, acknowledged to the sender.
    Sent,
    /// A doorplate where the recipient is present showed a hint (or a live client of the
    /// recipient received it).
    Notified,
    /// The recipient read it.
    Read,
}

impl MessageStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sent => "sent",
            Self::Notified => "notified",
            Self::Read => "read",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "sent" => Self::Sent,
            "notified" => Self::Notified,
            "read" => Self::Read,
            _ => return None,
        })
    }

    /// The status after an event, never going backwards (a late "notified" after "read"
    /// changes nothing).
    pub fn advance(self, to: MessageStatus) -> MessageStatus {
        self.max(to)
    }
}

/// Longest text a message may carry, in characters.
pub const MAX_TEXT_CHARS: usize = 4000;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_never_moves_backwards() {
        use MessageStatus::*;
        assert_eq!(Sent.advance(Notified), Notified);
        assert_eq!(Read.advance(Notified), Read);
        assert_eq!(Notified.advance(Sent), Notified);
    }

    #[test]
    fn kinds_accept_matching_media_only() {
        assert!(MessageKind::Image.accepts_mime("image/png"));
        assert!(!MessageKind::Image.accepts_mime("video/mp4"));
        assert!(MessageKind::Voice.accepts_mime("audio/ogg"));
        assert!(MessageKind::Voice.accepts_mime("video/webm"));
        assert!(!MessageKind::Text.accepts_mime("image/png"));
    }
}
