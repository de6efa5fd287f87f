//! Showing untrusted text on a terminal: control characters made visible, arguments quoted.

/// Whether `c` is a control character a terminal may act on: C0, DEL, C1, and the Unicode
/// direction and zero-width controls that can make text read differently from what it is.
pub fn is_control(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{feff}')
}

/// A control character written out (`\x1b`, `\r`, `\u{202e}`).
pub fn visible_char(c: char) -> String {
    match c {
        '\n' => "\\n".into(),
        '\r' => "\\r".into(),
        '\t' => "\\t".into(),
        c if (c as u32) < 0x100 => format!("\\x{:02x}", c as u32),
        c => format!("\\u{{{:x}}}", c as u32),
    }
}

/// `text` with every control character written out, for display.
pub fn visible(text: &str) -> String {
    text.chars()
        .map(|c| {
            if is_control(c) {
                visible_char(c)
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// Model text for the terminal: control characters dropped except line breaks and tabs.
pub fn terminal_safe(text: &str) -> String {
    text.chars()
        .filter(|c| matches!(c, '\n' | '\t') || !is_control(*c))
        .collect()
}

/// Quotes an argument as a POSIX shell would need it, for display only (nothing is ever run
/// through a shell); control characters use bash's `$'...'` form so they show, not act.
pub fn shell_quote(a: &str) -> String {
    if a.chars().any(is_control) {
        let mut out = String::from("$'");
        for c in a.chars() {
            match c {
                '\'' => out.push_str("\\'"),
                '\\' => out.push_str("\\\\"),
                c if is_control(c) => out.push_str(&visible_char(c)),
                c => out.push(c),
            }
        }
        out.push('\'');
        return out;
    }
    if !a.is_empty()
        && a.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,@%+".contains(c))
    {
        a.to_owned()
    } else {
        format!("'{}'", a.replace('\'', "'\\''"))
    }
}

/// `prefix` and the arguments, quoted, as one line.
pub fn command_line(prefix: &str, args: &[String]) -> String {
    let mut parts = vec![prefix.to_owned()];
    parts.extend(args.iter().map(|a| shell_quote(a)));
    parts.join(" ")
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn controls_show_and_never_act() {
        assert_eq!(shell_quote("pods\x1b[2K\r"), "$'pods\\x1b[2K\\r'");
        assert_eq!(shell_quote("a'b\u{202e}"), "$'a\\'b\\u{202e}'");
        assert_eq!(shell_quote("app in (a)"), "'app in (a)'");
        assert_eq!(shell_quote("deploy/web"), "deploy/web");
        assert_eq!(visible("x\u{9b}y"), "x\\x9by");
        assert_eq!(
            terminal_safe("ok\x1b[2K\rfake\nline\u{202e}"),
            "ok[2Kfake\nline"
        );
        for s in ["\x1b]0;title\x07", "\u{7f}", "\u{85}"] {
            assert!(!shell_quote(s).chars().any(is_control), "{s:?}");
        }
    }
}
