//! LVM2's metadata text (lvm2 `libdm/libdm-config.c` grammar): `name { … }` sections,
//! `key = value` with integers, `"strings"` (`\"` and `\\` escaped) or `[lists]` of them,
//! `#` comments to the end of the line. Parsed into a tree of sections and values;
//! nothing here knows what a VG is.

/// A value in the tree.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Int(i64),
    Float(f64),
    Str(String),
    List(Vec<Value>),
    Section(Section),
}

/// A section: its keys in file order (a key given twice keeps the last value).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Section {
    pub entries: Vec<(String, Value)>,
}

impl Section {
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.entries
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
    }
    pub fn section(&self, key: &str) -> Option<&Section> {
        match self.get(key)? {
            Value::Section(s) => Some(s),
            _ => None,
        }
    }
    pub fn int(&self, key: &str) -> Option<i64> {
        match self.get(key)? {
            Value::Int(i) => Some(*i),
            _ => None,
        }
    }
    pub fn str(&self, key: &str) -> Option<&str> {
        match self.get(key)? {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }
    pub fn list(&self, key: &str) -> Option<&[Value]> {
        match self.get(key)? {
            Value::List(l) => Some(l),
            _ => None,
        }
    }
    /// The strings of list `key` (other items skipped); empty when absent.
    pub fn strings(&self, key: &str) -> Vec<&str> {
        self.list(key)
            .unwrap_or_default()
            .iter()
            .filter_map(|v| match v {
                Value::Str(s) => Some(s.as_str()),
                _ => None,
            })
            .collect()
    }
    /// The sub-sections, in file order.
    pub fn sections(&self) -> impl Iterator<Item = (&str, &Section)> {
        self.entries.iter().filter_map(|(k, v)| match v {
            Value::Section(s) => Some((k.as_str(), s)),
            _ => None,
        })
    }
}

/// How deep sections and lists may nest (lvm2 writes 4 levels).
const MAX_DEPTH: usize = 32;

/// Parses the whole text into its top-level section. Errors name the line.
pub fn parse(text: &str) -> Result<Section, String> {
    let mut p = Parser {
        b: text.as_bytes(),
        at: 0,
        line: 1,
    };
    let s = p.section_body(0, true)?;
    Ok(s)
}

struct Parser<'a> {
    b: &'a [u8],
    at: usize,
    line: usize,
}

impl Parser<'_> {
    fn fail<T>(&self, what: &str) -> Result<T, String> {
        Err(format!("LVM metadata line {}: {what}", self.line))
    }

    fn skip_space(&mut self) {
        while let Some(&c) = self.b.get(self.at) {
            match c {
                b'\n' => {
                    self.line += 1;
                    self.at += 1
                }
                b' ' | b'\t' | b'\r' => self.at += 1,
                b'#' => {
                    while self.b.get(self.at).is_some_and(|&c| c != b'\n') {
                        self.at += 1;
                    }
                }
                _ => break,
            }
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.skip_space();
        self.b.get(self.at).copied()
    }

    fn ident(&mut self) -> Result<String, String> {
        self.skip_space();
        let start = self.at;
        while self
            .b
            .get(self.at)
            .is_some_and(|c| c.is_ascii_alphanumeric() || b"_-.+/".contains(c))
        {
            self.at += 1;
        }
        if start == self.at {
            return self.fail("a name was expected");
        }
        Ok(String::from_utf8_lossy(&self.b[start..self.at]).into_owned())
    }

    fn section_body(&mut self, depth: usize, top: bool) -> Result<Section, String> {
        if depth > MAX_DEPTH {
            return self.fail("sections nest too deep");
        }
        let mut s = Section::default();
        loop {
            match self.peek() {
                None if top => return Ok(s),
                None => return self.fail("a section is not closed"),
                Some(b'}') if !top => {
                    self.at += 1;
                    return Ok(s);
                }
                Some(_) => {}
            }
            let key = self.ident()?;
            match self.peek() {
                Some(b'{') => {
                    self.at += 1;
                    let sub = self.section_body(depth + 1, false)?;
                    s.entries.push((key, Value::Section(sub)));
                }
                Some(b'=') => {
                    self.at += 1;
                    let v = self.value(depth + 1)?;
                    s.entries.push((key, v));
                }
                _ => return self.fail(&format!("`=` or `{{` expected after `{key}`")),
            }
        }
    }

    fn value(&mut self, depth: usize) -> Result<Value, String> {
        if depth > MAX_DEPTH {
            return self.fail("lists nest too deep");
        }
        match self.peek() {
            Some(b'"') => self.string().map(Value::Str),
            Some(b'[') => {
                self.at += 1;
                let mut items = Vec::new();
                loop {
                    match self.peek() {
                        Some(b']') => {
                            self.at += 1;
                            return Ok(Value::List(items));
                        }
                        Some(b',') if !items.is_empty() => self.at += 1,
                        None => return self.fail("a list is not closed"),
                        _ => items.push(self.value(depth + 1)?),
                    }
                }
            }
            Some(c) if c == b'-' || c.is_ascii_digit() => self.number(),
            _ => self.fail("a value was expected"),
        }
    }

    fn string(&mut self) -> Result<String, String> {
        self.at += 1; // the opening quote
        let mut out = Vec::new();
        loop {
            match self.b.get(self.at) {
                None => return self.fail("a string is not closed"),
                Some(b'"') => {
                    self.at += 1;
                    return String::from_utf8(out).or_else(|_| self.fail("a string is not UTF-8"));
                }
                Some(b'\\') => {
                    let Some(&c) = self.b.get(self.at + 1) else {
                        return self.fail("a string is not closed");
                    };
                    out.push(c);
                    self.at += 2;
                }
                Some(&c) => {
                    if c == b'\n' {
                        self.line += 1;
                    }
                    out.push(c);
                    self.at += 1;
                }
            }
        }
    }

    fn number(&mut self) -> Result<Value, String> {
        let start = self.at;
        self.at += 1;
        while self
            .b
            .get(self.at)
            .is_some_and(|c| c.is_ascii_digit() || *c == b'.')
        {
            self.at += 1;
        }
        let t = std::str::from_utf8(&self.b[start..self.at]).unwrap_or("");
        if let Ok(i) = t.parse::<i64>() {
            return Ok(Value::Int(i));
        }
        match t.parse::<f64>() {
            Ok(f) if t.contains('.') => Ok(Value::Float(f)),
            _ => self.fail(&format!("`{t}` is not a number")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_lvm2_writes() {
        let t = "# Generated by LVM2\n\
                 contents = \"Text Format Volume Group\"\nversion = 1\n\n\
                 vg0 {\n\tid = \"abc\"\n\tseqno = 3\n\tstatus = [\"RESIZEABLE\", \"READ\"]\n\
                 \tflags = []\n\textent_size = 8192\t# 4 Megabytes\n\
                 \tlogical_volumes {\n\t\troot {\n\t\t\tsegment1 {\n\
                 \t\t\t\tstripes = [\n\t\t\t\t\t\"pv0\", 0\n\t\t\t\t]\n\t\t\t}\n\t\t}\n\t}\n}\n\
                 creation_time = 1700000000\t# Tue\ndescription = \"q\\\"uote\"\n";
        let top = parse(t).unwrap();
        assert_eq!(top.int("version"), Some(1));
        assert_eq!(top.str("description"), Some("q\"uote"));
        let vg = top.section("vg0").unwrap();
        assert_eq!(vg.int("seqno"), Some(3));
        assert_eq!(vg.strings("status"), ["RESIZEABLE", "READ"]);
        assert!(vg.list("flags").unwrap().is_empty());
        let seg = vg
            .section("logical_volumes")
            .and_then(|l| l.section("root"))
            .and_then(|r| r.section("segment1"))
            .unwrap();
        assert_eq!(
            seg.list("stripes").unwrap(),
            [Value::Str("pv0".into()), Value::Int(0)]
        );
        assert_eq!(top.sections().count(), 1);
    }

    #[test]
    fn malformed_text_names_the_line() {
        for (bad, line) in [
            ("vg {\n a = \n}", 3),
            ("vg {\n a = 1\n", 3),
            ("vg {\n a = \"x\n", 3),
            ("vg {\n a = [1, 2\n}", 3),
            ("vg {\n = 1 }", 2),
            ("vg {\n a 1 }", 2),
            ("vg {\n a = -x }", 2),
            ("}", 1),
        ] {
            let e = parse(bad).unwrap_err();
            assert!(e.contains(&format!("line {line}")), "{bad:?}: {e}");
        }
        let deep = "a {".repeat(100);
        assert!(parse(&deep).unwrap_err().contains("too deep"));
        let lists = format!("a = {}", "[".repeat(100));
        assert!(parse(&lists).unwrap_err().contains("too deep"));
        assert_eq!(parse("").unwrap(), Section::default());
    }
}
