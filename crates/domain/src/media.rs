//! Recognising uploaded media from their bytes, never from the declared header.
//!
//! The `infer` crate reads the magic numbers; this module says which of its kinds a
//! message may carry, and under which MIME name we store them. Two rules of our own run
//! before it, because infer misses files we accept (the tests below show each):
//! - Matroska/WebM by its EBML magic alone: infer wants 257 bytes and the doc type
//!   before it says `webm`, and calls Matroska (which Chrome records for
//!   `video/x-matroska`) something else. Whether such a file is voice or video cannot
//!   be told from its magic anyway: the declared family decides, in the server.
//! - MPEG audio frames by their sync bits: infer knows only `FF FB`, `FF F3` and
//!   `FF F2`, so an MP3 whose frames carry a CRC (`FF FA`) or an MPEG-2.5 one (`FF E3`)
//!   would be refused.
//!
//! An MP4 may hold voice or video too (Safari records voice as `audio/mp4` with a video
//! brand): that also is the declared family's to say.

/// The MIME type the first bytes of a file show, among the kinds a message may carry:
/// pictures (JPEG, PNG, GIF, WebP), voice (Ogg, MP3, WAV, WebM audio, M4A/AAC) and
/// video (MP4/QuickTime, WebM). `None` for anything else — including pictures browsers
/// do not all show (HEIC, AVIF), which an older rule of ours mistook for MP4 video.
pub fn sniff(b: &[u8]) -> Option<&'static str> {
    if b.starts_with(&[0x1A, 0x45, 0xDF, 0xA3]) {
        return Some("video/webm");
    }
    if is_mpeg_audio_frame(b) {
        return Some("audio/mpeg");
    }
    Some(match infer::get(b)?.mime_type() {
        "image/jpeg" => "image/jpeg",
        "image/png" => "image/png",
        "image/gif" => "image/gif",
        "image/webp" => "image/webp",
        // Ogg Opus is what Firefox records voice as: the container's type is the one
        // browsers play.
        "audio/ogg" | "audio/opus" => "audio/ogg",
        "audio/mpeg" => "audio/mpeg",
        "audio/x-wav" => "audio/wav",
        "audio/m4a" => "audio/mp4",
        "video/mp4" | "video/x-m4v" => "video/mp4",
        "video/quicktime" => "video/quicktime",
        _ => return None,
    })
}

/// An MPEG audio frame header: 11 sync bits, a version other than "reserved" and a
/// layer other than "reserved" (which also leaves out AAC's ADTS, layer 0).
fn is_mpeg_audio_frame(b: &[u8]) -> bool {
    b.len() >= 2 && b[0] == 0xFF && (b[1] & 0xE0) == 0xE0 && (b[1] & 0x18) != 0x08 && (b[1] & 0x06) != 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_signatures() {
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\n...."), Some("image/png"));
        assert_eq!(sniff(&[0xFF, 0xD8, 0xFF, 0xE0, 0, 0]), Some("image/jpeg"));
        assert_eq!(sniff(b"GIF89a\x01\0\x01\0"), Some("image/gif"));
        assert_eq!(sniff(b"RIFF\0\0\0\0WEBPVP8 "), Some("image/webp"));
        assert_eq!(sniff(b"RIFF\0\0\0\0WAVEfmt "), Some("audio/wav"));
        assert_eq!(sniff(b"OggS\0\x02"), Some("audio/ogg"));
        assert_eq!(sniff(&[0x1A, 0x45, 0xDF, 0xA3, 1]), Some("video/webm"));
        assert_eq!(sniff(b"\0\0\0\x18ftypmp42"), Some("video/mp4"));
        assert_eq!(sniff(b"\0\0\0\x18ftypiso5\0\0\x02\0iso5"), Some("video/mp4"));
        assert_eq!(sniff(b"\0\0\0\x14ftypqt  \0\0\x02\0"), Some("video/quicktime"));
        assert_eq!(sniff(b"\0\0\0\x18ftypM4A "), Some("audio/mp4"));
        assert_eq!(sniff(b"ID3\x04\0\0\0\0\0\0"), Some("audio/mpeg"));
    }

    #[test]
    fn ogg_opus_is_ogg() {
        let mut page = b"OggS\0\x02".to_vec();
        page.resize(28, 0);
        page.extend_from_slice(b"OpusHead\x01\x01");
        assert_eq!(infer::get(&page).map(|t| t.mime_type()), Some("audio/opus"));
        assert_eq!(sniff(&page), Some("audio/ogg"));
    }

    /// Why the two rules of our own stay: what infer makes of these files.
    #[test]
    fn what_infer_misses() {
        // A WebM recording's first 64 bytes (all the upload waits for): EBML header,
        // doc type "webm".
        let mut webm = vec![
            0x1A, 0x45, 0xDF, 0xA3, 0x9F, 0x42, 0x86, 0x81, 0x01, 0x42, 0xF7, 0x81, 0x01,
        ];
        webm.extend_from_slice(b"\x42\xF2\x81\x04\x42\xF3\x81\x08\x42\x82\x84webm\x42\x87\x81\x04\x42\x85\x81\x02");
        webm.resize(64, 0);
        assert_eq!(infer::get(&webm), None);
        assert_eq!(sniff(&webm), Some("video/webm"));
        // MP3 frames with a CRC (FF FA), and MPEG-2.5 ones (FF E3).
        for head in [[0xFF, 0xFA, 0x90, 0x64], [0xFF, 0xE3, 0x18, 0xC4]] {
            assert_eq!(infer::get(&head), None, "{head:02x?}");
            assert_eq!(sniff(&head), Some("audio/mpeg"), "{head:02x?}");
        }
        assert_eq!(sniff(&[0xFF, 0xFB, 0x90, 0x64]), Some("audio/mpeg"));
    }

    #[test]
    fn text_scripts_and_other_kinds_are_refused() {
        assert_eq!(sniff(b"<html><script>alert(1)</script>"), None);
        assert_eq!(sniff(b"hello"), None);
        assert_eq!(sniff(b""), None);
        // AAC in ADTS (layer 0) is not an MPEG audio frame.
        assert_eq!(sniff(&[0xFF, 0xF1, 0x50, 0x80]), None);
        // HEIC and AVIF pictures: not MP4 video (an older rule said so), and not taken.
        assert_eq!(sniff(b"\0\0\0\x18ftypheic\0\0\0\0mif1heic"), None);
        assert_eq!(sniff(b"\0\0\0\x1cftypavif\0\0\0\0avifmif1miaf"), None);
        assert_eq!(sniff(b"PK\x03\x04\x14\0\0\0\x08\0"), None, "a zip");
        assert_eq!(sniff(b"%PDF-1.7\n%\xe2\xe3"), None);
    }
}
