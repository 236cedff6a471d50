//! Text from outside the node (agent names, rejection messages, goal
//! descriptions) made safe to show. HTML escaping is the template crate's
//! job; this removes what escaping leaves through: control characters and
//! the Unicode bidirectional controls that can make `evil.exe` read as
//! `exe.live` or reorder a score (CVE-2021-42574, "Trojan Source").

use maud::{Escaper, Render};
use std::fmt::Write as _;

/// Shown where a removed character was, so a reader sees that something
/// was there.
pub const REPLACEMENT: char = '\u{FFFD}';

/// Whether `c` may not reach a page raw: C0/C1 controls (tab and newline
/// excepted, which HTML renders as spaces) and every bidi embedding,
/// override, isolate and mark.
pub fn is_unsafe(c: char) -> bool {
    (c.is_control() && c != '\n' && c != '\t')
        || matches!(
            c,
            '\u{061C}'
                | '\u{200E}'
                | '\u{200F}'
                | '\u{202A}'..='\u{202E}'
                | '\u{2066}'..='\u{2069}'
        )
}

/// `s` with every unsafe character replaced by [`REPLACEMENT`].
pub fn clean(s: &str) -> std::borrow::Cow<'_, str> {
    if s.chars().any(is_unsafe) {
        s.chars()
            .map(|c| if is_unsafe(c) { REPLACEMENT } else { c })
            .collect::<String>()
            .into()
    } else {
        s.into()
    }
}

/// Outside text in a template: cleaned, then escaped. Every string the
/// node did not write itself goes through this.
pub struct Text<'a>(pub &'a str);

impl Render for Text<'_> {
    fn render_to(&self, buffer: &mut String) {
        let _ = Escaper::new(buffer).write_str(&clean(self.0));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bidi_overrides_and_isolates_are_replaced() {
        let s = "agent\u{202E}gpj.exe\u{2066}x\u{2069}";
        assert_eq!(clean(s), "agent\u{FFFD}gpj.exe\u{FFFD}x\u{FFFD}");
    }

    #[test]
    fn control_characters_are_replaced_but_newlines_and_tabs_stay() {
        assert_eq!(
            clean("a\u{0}b\u{1b}[31mc\u{85}d\ne\tf"),
            "a\u{FFFD}b\u{FFFD}[31mc\u{FFFD}d\ne\tf"
        );
    }

    #[test]
    fn ordinary_text_in_any_script_is_untouched() {
        for s in ["momentum v2", "שלום", "مرحبا", "日本語", "naïve – café"] {
            assert_eq!(clean(s), s);
        }
    }

    #[test]
    fn rendered_text_is_cleaned_and_escaped() {
        let m = maud::html! { p { (Text("<b>\u{202E}x")) } };
        assert_eq!(m.into_string(), "<p>&lt;b&gt;\u{FFFD}x</p>");
    }
}
