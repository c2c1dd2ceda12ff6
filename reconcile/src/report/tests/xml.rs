//! The HTML page read back as XML: a small element tree built with quick-xml, so the tests
//! check structure (this table has these rows, no element is a `script`) rather than bytes.
//! Parsing fails — and the test with it — on anything not well-formed: an unclosed or
//! mismatched tag, an unknown entity, a stray `<` or `&`.

use quick_xml::XmlVersion;
use quick_xml::escape::resolve_predefined_entity;
use quick_xml::events::Event;
use quick_xml::reader::Reader;

/// An element: its name, attributes (unescaped), and children in order.
#[derive(Debug, Default)]
pub struct Element {
    pub name: String,
    pub attributes: Vec<(String, String)>,
    pub children: Vec<Node>,
}

#[derive(Debug)]
pub enum Node {
    Element(Element),
    Text(String),
}

/// The document's root element; `Err` with the parser's complaint when not well-formed.
pub fn parse(page: &str) -> Result<Element, String> {
    let mut reader = Reader::from_str(page);
    reader.config_mut().check_end_names = true;
    let mut stack: Vec<Element> =
        vec![Element { name: "#document".to_owned(), ..Element::default() }];
    loop {
        let event = reader
            .read_event()
            .map_err(|error| format!("at {}: {error}", reader.buffer_position()))?;
        match event {
            Event::Start(start) => stack.push(element(&start)?),
            Event::Empty(empty) => {
                let child = element(&empty)?;
                top(&mut stack)?.children.push(Node::Element(child));
            }
            Event::End(_) => {
                let done = stack.pop().ok_or("end tag without a start")?;
                top(&mut stack)?.children.push(Node::Element(done));
            }
            Event::Text(text) => push_text(&mut stack, &text.xml_content(XmlVersion::Implicit1_0))?,
            Event::GeneralRef(reference) => {
                let resolved =
                    match reference.resolve_char_ref().map_err(|error| error.to_string())? {
                        Some(character) => character.to_string(),
                        None => {
                            let name = reference.xml_content(XmlVersion::Implicit1_0);
                            resolve_predefined_entity(&name)
                                .ok_or(format!("unknown entity &{name};"))?
                                .to_owned()
                        }
                    };
                push_text(&mut stack, &resolved)?;
            }
            Event::CData(_) => return Err("CDATA in an HTML page".to_owned()),
            Event::Eof => break,
            Event::DocType(_) | Event::Decl(_) | Event::Comment(_) | Event::PI(_) => {}
        }
    }
    let mut document = stack.pop().ok_or("no document")?;
    if !stack.is_empty() {
        return Err(format!("{} elements left open", stack.len() + 1));
    }
    let mut roots = document.children.drain(..).filter_map(|node| match node {
        Node::Element(element) => Some(element),
        Node::Text(text) if text.trim().is_empty() => None,
        Node::Text(text) => {
            Some(Element { name: format!("#stray-text {text}"), ..Element::default() })
        }
    });
    let root = roots.next().ok_or("no root element")?;
    match roots.next() {
        None => Ok(root),
        Some(extra) => Err(format!("a second root {}", extra.name)),
    }
}

fn top(stack: &mut [Element]) -> Result<&mut Element, String> {
    stack.last_mut().ok_or_else(|| "no open element".to_owned())
}

fn push_text(stack: &mut [Element], text: &str) -> Result<(), String> {
    let parent = top(stack)?;
    if let Some(Node::Text(last)) = parent.children.last_mut() {
        last.push_str(text);
    } else {
        parent.children.push(Node::Text(text.to_owned()));
    }
    Ok(())
}

fn element(start: &quick_xml::events::BytesStart<'_>) -> Result<Element, String> {
    let name = start.name().as_ref().to_owned();
    let mut attributes = Vec::new();
    for attribute in start.attributes() {
        let attribute = attribute.map_err(|error| error.to_string())?;
        let key = attribute.key.as_ref().to_owned();
        let value = attribute
            .normalized_value(XmlVersion::Implicit1_0)
            .map_err(|error| error.to_string())?;
        attributes.push((key, value.into_owned()));
    }
    Ok(Element { name, attributes, children: Vec::new() })
}

impl Element {
    pub fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes.iter().find(|(key, _)| key == name).map(|(_, value)| value.as_str())
    }

    /// Every element below this one, depth first, in document order.
    pub fn descendants(&self) -> Vec<&Element> {
        let mut found = Vec::new();
        for child in &self.children {
            if let Node::Element(element) = child {
                found.push(element);
                found.extend(element.descendants());
            }
        }
        found
    }

    /// The descendants named `name`.
    pub fn all(&self, name: &str) -> Vec<&Element> {
        self.descendants().into_iter().filter(|element| element.name == name).collect()
    }

    /// The one descendant with this `id`.
    pub fn by_id(&self, id: &str) -> &Element {
        let found: Vec<&Element> = self
            .descendants()
            .into_iter()
            .filter(|element| element.attribute("id") == Some(id))
            .collect();
        assert_eq!(found.len(), 1, "exactly one element with id {id}");
        found[0]
    }

    /// The descendants whose `class` attribute lists `class`.
    pub fn with_class(&self, class: &str) -> Vec<&Element> {
        self.descendants()
            .into_iter()
            .filter(|element| {
                element
                    .attribute("class")
                    .is_some_and(|classes| classes.split(' ').any(|c| c == class))
            })
            .collect()
    }

    /// All text below this element, concatenated.
    pub fn text(&self) -> String {
        let mut text = String::new();
        for child in &self.children {
            match child {
                Node::Text(part) => text.push_str(part),
                Node::Element(element) => text.push_str(&element.text()),
            }
        }
        text
    }

    /// A table's body rows, each as its cells' texts.
    pub fn rows(&self) -> Vec<Vec<String>> {
        self.all("tbody")
            .iter()
            .flat_map(|body| body.all("tr"))
            .map(|row| row.all("td").iter().map(|cell| cell.text()).collect())
            .collect()
    }
}

#[test]
fn the_reader_refuses_what_is_not_well_formed() {
    assert!(parse("<a><b>x</b></a>").is_ok());
    assert!(parse("<a><b>x</a>").is_err(), "mismatched end");
    assert!(parse("<a>x &nbsp; y</a>").is_err(), "unknown entity");
    assert!(parse("<a>x < y</a>").is_err(), "raw <");
    assert!(parse("<a><b>x</b>").is_err(), "unclosed");
    assert_eq!(
        parse("<a t=\"&lt;&amp;\">&lt;script&gt;&#39;</a>").map(|a| (a.text(), a.attributes)).ok(),
        Some(("<script>'".to_owned(), vec![("t".to_owned(), "<&".to_owned())]))
    );
}
