//! A small DNS-over-UDP client for DNS checks: one query, one response, the answers of the asked
//! type decoded to text (A/AAAA addresses, CNAME/NS names, `"pref host"` for MX, TXT text).
//! No recursion of our own (RD is set; the resolver recurses). The probe repeats a truncated
//! query over TCP.

use crate::spec::DnsRecordType;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};

/// A decoded response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsResponse {
    pub rcode: u8,
    pub truncated: bool,
    /// Answers of the asked type, as text (names lower case, without the trailing dot).
    pub answers: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum DnsError {
    #[error("{0:?} cannot be encoded as a DNS name")]
    BadName(String),
    #[error("malformed DNS response: {0}")]
    Malformed(&'static str),
    #[error("DNS response id {got} does not match query id {expected}")]
    WrongId { expected: u16, got: u16 },
}

/// The query message for `name` / `qtype`, with recursion desired.
pub fn encode_query(id: u16, name: &str, qtype: u16) -> Result<Vec<u8>, DnsError> {
    let mut msg = Vec::with_capacity(32 + name.len());
    msg.extend_from_slice(&id.to_be_bytes());
    msg.extend_from_slice(&[0x01, 0x00]); // RD
    msg.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, 0]); // QDCOUNT 1
    let trimmed = name.trim_end_matches('.');
    for label in trimmed.split('.') {
        if label.is_empty() || label.len() > 63 || !label.is_ascii() {
            return Err(DnsError::BadName(name.to_owned()));
        }
        msg.push(label.len() as u8);
        msg.extend_from_slice(label.as_bytes());
    }
    msg.push(0);
    msg.extend_from_slice(&qtype.to_be_bytes());
    msg.extend_from_slice(&1u16.to_be_bytes()); // IN
    Ok(msg)
}

fn u16_at(msg: &[u8], at: usize) -> Result<u16, DnsError> {
    msg.get(at..at + 2)
        .map(|b| u16::from_be_bytes([b[0], b[1]]))
        .ok_or(DnsError::Malformed("message cut short"))
}

/// Reads a (possibly compressed) name at `at`; returns it and the offset after it.
fn read_name(msg: &[u8], mut at: usize) -> Result<(String, usize), DnsError> {
    let mut labels: Vec<String> = Vec::new();
    let mut end = None;
    let mut jumps = 0;
    loop {
        let len = *msg.get(at).ok_or(DnsError::Malformed("name cut short"))?;
        match len {
            0 => {
                end.get_or_insert(at + 1);
                break;
            }
            l if l & 0xc0 == 0xc0 => {
                let target = usize::from(u16_at(msg, at)? & 0x3fff);
                end.get_or_insert(at + 2);
                jumps += 1;
                if jumps > 32 {
                    return Err(DnsError::Malformed("compression loop"));
                }
                at = target;
            }
            l if l & 0xc0 == 0 => {
                let l = usize::from(l);
                let label = msg
                    .get(at + 1..at + 1 + l)
                    .ok_or(DnsError::Malformed("label cut short"))?;
                labels.push(String::from_utf8_lossy(label).to_ascii_lowercase());
                at += 1 + l;
            }
            _ => return Err(DnsError::Malformed("unknown label type")),
        }
    }
    Ok((labels.join("."), end.unwrap_or(at)))
}

/// Decodes a response to a query with `id` for `qtype`.
pub fn decode_response(msg: &[u8], id: u16, qtype: u16) -> Result<DnsResponse, DnsError> {
    if msg.len() < 12 {
        return Err(DnsError::Malformed("shorter than a header"));
    }
    let got = u16_at(msg, 0)?;
    if got != id {
        return Err(DnsError::WrongId { expected: id, got });
    }
    if msg[2] & 0x80 == 0 {
        return Err(DnsError::Malformed("not a response (QR bit clear)"));
    }
    let truncated = msg[2] & 0x02 != 0;
    let rcode = msg[3] & 0x0f;
    let qdcount = u16_at(msg, 4)?;
    let ancount = u16_at(msg, 6)?;
    let mut at = 12;
    for _ in 0..qdcount {
        let (_, next) = read_name(msg, at)?;
        at = next + 4;
    }
    let mut answers = Vec::new();
    for _ in 0..ancount {
        let (_, next) = read_name(msg, at)?;
        let rtype = u16_at(msg, next)?;
        let rdlen = usize::from(u16_at(msg, next + 8)?);
        let start = next + 10;
        let rdata = msg
            .get(start..start + rdlen)
            .ok_or(DnsError::Malformed("record data cut short"))?;
        at = start + rdlen;
        if rtype != qtype {
            continue; // e.g. the CNAME chain in front of A records
        }
        let text = match rtype {
            1 if rdlen == 4 => Ipv4Addr::new(rdata[0], rdata[1], rdata[2], rdata[3]).to_string(),
            28 if rdlen == 16 => {
                let mut o = [0u8; 16];
                o.copy_from_slice(rdata);
                Ipv6Addr::from(o).to_string()
            }
            2 | 5 => read_name(msg, start)?.0,
            15 => {
                let pref = u16_at(msg, start)?;
                format!("{pref} {}", read_name(msg, start + 2)?.0)
            }
            16 => {
                let mut text = Vec::new();
                let mut i = 0;
                while i < rdata.len() {
                    let l = usize::from(rdata[i]);
                    let part = rdata
                        .get(i + 1..i + 1 + l)
                        .ok_or(DnsError::Malformed("TXT string cut short"))?;
                    text.extend_from_slice(part);
                    i += 1 + l;
                }
                String::from_utf8_lossy(&text).into_owned()
            }
            _ => return Err(DnsError::Malformed("record data has the wrong length")),
        };
        answers.push(text);
    }
    Ok(DnsResponse {
        rcode,
        truncated,
        answers,
    })
}

/// How an expected answer compares with a received one: names without case or trailing dot,
/// addresses as addresses, TXT exactly.
pub fn answer_matches(record_type: DnsRecordType, expected: &str, got: &str) -> bool {
    let name = |s: &str| s.trim().trim_end_matches('.').to_ascii_lowercase();
    match record_type {
        DnsRecordType::A => expected.parse::<Ipv4Addr>().ok() == got.parse::<Ipv4Addr>().ok(),
        DnsRecordType::Aaaa => expected.parse::<Ipv6Addr>().ok() == got.parse::<Ipv6Addr>().ok(),
        DnsRecordType::Cname | DnsRecordType::Ns => name(expected) == name(got),
        DnsRecordType::Mx => {
            let split = |s: &str| {
                s.trim()
                    .split_once(' ')
                    .map(|(p, h)| (p.parse::<u16>().ok(), name(h)))
            };
            split(expected).is_some() && split(expected) == split(got)
        }
        DnsRecordType::Txt => expected == got,
    }
}

/// The first `nameserver` in `/etc/resolv.conf` (port 53).
pub fn system_resolver() -> Option<SocketAddr> {
    let conf = std::fs::read_to_string("/etc/resolv.conf").ok()?;
    conf.lines().find_map(|line| {
        let mut words = line.split_whitespace();
        (words.next() == Some("nameserver"))
            .then(|| words.next())
            .flatten()
            .and_then(|ip| ip.split('%').next()?.parse().ok())
            .map(|ip| SocketAddr::new(ip, 53))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_queries() {
        let q = encode_query(0x1234, "Example.com.", 15).unwrap();
        assert_eq!(&q[..4], &[0x12, 0x34, 0x01, 0x00]);
        assert_eq!(&q[12..], b"\x07Example\x03com\x00\x00\x0f\x00\x01");
        assert!(encode_query(1, "a..b", 1).is_err());
    }

    #[test]
    fn decodes_answers_with_compression() {
        let mut msg = encode_query(7, "example.com", 15).unwrap();
        msg[2] = 0x81;
        msg[3] = 0x80;
        msg[7] = 2; // ANCOUNT
                    // CNAME (skipped for an MX query), then MX 10 mail.<ptr to example.com>
        msg.extend_from_slice(&[0xc0, 12, 0, 5, 0, 1, 0, 0, 0, 60, 0, 2, 0xc0, 12]);
        msg.extend_from_slice(&[0xc0, 12, 0, 15, 0, 1, 0, 0, 0, 60, 0, 9, 0, 10]);
        msg.extend_from_slice(b"\x04MAIL\xc0\x0c");
        let r = decode_response(&msg, 7, 15).unwrap();
        assert_eq!(r.rcode, 0);
        assert_eq!(r.answers, vec!["10 mail.example.com"]);
        assert!(matches!(
            decode_response(&msg, 8, 15),
            Err(DnsError::WrongId { .. })
        ));
        assert!(decode_response(&msg[..msg.len() - 3], 7, 15).is_err());
    }

    #[test]
    fn answers_compare_by_kind() {
        assert!(answer_matches(
            DnsRecordType::Mx,
            "10 Mail.Example.com.",
            "10 mail.example.com"
        ));
        assert!(!answer_matches(
            DnsRecordType::Mx,
            "20 mail.example.com",
            "10 mail.example.com"
        ));
        assert!(answer_matches(DnsRecordType::Aaaa, "::1", "0:0::1"));
        assert!(answer_matches(
            DnsRecordType::Cname,
            "a.example.",
            "a.example"
        ));
        assert!(!answer_matches(DnsRecordType::Txt, "v=spf1", "V=spf1"));
    }
}
