//! Text shown to people on a terminal.

/// Whether `c` hides or reorders what a line shows without being a control
/// character: the soft hyphen, the Arabic letter mark, zero-width
/// characters and directional marks, line and paragraph separators,
/// bidirectional embeddings, overrides and isolates, the word joiner and
/// invisible operators, the byte-order mark, and tags. A display that must
/// show every string unambiguously escapes these and the control
/// characters (`char::is_control`).
pub fn hides_or_reorders(c: char) -> bool {
    matches!(
        c,
        '\u{AD}'
            | '\u{61C}'
            | '\u{200B}'..='\u{200F}'
            | '\u{2028}'..='\u{202E}'
            | '\u{2060}'..='\u{2069}'
            | '\u{FEFF}'
            | '\u{E0000}'..='\u{E007F}'
    )
}
