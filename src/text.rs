//! Untrusted text (names, images, server messages) made safe for a terminal.

/// Replaces control and bidirectional-override characters with visible escapes,
/// so a crafted name cannot move the cursor, recolour the screen or reorder text.
pub fn sanitize(s: &str) -> String {
    if !s.chars().any(is_unsafe) {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if is_unsafe(c) {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    out
}

/// [`sanitize`] line by line: newlines are kept, every other control character escaped.
pub fn sanitize_multiline(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for line in s.split_inclusive('\n') {
        match line.strip_suffix('\n') {
            Some(l) => {
                out.push_str(&sanitize(l));
                out.push('\n');
            }
            None => out.push_str(&sanitize(line)),
        }
    }
    out
}

fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

#[cfg(test)]
mod tests {
    #[test]
    fn escapes_terminal_controls() {
        assert_eq!(super::sanitize("a\u{1b}[2Jb"), "a\\u{1b}[2Jb");
        assert_eq!(super::sanitize("plain-name"), "plain-name");
    }
}
