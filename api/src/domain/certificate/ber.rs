//! Lenient BER reading, enough to name what a blob is from its first few elements and to measure
//! a public key. Certificates themselves are parsed by x509-parser, never here.

use x509_parser::asn1_rs::{Class, FromBer, Header, Length, Tag};

/// One BER element, read leniently: indefinite lengths and truncation are tolerated because
/// sniffing only needs the first few elements to name what the user sent.
pub(super) struct Tlv<'a> {
    pub(super) class: Class,
    pub(super) tag: Tag,
    pub(super) body: &'a [u8],
}

impl Tlv<'_> {
    pub(super) fn is(&self, tag: Tag) -> bool {
        self.class == Class::Universal && self.tag == tag
    }

    pub(super) fn is_integer(&self, value: u8) -> bool {
        self.is(Tag::Integer) && self.body == [value]
    }

    pub(super) fn first_child(&self) -> Option<Tlv<'_>> {
        children(self.body, 1).into_iter().next()
    }

    /// AlgorithmIdentifier: a SEQUENCE starting with an OID.
    pub(super) fn is_algorithm(&self) -> bool {
        self.is(Tag::Sequence) && self.first_child().is_some_and(|c| c.is(Tag::Oid))
    }
}

pub(super) fn tlv(input: &[u8]) -> Option<(Tlv<'_>, &[u8])> {
    let (rest, header) = Header::from_ber(input).ok()?;
    let (body, next) = match header.length() {
        Length::Definite(n) if n <= rest.len() => rest.split_at(n),
        // Indefinite or cut short: the body runs to the end of what we have.
        _ => (rest, &[][..]),
    };
    Some((Tlv { class: header.class(), tag: header.tag(), body }, next))
}

pub(super) fn children(body: &[u8], max: usize) -> Vec<Tlv<'_>> {
    let mut out = Vec::new();
    let mut rest = body;
    while out.len() < max {
        match tlv(rest) {
            Some((child, _)) if child.is(Tag::EndOfContent) => break,
            Some((child, next)) => {
                out.push(child);
                rest = next;
            }
            None => break,
        }
    }
    out
}
