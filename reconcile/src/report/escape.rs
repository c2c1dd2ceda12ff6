//! Ledger text made safe to show. References, evidence, actors and reasons are written by
//! reconcilers from what banks sent, so they carry whatever a statement's remittance text or a
//! bank reference carried: escape sequences that repaint an operator's terminal, markup that
//! would become tags in the HTML report, bidirectional overrides that make `pay 100` read as
//! `pay 001`, characters XML forbids. Every renderer shows such text only through this module.

use std::borrow::Cow;
use std::fmt::Write;

/// True for a character shown as `\u{…}` rather than as itself: controls (C0, DEL, C1 — a
/// terminal acts on them, and XML 1.0 forbids most of them), the bidirectional formatting
/// characters (they reorder the text around them), and the non-characters U+FFFE and U+FFFF
/// (forbidden in XML).
pub fn is_hidden(character: char) -> bool {
    character.is_control()
        || matches!(
            character,
            '\u{061C}'
                | '\u{200E}'
                | '\u{200F}'
                | '\u{202A}'..='\u{202E}'
                | '\u{2066}'..='\u{2069}'
                | '\u{FFFE}'
                | '\u{FFFF}'
        )
}

/// `text` for a terminal: every hidden character written as `\u{hex}`; borrowed when there
/// was none.
pub fn terminal_text(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_hidden) {
        return Cow::Borrowed(text);
    }
    let mut shown = String::with_capacity(text.len() + 8);
    for character in text.chars() {
        push_visible(&mut shown, character);
    }
    Cow::Owned(shown)
}

/// `text` as HTML (and XML) character data or attribute value: hidden characters as
/// `\u{hex}`, then `& < > " '` as entities, so nothing in it can open or close a tag or an
/// attribute.
pub fn html_text(text: &str) -> String {
    let mut shown = String::with_capacity(text.len() + 8);
    for character in text.chars() {
        match character {
            '&' => shown.push_str("&amp;"),
            '<' => shown.push_str("&lt;"),
            '>' => shown.push_str("&gt;"),
            '"' => shown.push_str("&quot;"),
            '\'' => shown.push_str("&#39;"),
            other => push_visible(&mut shown, other),
        }
    }
    shown
}

fn push_visible(shown: &mut String, character: char) {
    if is_hidden(character) {
        // Writing to a `String` cannot fail.
        let _ = write!(shown, "\\u{{{:x}}}", u32::from(character));
    } else {
        shown.push(character);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_passes_unchanged_and_unowned() {
        assert!(matches!(terminal_text("E2E-42 付款 100.00"), Cow::Borrowed(_)));
        assert_eq!(html_text("E2E-42 付款 100.00"), "E2E-42 付款 100.00");
    }

    #[test]
    fn terminal_escapes_and_bidi_overrides_become_visible() {
        assert_eq!(terminal_text("a\u{1b}[2Jb"), "a\\u{1b}[2Jb");
        assert_eq!(terminal_text("pay \u{202E}001"), "pay \\u{202e}001");
        assert_eq!(
            terminal_text("line\nbreak\ttab\u{7f}\u{9b}"),
            "line\\u{a}break\\u{9}tab\\u{7f}\\u{9b}"
        );
    }

    #[test]
    fn markup_becomes_text() {
        assert_eq!(
            html_text("<script>alert('x')</script> & \"q\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;"
        );
        assert_eq!(html_text("nul\0 \u{FFFE}"), "nul\\u{0} \\u{fffe}");
    }
}
