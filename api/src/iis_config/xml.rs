//! A small element tree read with quick-xml's streaming reader, with the line each element starts
//! on. Configuration files are untrusted uploads, so the reader refuses what has no place in an IIS
//! configuration and could be used to exhaust memory or time: a DTD (and with it every entity
//! declaration, so no entity can expand), input over [`MAX_INPUT_BYTES`], an attribute over
//! [`MAX_ATTRIBUTE_CHARS`], more than [`MAX_ATTRIBUTES`] attributes on one element, nesting deeper
//! than [`MAX_DEPTH`] and more than [`MAX_ELEMENTS`] elements. Every step is linear in the input.
//! Namespaces are ignored: elements and attributes are known by their local names.

use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;

/// Real applicationHost.config files are tens to hundreds of KiB; a server with thousands of
/// sites and mappings stays well below this.
pub const MAX_INPUT_BYTES: usize = 8 * 1024 * 1024;
/// A certificate in the one-line form is a few KiB; 128 KiB holds the largest certmap accepts.
pub const MAX_ATTRIBUTE_CHARS: usize = 128 * 1024;
/// applicationHost.config nests about ten deep.
pub const MAX_DEPTH: usize = 64;
pub const MAX_ELEMENTS: usize = 200_000;
/// IIS elements carry a handful of attributes (a `<site>` or `<add>` under twenty); quick-xml's
/// duplicate check compares each attribute with every earlier one, so 200,000 attributes on one
/// element took half a minute. Duplicates are found with a set here, and the count is capped.
pub const MAX_ATTRIBUTES: usize = 64;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Element {
    /// The local name: `location`, not `x:location`.
    pub name: String,
    pub attrs: Vec<(String, String)>,
    pub children: Vec<Element>,
    pub line: u32,
}

impl Element {
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    pub fn children_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }

    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }
}

/// Why the input was refused, and the line where that became clear.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XmlError {
    pub code: &'static str,
    pub message: String,
    pub line: Option<u32>,
}

impl XmlError {
    fn new(code: &'static str, message: impl Into<String>, line: Option<u32>) -> Self {
        Self { code, message: message.into(), line }
    }
}

/// The text of an upload: UTF-8 with or without a byte-order mark, or UTF-16 with one (what
/// Windows PowerShell 5 writes by default).
pub fn decode(bytes: &[u8]) -> Result<String, XmlError> {
    if bytes.len() > MAX_INPUT_BYTES {
        return Err(too_large(bytes.len()));
    }
    let utf16 = |rest: &[u8], unit: fn([u8; 2]) -> u16| -> Result<String, XmlError> {
        if !rest.len().is_multiple_of(2) {
            return Err(XmlError::new("xml-not-text", "the file is not UTF-8 or UTF-16 text", None));
        }
        char::decode_utf16(rest.chunks_exact(2).map(|c| unit([c[0], c[1]])))
            .collect::<Result<String, _>>()
            .map_err(|_| XmlError::new("xml-not-text", "the file is not valid UTF-16 text", None))
    };
    if let Some(rest) = bytes.strip_prefix(&[0xFF, 0xFE]) {
        return utf16(rest, u16::from_le_bytes);
    }
    if let Some(rest) = bytes.strip_prefix(&[0xFE, 0xFF]) {
        return utf16(rest, u16::from_be_bytes);
    }
    let bytes = bytes.strip_prefix(&[0xEF, 0xBB, 0xBF]).unwrap_or(bytes);
    String::from_utf8(bytes.to_vec()).map_err(|e| {
        let line = line_of(&bytes[..e.utf8_error().valid_up_to()], e.utf8_error().valid_up_to());
        XmlError::new("xml-not-text", "the file is not UTF-8 text (save it as UTF-8)", Some(line))
    })
}

fn too_large(size: usize) -> XmlError {
    XmlError::new("xml-too-large", format!("the file is {size} bytes; at most {MAX_INPUT_BYTES} bytes are read"), None)
}

fn line_of(text: &[u8], pos: usize) -> u32 {
    let pos = pos.min(text.len());
    u32::try_from(text[..pos].iter().filter(|&&b| b == b'\n').count() + 1).unwrap_or(u32::MAX)
}

/// Lines counted incrementally: positions only move forward, so the whole read stays linear.
struct Lines<'a> {
    text: &'a [u8],
    pos: usize,
    line: u32,
}

impl Lines<'_> {
    fn at(&mut self, pos: usize) -> u32 {
        let pos = pos.min(self.text.len());
        if pos > self.pos {
            let newlines = self.text[self.pos..pos].iter().filter(|&&b| b == b'\n').count();
            self.line = self.line.saturating_add(u32::try_from(newlines).unwrap_or(u32::MAX));
            self.pos = pos;
        }
        self.line
    }
}

/// The document's root element.
pub fn parse(text: &str) -> Result<Element, XmlError> {
    if text.len() > MAX_INPUT_BYTES {
        return Err(too_large(text.len()));
    }
    let mut reader = Reader::from_str(text);
    let config = reader.config_mut();
    config.check_end_names = true;
    config.check_comments = true;
    config.expand_empty_elements = false;
    let mut lines = Lines { text: text.as_bytes(), pos: 0, line: 1 };
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    let mut count = 0usize;
    loop {
        let start = usize::try_from(reader.buffer_position()).unwrap_or(usize::MAX);
        let event = reader.read_event().map_err(|e| {
            let at = usize::try_from(reader.error_position()).unwrap_or(start);
            XmlError::new("xml-malformed", format!("the file is not well-formed XML: {e}"), Some(lines.at(at)))
        })?;
        let line = lines.at(start);
        match event {
            Event::DocType(_) => {
                return Err(XmlError::new(
                    "xml-doctype-refused",
                    "the file has a <!DOCTYPE> (a DTD, which may declare entities): IIS configuration files have none, and certmap refuses them so no entity can expand",
                    Some(line),
                ))
            }
            Event::Start(e) | Event::Empty(e) if root.is_some() => {
                return Err(XmlError::new(
                    "xml-malformed",
                    format!("element <{}> after the root element has ended", String::from_utf8_lossy(e.local_name().as_ref())),
                    Some(line),
                ))
            }
            Event::Start(e) => {
                count += 1;
                if stack.len() >= MAX_DEPTH {
                    return Err(XmlError::new(
                        "xml-too-deep",
                        format!("elements nest deeper than {MAX_DEPTH} levels; IIS configuration nests about ten"),
                        Some(line),
                    ));
                }
                check_count(count, line)?;
                stack.push(element(&e, line)?);
            }
            Event::Empty(e) => {
                count += 1;
                check_count(count, line)?;
                let el = element(&e, line)?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(el),
                    None => root = Some(el),
                }
            }
            Event::End(_) => {
                let el = stack.pop().ok_or_else(|| XmlError::new("xml-malformed", "an end tag without a start tag", Some(line)))?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(el),
                    None => root = Some(el),
                }
            }
            Event::GeneralRef(r) if !r.is_char_ref() && quick_xml::escape::resolve_predefined_entity(&String::from_utf8_lossy(&r)).is_none() => {
                return Err(unknown_entity(&String::from_utf8_lossy(&r), line));
            }
            Event::Eof => break,
            // Text, comments, CDATA, processing instructions and the declaration carry nothing
            // IIS reads from these sections.
            _ => {}
        }
    }
    if !stack.is_empty() {
        return Err(XmlError::new(
            "xml-malformed",
            format!("the file ends inside <{}>", stack.last().map_or("", |e| e.name.as_str())),
            Some(lines.at(text.len())),
        ));
    }
    root.ok_or_else(|| XmlError::new("xml-malformed", "the file holds no XML element", None))
}

fn check_count(count: usize, line: u32) -> Result<(), XmlError> {
    if count > MAX_ELEMENTS {
        return Err(XmlError::new(
            "xml-too-large",
            format!("the file has more than {MAX_ELEMENTS} elements"),
            Some(line),
        ));
    }
    Ok(())
}

fn unknown_entity(name: &str, line: u32) -> XmlError {
    let shown: String = name.chars().take(40).collect();
    XmlError::new(
        "xml-entity-refused",
        format!("the entity reference &{shown}; is not one of XML's five predefined entities; certmap expands no other entity"),
        Some(line),
    )
}

fn element(e: &BytesStart<'_>, line: u32) -> Result<Element, XmlError> {
    let name = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
    let mut attrs = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (i, attr) in e.attributes().with_checks(false).enumerate() {
        if i >= MAX_ATTRIBUTES {
            return Err(XmlError::new(
                "xml-too-many-attributes",
                format!(
                    "<{name}> has more than {MAX_ATTRIBUTES} attributes; IIS configuration elements have a handful"
                ),
                Some(line),
            ));
        }
        let attr = attr.map_err(|err| {
            XmlError::new("xml-malformed", format!("a malformed attribute in <{name}>: {err}"), Some(line))
        })?;
        if !seen.insert(attr.key.as_ref().to_vec()) {
            let shown = String::from_utf8_lossy(attr.key.as_ref()).chars().take(40).collect::<String>();
            return Err(XmlError::new(
                "xml-malformed",
                format!("a malformed attribute in <{name}>: {shown} appears twice"),
                Some(line),
            ));
        }
        let key = String::from_utf8_lossy(attr.key.local_name().as_ref()).into_owned();
        if attr.key.as_ref() == b"xmlns" || attr.key.as_ref().starts_with(b"xmlns:") {
            continue;
        }
        if attr.value.len() > MAX_ATTRIBUTE_CHARS * 4 {
            return Err(attribute_too_long(&name, &key, line));
        }
        let value = attr.unescape_value().map_err(|err| match err {
            quick_xml::Error::Escape(quick_xml::escape::EscapeError::UnrecognizedEntity(_, entity)) => {
                unknown_entity(&entity, line)
            }
            err => XmlError::new("xml-malformed", format!("attribute {key} of <{name}>: {err}"), Some(line)),
        })?;
        if value.chars().count() > MAX_ATTRIBUTE_CHARS {
            return Err(attribute_too_long(&name, &key, line));
        }
        attrs.push((key, value.into_owned()));
    }
    Ok(Element { name, attrs, children: Vec::new(), line })
}

fn attribute_too_long(element: &str, attr: &str, line: u32) -> XmlError {
    XmlError::new(
        "xml-attribute-too-long",
        format!("attribute {attr} of <{element}> is longer than {MAX_ATTRIBUTE_CHARS} characters"),
        Some(line),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_elements_with_lines_and_local_names() {
        let text = "<?xml version=\"1.0\"?>\n<!-- c -->\n<configuration xmlns=\"urn:x\">\n  <x:location path=\"A &amp; B\"\n   a='1'>\n    <y/>\n  </x:location>\n</configuration>\n";
        let root = parse(text).unwrap();
        assert_eq!((root.name.as_str(), root.line), ("configuration", 3));
        assert!(root.attrs.is_empty(), "xmlns is not an attribute IIS reads");
        let loc = &root.children[0];
        assert_eq!((loc.name.as_str(), loc.line, loc.attr("path")), ("location", 4, Some("A & B")));
        assert_eq!(loc.children[0].line, 6);
    }

    #[test]
    fn refuses_hostile_input() {
        let cases = [
            ("<!DOCTYPE x [<!ENTITY a \"aaaa\"><!ENTITY b \"&a;&a;&a;&a;\">]><x>&b;</x>", "xml-doctype-refused"),
            ("<x a=\"&b;\"/>", "xml-entity-refused"),
            ("<x>&lol;</x>", "xml-entity-refused"),
            ("<x><y></x>", "xml-malformed"),
            ("<x/><y/>", "xml-malformed"),
            ("", "xml-malformed"),
            ("<x>", "xml-malformed"),
        ];
        for (text, code) in cases {
            assert_eq!(parse(text).unwrap_err().code, code, "{text}");
        }
        let deep = format!("{}{}", "<a>".repeat(MAX_DEPTH + 1), "</a>".repeat(MAX_DEPTH + 1));
        assert_eq!(parse(&deep).unwrap_err().code, "xml-too-deep");
        let ok_depth = format!("{}{}", "<a>".repeat(MAX_DEPTH), "</a>".repeat(MAX_DEPTH));
        assert!(parse(&ok_depth).is_ok());
        let long = format!("<x a=\"{}\"/>", "A".repeat(MAX_ATTRIBUTE_CHARS + 1));
        assert_eq!(parse(&long).unwrap_err().code, "xml-attribute-too-long");
        let escaped = format!("<x a=\"{}\"/>", "&amp;".repeat(MAX_ATTRIBUTE_CHARS + 1));
        assert_eq!(parse(&escaped).unwrap_err().code, "xml-attribute-too-long");
        let crowded: String = (0..=MAX_ATTRIBUTES).map(|i| format!(" a{i}=\"\"")).collect();
        assert_eq!(parse(&format!("<x{crowded}/>")).unwrap_err().code, "xml-too-many-attributes");
        assert_eq!(parse("<x a=\"1\" b=\"2\" a=\"3\"/>").unwrap_err().code, "xml-malformed");
        let many = format!("<x>{}</x>", "<a/>".repeat(MAX_ELEMENTS));
        assert_eq!(parse(&many).unwrap_err().code, "xml-too-large");
        assert_eq!(decode(&vec![b' '; MAX_INPUT_BYTES + 1]).unwrap_err().code, "xml-too-large");
    }

    #[test]
    fn decodes_boms() {
        assert_eq!(decode(b"\xEF\xBB\xBF<x/>").unwrap(), "<x/>");
        let utf16: Vec<u8> = [0xFF, 0xFE].into_iter().chain("<x/>".encode_utf16().flat_map(u16::to_le_bytes)).collect();
        assert_eq!(decode(&utf16).unwrap(), "<x/>");
        assert_eq!(decode(b"<x a=\"\xFF\"/>").unwrap_err().code, "xml-not-text");
    }
}
