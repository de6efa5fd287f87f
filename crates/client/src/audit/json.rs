//! JSON text and value formatting the way Python prints it.
//!
//! * [`to_py_json`] writes JSON as `json.dumps` does: `ensure_ascii` escapes
//!   (`\uXXXX`, surrogate pairs above U+FFFF, DEL included) and Python's float
//!   spelling (`1e-05`, `1e+16`), compact or with `indent=2`.
//! * [`py_str`] is Python's `str()` of a decoded JSON value (`None`, `True`,
//!   `['a', 'b']`, ...), which the reference uses for table and CSV cells.

use std::io;

use serde::Serialize;
use serde_json::ser::{CompactFormatter, Formatter, PrettyFormatter};
use serde_json::Value;

/// Serializes `value` as Python's `json.dumps` would: compact
/// (`separators=(",", ":")`) or with `indent=2`, ASCII-only when `ascii`.
pub(crate) fn to_py_json<T: Serialize + ?Sized>(
    value: &T,
    pretty: bool,
    ascii: bool,
) -> Result<String, serde_json::Error> {
    let mut out = Vec::with_capacity(256);
    if pretty {
        let fmt = PyFormatter {
            inner: PrettyFormatter::with_indent(b"  "),
            ascii,
        };
        value.serialize(&mut serde_json::Serializer::with_formatter(&mut out, fmt))?;
    } else {
        let fmt = PyFormatter {
            inner: CompactFormatter,
            ascii,
        };
        value.serialize(&mut serde_json::Serializer::with_formatter(&mut out, fmt))?;
    }
    // serde_json only ever writes UTF-8.
    Ok(String::from_utf8(out)
        .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()))
}

/// A formatter that changes only string fragments (for `ensure_ascii`) and
/// floats (Python's `repr`), delegating layout to `inner`.
struct PyFormatter<F> {
    inner: F,
    ascii: bool,
}

impl<F: Formatter> Formatter for PyFormatter<F> {
    fn write_f64<W: ?Sized + io::Write>(&mut self, w: &mut W, value: f64) -> io::Result<()> {
        w.write_all(py_float_repr(value).as_bytes())
    }
    fn write_f32<W: ?Sized + io::Write>(&mut self, w: &mut W, value: f32) -> io::Result<()> {
        w.write_all(py_float_repr(f64::from(value)).as_bytes())
    }
    fn write_string_fragment<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        if !self.ascii || fragment.bytes().all(|b| b < 0x7f) {
            return w.write_all(fragment.as_bytes());
        }
        let mut buf = String::with_capacity(fragment.len() + 16);
        push_ascii_escaped(&mut buf, fragment);
        w.write_all(buf.as_bytes())
    }
    fn begin_array<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.inner.begin_array(w)
    }
    fn end_array<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.inner.end_array(w)
    }
    fn begin_array_value<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> io::Result<()> {
        self.inner.begin_array_value(w, first)
    }
    fn end_array_value<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.inner.end_array_value(w)
    }
    fn begin_object<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.inner.begin_object(w)
    }
    fn end_object<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.inner.end_object(w)
    }
    fn begin_object_key<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> io::Result<()> {
        self.inner.begin_object_key(w, first)
    }
    fn end_object_key<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.inner.end_object_key(w)
    }
    fn begin_object_value<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.inner.begin_object_value(w)
    }
    fn end_object_value<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.inner.end_object_value(w)
    }
}

/// Appends `text` with every char outside `' '..='~'`-and-below (that is,
/// DEL and all non-ASCII) as `\uXXXX`, as Python's `ensure_ascii` does. The
/// caller has already escaped quotes, backslashes and control chars.
fn push_ascii_escaped(out: &mut String, text: &str) {
    for c in text.chars() {
        if (c as u32) < 0x7f {
            out.push(c);
            continue;
        }
        let mut units = [0u16; 2];
        for unit in c.encode_utf16(&mut units) {
            out.push_str(&format!("\\u{unit:04x}"));
        }
    }
}

/// How many bytes the char `c` takes inside a JSON string written by
/// [`to_py_json`] with `ascii` set.
pub(crate) fn ascii_json_len(c: char) -> usize {
    match c {
        '"' | '\\' | '\n' | '\r' | '\t' | '\u{8}' | '\u{c}' => 2,
        c if (c as u32) < 0x20 => 6,
        c if (c as u32) < 0x7f => 1,
        c => 6 * c.len_utf16(),
    }
}

/// Python's `repr(float)` (and `str(float)`): shortest round-trip digits,
/// exponent form below 1e-4 or from 1e16 on, always a `.0` or exponent.
pub(crate) fn py_float_repr(v: f64) -> String {
    if v.is_nan() {
        return "nan".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "inf" } else { "-inf" }.into();
    }
    let sign = if v.is_sign_negative() { "-" } else { "" };
    if v == 0.0 {
        return format!("{sign}0.0");
    }
    let sci = format!("{:e}", v.abs());
    let (mantissa, exp) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let decpt = exp + 1;
    if !(-3..=16).contains(&decpt) {
        let (first, rest) = digits.split_at(1.min(digits.len()));
        let dot = if rest.is_empty() { "" } else { "." };
        let esign = if exp < 0 { '-' } else { '+' };
        format!("{sign}{first}{dot}{rest}e{esign}{:02}", exp.unsigned_abs())
    } else if decpt <= 0 {
        let zeros = "0".repeat(decpt.unsigned_abs() as usize);
        format!("{sign}0.{zeros}{digits}")
    } else {
        let point = decpt.unsigned_abs() as usize;
        if digits.len() <= point {
            let zeros = "0".repeat(point - digits.len());
            format!("{sign}{digits}{zeros}.0")
        } else {
            let (int, frac) = digits.split_at(point);
            format!("{sign}{int}.{frac}")
        }
    }
}

/// Python's truthiness of a decoded JSON value.
pub(crate) fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

/// Python's `str()` of a decoded JSON value.
pub(crate) fn py_str(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => py_repr(other),
    }
}

/// Python's `repr()` of a decoded JSON value. Objects come out in key order
/// (serde_json's map is sorted), not file order.
pub(crate) fn py_repr(v: &Value) -> String {
    match v {
        Value::Null => "None".into(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => i.to_string(),
            (_, Some(u), _) => u.to_string(),
            (_, _, Some(f)) => py_float_repr(f),
            _ => n.to_string(),
        },
        Value::String(s) => py_repr_str(s),
        Value::Array(items) => {
            let parts: Vec<String> = items.iter().map(py_repr).collect();
            format!("[{}]", parts.join(", "))
        }
        Value::Object(map) => {
            let parts: Vec<String> = map
                .iter()
                .map(|(k, v)| format!("{}: {}", py_repr_str(k), py_repr(v)))
                .collect();
            format!("{{{}}}", parts.join(", "))
        }
    }
}

/// Python's `repr()` of a string (quote choice and escapes; printable
/// non-ASCII stays as is, with an approximation of `str.isprintable`).
fn py_repr_str(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if !py_printable(c) => {
                let n = c as u32;
                if n < 0x100 {
                    out.push_str(&format!("\\x{n:02x}"));
                } else if n < 0x10000 {
                    out.push_str(&format!("\\u{n:04x}"));
                } else {
                    out.push_str(&format!("\\U{n:08x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

/// Approximates Python's `str.isprintable` for one char (space counts).
fn py_printable(c: char) -> bool {
    !(c.is_control()
        || matches!(c,
            '\u{a0}' | '\u{ad}' | '\u{1680}' | '\u{2000}'..='\u{200f}' | '\u{2028}'..='\u{202f}'
            | '\u{205f}'..='\u{2064}' | '\u{3000}' | '\u{feff}' | '\u{e000}'..='\u{f8ff}'))
}

/// The order the reference and this client write an entry's keys in (all
/// event types share it); [`FileOrder`] uses it to give back file order
/// although `serde_json::Map` sorts keys.
const KEY_ORDER: &[&str] = &[
    "timestamp",
    "proxy_profile",
    "request_id",
    "event_type",
    "request_hash",
    "response_hash",
    "original_hash",
    "sanitized_hash",
    "secrets_detected",
    "secrets_types",
    "command_generated",
    "user_approved",
    "model_used",
    "call",
    "streamed",
    "error",
    "error_code",
    "server_url",
    "success",
    "error_message",
    "connection_time_ms",
];

/// Serializes an entry with its keys in the order they were written:
/// [`KEY_ORDER`] first, any other keys after them, sorted.
pub(crate) struct FileOrder<'a>(pub(crate) &'a Value);

impl Serialize for FileOrder<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let Value::Object(map) = self.0 else {
            return self.0.serialize(serializer);
        };
        let mut out = serializer.serialize_map(Some(map.len()))?;
        for key in KEY_ORDER {
            if let Some(v) = map.get(*key) {
                out.serialize_entry(key, v)?;
            }
        }
        for (key, v) in map {
            if !KEY_ORDER.contains(&key.as_str()) {
                out.serialize_entry(key, v)?;
            }
        }
        out.end()
    }
}
