//! What an SDP offer asks for, read before anything is changed.
//!
//! The room must approve what a client will publish before the engine accepts its offer (an
//! offer for a source the participant may not send is refused and changes nothing), and str0m
//! exposes an offer's media lines only by applying it. So this reads the few lines it needs —
//! `m=`, `a=mid:` and the direction attributes — itself; str0m still parses and validates the
//! whole offer when it is accepted.

use std::fmt;

/// The kind of an m-line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Audio,
    Video,
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Kind::Audio => "audio",
            Kind::Video => "video",
        })
    }
}

/// One audio or video m-line of an offer, from the offerer's side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfferedMedia {
    pub mid: String,
    pub kind: Kind,
    /// The offerer sends on it (`sendonly` or `sendrecv`): a track it publishes.
    pub sends: bool,
    /// The offerer receives on it (`recvonly` or `sendrecv`): a slot the server may fill.
    pub receives: bool,
    /// The track id of its `a=msid:<stream> <track>` line, if any: the id the client gave the
    /// track it sends here (LiveKit's clients announce it first as `AddTrackRequest.cid`).
    pub track_id: Option<String>,
}

/// Offers larger than this are refused before parsing (a client cannot make us parse
/// megabytes).
pub const MAX_OFFER_BYTES: usize = 64 * 1024;

/// The audio and video m-lines of `sdp`, in order. Application (data channel) lines are
/// skipped; a rejected line (port 0) is neither sending nor receiving.
pub fn inspect(sdp: &str) -> Result<Vec<OfferedMedia>, String> {
    if sdp.len() > MAX_OFFER_BYTES {
        return Err(format!("the offer is larger than {MAX_OFFER_BYTES} bytes"));
    }
    if !sdp.starts_with("v=0") {
        return Err("the offer is not SDP (it must start with v=0)".into());
    }
    struct Line {
        kind: Option<Kind>,
        port_zero: bool,
        mid: Option<String>,
        direction: &'static str,
        track_id: Option<String>,
    }
    let mut lines: Vec<Line> = Vec::new();
    for raw in sdp.lines() {
        let line = raw.trim_end_matches('\r');
        if let Some(rest) = line.strip_prefix("m=") {
            let mut words = rest.split_whitespace();
            let kind = match words.next() {
                Some("audio") => Some(Kind::Audio),
                Some("video") => Some(Kind::Video),
                _ => None,
            };
            let port_zero = words.next() == Some("0");
            lines.push(Line {
                kind,
                port_zero,
                mid: None,
                direction: "sendrecv",
                track_id: None,
            });
        } else if let Some(current) = lines.last_mut() {
            if let Some(mid) = line.strip_prefix("a=mid:") {
                current.mid = Some(mid.trim().to_string());
            } else if let Some(msid) = line.strip_prefix("a=msid:") {
                // `<stream id> <track id>`; ids are at most 64 characters (RFC 8830).
                current.track_id = msid
                    .split_whitespace()
                    .nth(1)
                    .filter(|t| t.len() <= 64)
                    .map(str::to_string);
            } else {
                for dir in ["sendrecv", "sendonly", "recvonly", "inactive"] {
                    if line == format!("a={dir}") {
                        current.direction = dir;
                    }
                }
            }
        }
    }
    let mut out = Vec::new();
    for line in lines {
        let Some(kind) = line.kind else { continue };
        let mid = line
            .mid
            .ok_or_else(|| format!("an {kind} m-line has no a=mid"))?;
        if out.iter().any(|m: &OfferedMedia| m.mid == mid) {
            return Err(format!("mid '{mid}' appears twice"));
        }
        let live = !line.port_zero;
        out.push(OfferedMedia {
            mid,
            kind,
            sends: live && matches!(line.direction, "sendonly" | "sendrecv"),
            receives: live && matches!(line.direction, "recvonly" | "sendrecv"),
            track_id: line.track_id,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_kinds_mids_and_directions() {
        let sdp = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n\
                   m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\na=sendonly\r\n\
                   a=msid:stream-1 TR_cid42\r\n\
                   m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:1\r\na=recvonly\r\n\
                   m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\na=mid:2\r\n\
                   m=audio 0 UDP/TLS/RTP/SAVPF 111\r\na=mid:3\r\na=recvonly\r\n";
        let m = inspect(sdp).unwrap();
        assert_eq!(m.len(), 3);
        assert!(m[0].sends && !m[0].receives && m[0].kind == Kind::Audio);
        assert!(!m[1].sends && m[1].receives && m[1].kind == Kind::Video);
        assert!(!m[2].sends && !m[2].receives, "port 0 is rejected");
        assert_eq!(m[0].track_id.as_deref(), Some("TR_cid42"));
        assert_eq!(m[1].track_id, None);
    }

    #[test]
    fn refuses_junk_and_duplicates() {
        assert!(inspect("hello").is_err());
        assert!(inspect("v=0\r\nm=audio 9 X 1\r\n").is_err(), "no mid");
        let dup = "v=0\r\nm=audio 9 X 1\r\na=mid:a\r\nm=video 9 X 1\r\na=mid:a\r\n";
        assert!(inspect(dup).is_err());
        assert!(inspect(&"v=0\n".repeat(MAX_OFFER_BYTES)).is_err());
    }
}
