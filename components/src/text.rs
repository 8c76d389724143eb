//! Text shown to people on a terminal.

/// Whether `c` hides or reorders what a line shows without being a control
/// character: the soft hyphen, the Arabic letter mark, zero-width
/// characters and directional marks, line and paragraph separators,
/// bidirectional embeddings, overrides and isolates, the word joiner and
/// invisible operators, the byte-order mark, tags, and the other
/// characters Unicode says a display may show as nothing
/// (`Default_Ignorable_Code_Point`: the combining grapheme joiner, Hangul
/// fillers, Khmer inherent vowels, Mongolian selectors and vowel separator,
/// musical formatting). Variation selectors, which emoji hold, are left as
/// they are. A display that must show every string unambiguously escapes
/// these and the control characters (`char::is_control`).
pub fn hides_or_reorders(c: char) -> bool {
    matches!(
        c,
        '\u{AD}'
            | '\u{34F}'
            | '\u{61C}'
            | '\u{115F}'..='\u{1160}'
            | '\u{17B4}'..='\u{17B5}'
            | '\u{180B}'..='\u{180F}'
            | '\u{200B}'..='\u{200F}'
            | '\u{2028}'..='\u{202E}'
            | '\u{2060}'..='\u{206F}'
            | '\u{3164}'
            | '\u{FEFF}'
            | '\u{FFA0}'
            | '\u{FFF0}'..='\u{FFF8}'
            | '\u{1BCA0}'..='\u{1BCA3}'
            | '\u{1D173}'..='\u{1D17A}'
            | '\u{E0000}'..='\u{E007F}'
            | '\u{E0080}'..='\u{E00FF}'
            | '\u{E01F0}'..='\u{E0FFF}'
    )
}

/// Whether `c` drives a terminal or hides or reorders a line: a control
/// character (`char::is_control`: C0 but tab and newline, DEL, C1) or one
/// [`hides_or_reorders`] names. What [`escape_risky`] escapes.
pub fn is_risky(c: char) -> bool {
    (c.is_control() && c != '\n' && c != '\t') || hides_or_reorders(c)
}

/// Pushes `c` onto `out` as a line for people shows it: an ASCII control
/// character (newline, tab, carriage return, escape, delete) as `\xNN`,
/// another control character or one [`hides_or_reorders`] names as `\u{N}`
/// (hex), any other as itself. What `demo dedupe` shows paths with and CLI
/// error lines are written with.
pub fn push_shown(out: &mut String, c: char) {
    use std::fmt::Write;
    if c.is_ascii_control() {
        let _ = write!(out, "\\x{:02X}", c as u32);
    } else if c.is_control() || hides_or_reorders(c) {
        let _ = write!(out, "\\u{{{:X}}}", c as u32);
    } else {
        out.push(c);
    }
}

/// `text` with the characters that drive a terminal or hide or reorder a
/// line written as JSON `\uXXXX` escapes (a pair of them above U+FFFF):
/// the control characters (`char::is_control`: C0 but tab and newline,
/// DEL, C1) and those [`hides_or_reorders`] names. Inside a JSON string the
/// result is the same JSON value; anywhere else it shows every string
/// unambiguously (`dizzy show`, the explorer).
pub fn escape_risky(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(is_risky) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if is_risky(c) {
            let mut units = [0u16; 2];
            for u in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{u:04x}"));
            }
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}
