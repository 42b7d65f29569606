//! Splits a page body, `{"value": [...], "@odata.nextLink": ...}`, into its
//! records while it streams in, so a 200,000-row page never sits in memory
//! whole: only the record being read and the records not yet handed on.
//!
//! The splitter only tracks structure (nesting, strings, escapes); each
//! record is then validated as JSON on its own. Keys other than `value` and
//! `@odata.nextLink` are skipped without being kept.
//!
//! A hostile or broken body cannot take unbounded memory or time: a record
//! larger than [`MAX_RECORD_BYTES`], a key or next link larger than
//! [`MAX_TEXT_BYTES`], nesting deeper than [`MAX_DEPTH`] and a second
//! `value` or `@odata.nextLink` key are errors.

use std::collections::VecDeque;

use serde_json::value::RawValue;

/// Largest record kept: Defender's rows are about 1 KB and its devices a few;
/// anything near this is broken or hostile.
pub(crate) const MAX_RECORD_BYTES: usize = 4 << 20;

/// Largest key or next link kept.
pub(crate) const MAX_TEXT_BYTES: usize = 64 << 10;

/// Deepest nesting of arrays and objects, the same as serde_json's own
/// recursion limit, which would reject a deeper record anyway.
pub(crate) const MAX_DEPTH: u32 = 128;

/// Where the splitter is in the page's top-level object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    BeforeObject,
    /// After `{` (`first`: a `}` may close it) or after `,`.
    BeforeKey {
        first: bool,
    },
    Key,
    BeforeColon,
    BeforeValue,
    /// After `[` of `value` (`first`: a `]` may close it) or after `,`.
    BeforeRecord {
        first: bool,
    },
    Record,
    AfterRecord,
    /// Inside the value of another key (kept only for the next link).
    OtherValue,
    AfterValue,
    Done,
}

/// Which top-level key's value is being read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    Records,
    NextLink,
    Ignored,
}

/// The end of one JSON value found by [`Scan`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Continue,
    /// The value ends with this byte.
    EndWith,
    /// The value ended just before this byte (a number or literal).
    EndBefore,
    /// The value nests deeper than [`MAX_DEPTH`].
    TooDeep,
}

/// Tracks nesting and strings through one JSON value.
#[derive(Debug, Clone, Copy, Default)]
struct Scan {
    depth: u32,
    in_string: bool,
    escaped: bool,
    scalar: bool,
}

impl Scan {
    /// A scan of the value whose first byte is `first`.
    fn start(first: u8) -> Self {
        match first {
            b'{' | b'[' => Self {
                depth: 1,
                ..Self::default()
            },
            b'"' => Self {
                in_string: true,
                ..Self::default()
            },
            _ => Self {
                scalar: true,
                ..Self::default()
            },
        }
    }

    fn step(&mut self, byte: u8) -> Step {
        if self.in_string {
            if self.escaped {
                self.escaped = false;
            } else if byte == b'\\' {
                self.escaped = true;
            } else if byte == b'"' {
                self.in_string = false;
                if self.depth == 0 {
                    return Step::EndWith;
                }
            }
            return Step::Continue;
        }
        if self.scalar {
            return match byte {
                b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r' => Step::EndBefore,
                _ => Step::Continue,
            };
        }
        match byte {
            b'"' => self.in_string = true,
            b'{' | b'[' => {
                self.depth += 1;
                if self.depth > MAX_DEPTH {
                    return Step::TooDeep;
                }
            }
            b'}' | b']' => {
                self.depth = self.depth.saturating_sub(1);
                if self.depth == 0 {
                    return Step::EndWith;
                }
            }
            _ => {}
        }
        Step::Continue
    }
}

/// The incremental page parser. Feed it chunks, take records as they are
/// complete, and [`finish`](Self::finish) it at the end of the body.
#[derive(Debug)]
pub(crate) struct PageSplitter {
    state: State,
    target: Target,
    scan: Scan,
    /// The key, record or link being read, across chunks.
    pending: Vec<u8>,
    records: VecDeque<Box<RawValue>>,
    next_link: Option<String>,
    saw_records: bool,
    saw_link: bool,
    /// Bytes fed so far, for messages.
    offset: u64,
    n_records: u64,
}

impl Default for PageSplitter {
    fn default() -> Self {
        Self {
            state: State::BeforeObject,
            target: Target::Ignored,
            scan: Scan::default(),
            pending: Vec::new(),
            records: VecDeque::new(),
            next_link: None,
            saw_records: false,
            saw_link: false,
            offset: 0,
            n_records: 0,
        }
    }
}

fn is_space(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\n' | b'\r')
}

impl PageSplitter {
    /// Complete records not taken yet.
    pub(crate) fn ready(&self) -> usize {
        self.records.len()
    }

    /// Takes up to `max` complete records, oldest first.
    pub(crate) fn take(&mut self, max: usize) -> Vec<Box<RawValue>> {
        let n = max.min(self.records.len());
        self.records.drain(..n).collect()
    }

    /// Reads one chunk of the body; the error says what is wrong.
    pub(crate) fn feed(&mut self, chunk: &[u8]) -> Result<(), String> {
        let mut index = 0;
        while index < chunk.len() {
            index = match self.state {
                State::Key | State::Record | State::OtherValue => self.read_value(chunk, index)?,
                _ => self.structure(chunk[index], index)?,
            };
        }
        self.offset += chunk.len() as u64;
        Ok(())
    }

    /// The next link, once the whole body was read and is a complete page.
    pub(crate) fn finish(&self) -> Result<Option<String>, String> {
        match self.state {
            State::Done if self.saw_records => Ok(self.next_link.clone()),
            State::Done => Err("missing field `value`".into()),
            State::BeforeObject => Err("the body is empty".into()),
            _ => Err(format!(
                "the body ends after {} bytes, before the page is complete; records read: {}",
                self.offset, self.n_records
            )),
        }
    }

    /// One byte between values; returns the index of the next byte to read.
    fn structure(&mut self, byte: u8, index: usize) -> Result<usize, String> {
        if is_space(byte) {
            return Ok(index + 1);
        }
        let next = match (self.state, byte) {
            (State::BeforeObject, b'{') => State::BeforeKey { first: true },
            (State::BeforeKey { first: true }, b'}') => State::Done,
            (State::BeforeKey { .. }, b'"') => return Ok(self.begin(State::Key, byte, index)),
            (State::BeforeColon, b':') => State::BeforeValue,
            (State::BeforeValue, b'[') if self.target == Target::Records => {
                self.saw_records = true;
                State::BeforeRecord { first: true }
            }
            (State::BeforeValue, _) if self.target == Target::Records => {
                return Err("`value` is not an array".into());
            }
            (State::BeforeValue, _) => return Ok(self.begin(State::OtherValue, byte, index)),
            (State::BeforeRecord { first: true }, b']') => State::AfterValue,
            (State::BeforeRecord { .. }, _) => return Ok(self.begin(State::Record, byte, index)),
            (State::AfterRecord, b',') => State::BeforeRecord { first: false },
            (State::AfterRecord, b']') => State::AfterValue,
            (State::AfterValue, b',') => State::BeforeKey { first: false },
            (State::AfterValue, b'}') => State::Done,
            _ => return Err(self.unexpected(byte, index)),
        };
        self.state = next;
        Ok(index + 1)
    }

    fn unexpected(&self, byte: u8, index: usize) -> String {
        let shown = if byte.is_ascii_graphic() {
            (byte as char).to_string()
        } else {
            format!("0x{byte:02x}")
        };
        format!(
            "unexpected `{shown}` at byte {}",
            self.offset + index as u64
        )
    }

    /// Starts reading a key, record or other value at `chunk[index]`.
    fn begin(&mut self, state: State, byte: u8, index: usize) -> usize {
        self.state = state;
        self.scan = Scan::start(byte);
        self.pending.clear();
        self.pending.push(byte);
        index + 1
    }

    /// Reads the value in progress from `chunk[start..]`; returns the index
    /// after its end, or the chunk's length when it goes on.
    fn read_value(&mut self, chunk: &[u8], start: usize) -> Result<usize, String> {
        let keep = self.state != State::OtherValue || self.target == Target::NextLink;
        let mut index = start;
        while index < chunk.len() {
            if self.scan.in_string && !self.scan.escaped {
                // Most of a record is string content, where only a quote or
                // a backslash matters: jump to the next one.
                match memchr::memchr2(b'"', b'\\', &chunk[index..]) {
                    Some(offset) => index += offset,
                    None => break,
                }
            }
            let end = match self.scan.step(chunk[index]) {
                Step::Continue => {
                    index += 1;
                    continue;
                }
                Step::EndWith => index + 1,
                Step::EndBefore => index,
                Step::TooDeep => {
                    let at = self.offset + index as u64;
                    return Err(format!(
                        "nested deeper than {MAX_DEPTH} levels at byte {at}"
                    ));
                }
            };
            if keep {
                self.keep(&chunk[start..end])?;
            }
            self.complete()?;
            return Ok(end);
        }
        if keep {
            self.keep(&chunk[start..])?;
        }
        Ok(chunk.len())
    }

    /// Adds `bytes` to the value being kept, within its size limit.
    fn keep(&mut self, bytes: &[u8]) -> Result<(), String> {
        let (limit, what) = match self.state {
            State::Record => (MAX_RECORD_BYTES, format!("record {}", self.n_records + 1)),
            State::Key => (MAX_TEXT_BYTES, "a key".to_string()),
            _ => (MAX_TEXT_BYTES, "`@odata.nextLink`".to_string()),
        };
        if self.pending.len() + bytes.len() > limit {
            return Err(format!("{what} is larger than {limit} bytes"));
        }
        self.pending.extend_from_slice(bytes);
        Ok(())
    }

    /// Acts on the value just read into `pending`.
    fn complete(&mut self) -> Result<(), String> {
        match self.state {
            State::Key => {
                let key: String = serde_json::from_slice(&self.pending)
                    .map_err(|error| format!("a key is not valid JSON: {error}"))?;
                self.target = match key.as_str() {
                    "value" if self.saw_records => return Err("duplicate key `value`".into()),
                    "value" => Target::Records,
                    "@odata.nextLink" if self.saw_link => {
                        return Err("duplicate key `@odata.nextLink`".into())
                    }
                    "@odata.nextLink" => {
                        self.saw_link = true;
                        Target::NextLink
                    }
                    _ => Target::Ignored,
                };
                self.state = State::BeforeColon;
            }
            State::Record => {
                let text = String::from_utf8(std::mem::take(&mut self.pending))
                    .map_err(|_| format!("record {} is not UTF-8", self.n_records + 1))?;
                let record = RawValue::from_string(text).map_err(|error| {
                    format!("record {} is not valid JSON: {error}", self.n_records + 1)
                })?;
                self.records.push_back(record);
                self.n_records += 1;
                self.state = State::AfterRecord;
            }
            _ => {
                if self.target == Target::NextLink {
                    self.next_link = serde_json::from_slice(&self.pending)
                        .map_err(|_| "`@odata.nextLink` is not a string".to_string())?;
                }
                self.state = State::AfterValue;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::{json, Value};

    use super::*;

    /// Feeds `body` in chunks of `size` bytes.
    fn split(body: &[u8], size: usize) -> Result<(Vec<String>, Option<String>), String> {
        let mut splitter = PageSplitter::default();
        for chunk in body.chunks(size.max(1)) {
            splitter.feed(chunk)?;
        }
        let next_link = splitter.finish()?;
        let records = splitter
            .take(usize::MAX)
            .iter()
            .map(|record| record.get().to_string())
            .collect();
        Ok((records, next_link))
    }

    #[test]
    fn records_and_the_next_link_come_out_whatever_the_chunks() {
        let body = br#" {"@odata.context":"x,]}","skip":[{"a":"\"]"},-1.5e3,null],
            "value":[ {"id":"a","n":[1,{"b":"}"}]} , "text\\\"" ,42,true ],
            "@odata.nextLink":"https://h/next?$skiptoken=1","tail":false} "#;
        let expected = vec![
            r#"{"id":"a","n":[1,{"b":"}"}]}"#.to_string(),
            r#""text\\\"""#.to_string(),
            "42".to_string(),
            "true".to_string(),
        ];
        for size in 1..=body.len() {
            let (records, next_link) = split(body, size).expect("a page");
            assert_eq!(records, expected, "chunks of {size}");
            assert_eq!(next_link.as_deref(), Some("https://h/next?$skiptoken=1"));
        }
    }

    #[test]
    fn broken_bodies_say_what_is_wrong() {
        let cases: [(&[u8], &str); 7] = [
            (b"", "the body is empty"),
            (b" \n", "the body is empty"),
            (
                br#"{"value":[{"id":"a"},{"id":"#,
                "the body ends after 27 bytes, before the page is complete; records read: 1",
            ),
            (br#"{"items":[]}"#, "missing field `value`"),
            (br#"{"value":{}}"#, "`value` is not an array"),
            (
                br#"{"value":[{"id":tru}]}"#,
                "record 1 is not valid JSON: expected ident at line 1 column 10",
            ),
            (br#"{"value":[]}x"#, "unexpected `x` at byte 12"),
        ];
        for (body, message) in cases {
            assert_eq!(
                split(body, 7).expect_err("broken"),
                message,
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn hostile_bodies_hit_a_limit_instead_of_memory() {
        let deep = format!("{{\"value\":[{}", "[".repeat(100_000));
        let error = split(deep.as_bytes(), 4096).expect_err("too deep");
        assert_eq!(error, "nested deeper than 128 levels at byte 138");
        let ignored_deep = format!("{{\"x\":{}", "{\"a\":".repeat(200));
        let error = split(ignored_deep.as_bytes(), 4096).expect_err("too deep");
        assert!(
            error.starts_with("nested deeper than 128 levels"),
            "{error}"
        );

        let huge = format!(
            "{{\"value\":[{{\"s\":\"{}\"}}]}}",
            "x".repeat(MAX_RECORD_BYTES)
        );
        let error = split(huge.as_bytes(), 65_536).expect_err("too large");
        assert_eq!(
            error,
            format!("record 1 is larger than {MAX_RECORD_BYTES} bytes")
        );
        let long_link = format!("{{\"@odata.nextLink\":\"{}\"", "y".repeat(MAX_TEXT_BYTES));
        let error = split(long_link.as_bytes(), 65_536).expect_err("too large");
        assert_eq!(
            error,
            format!("`@odata.nextLink` is larger than {MAX_TEXT_BYTES} bytes")
        );

        for (body, message) in [
            (r#"{"value":[1],"value":[2]}"#, "duplicate key `value`"),
            (
                r#"{"value":[],"@odata.nextLink":"a","@odata.nextLink":"b"}"#,
                "duplicate key `@odata.nextLink`",
            ),
        ] {
            assert_eq!(split(body.as_bytes(), 5).expect_err(body), message);
        }
    }

    #[test]
    fn a_null_next_link_is_no_next_link() {
        let (records, next_link) =
            split(br#"{"value":[],"@odata.nextLink":null}"#, 3).expect("a page");
        assert!(records.is_empty() && next_link.is_none());
    }

    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|n| json!(n)),
            (-1e6f64..1e6).prop_map(|n| json!(n)),
            "(?s).{0,12}".prop_map(Value::String),
        ];
        leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::btree_map("[a-z\"{}]{0,4}", inner, 0..4)
                    .prop_map(|map| Value::Object(map.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn any_page_splits_like_serde_parses_it(
            records in prop::collection::vec(json_value(), 0..6),
            extra in json_value(),
            link in proptest::option::of("(?s).{0,20}"),
            pretty in any::<bool>(),
            size in 1usize..64,
            cut in any::<prop::sample::Index>(),
        ) {
            let page = json!({ "a": extra, "value": records, "@odata.nextLink": link });
            let body = if pretty { serde_json::to_vec_pretty(&page) } else { serde_json::to_vec(&page) };
            let body = body.expect("serializable");
            let (split_records, next_link) = split(&body, size).expect("a page");

            // Compared as parsed by the same parser: the texts differ in
            // whitespace when pretty.
            let parse = |text: &str| serde_json::from_str::<Value>(text).expect("json");
            let split_records: Vec<Value> = split_records.iter().map(|text| parse(text)).collect();
            let expected: Vec<Value> = records
                .iter()
                .map(|record| parse(&serde_json::to_string(record).expect("serializable")))
                .collect();
            prop_assert_eq!(split_records, expected);
            prop_assert_eq!(next_link, link);

            // Any cut before the closing brace is reported, never a short page.
            let end = body.iter().rposition(|byte| *byte == b'}').expect("a closing brace");
            prop_assert!(split(&body[..cut.index(end)], size).is_err());
        }
    }
}
