//! A reader of PostgreSQL's binary `COPY … TO STDOUT (FORMAT binary)`
//! stream, for bulk reads where decoding rows through the extended
//! protocol would cost more than producing them (audit verification).
//!
//! The format (PostgreSQL docs, "COPY", *Binary Format*): an 11-byte
//! signature, a 32-bit flags word, a 32-bit header-extension length and
//! that many bytes; then tuples, each a 16-bit field count followed by
//! every field as a 32-bit length (-1: NULL) and that many bytes; then a
//! trailer, a field count of -1. All integers are big-endian.
//!
//! [`CopyDecoder`] is the pure part: it finds where the next item ends in a
//! byte slice and checks its structure, and never panics on any input
//! (truncated, garbled or hostile). [`CopyRows`] feeds it the chunks of a
//! `copy_out_raw` stream and lends out each tuple without copying it
//! (PostgreSQL sends one row per message; a row split across messages is
//! joined first).

use futures_util::{Stream, StreamExt};

/// `PGCOPY\n\377\r\n\0`.
const SIGNATURE: &[u8; 11] = b"PGCOPY\n\xff\r\n\0";

/// Flag bits a reader must understand: 0–15 are reserved for incompatible
/// format changes, 16 says OIDs follow (never, since PostgreSQL 12).
const CRITICAL_FLAGS: u32 = 0x0001_ffff;

/// What is wrong with a binary COPY stream.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CopyFormatError {
    #[error("binary copy: the signature is missing or wrong")]
    BadSignature,
    #[error("binary copy: unsupported header flags {0:#010x}")]
    UnsupportedFlags(u32),
    #[error("binary copy: the header extension length {0} is negative")]
    BadHeaderExtension(i32),
    #[error("binary copy: the data ends inside the header, a tuple or before the trailer")]
    Truncated,
    #[error("binary copy: a tuple has {found} fields, expected {expected}")]
    FieldCount { expected: usize, found: i16 },
    #[error("binary copy: field {column} has the invalid length {len}")]
    BadFieldLength { column: usize, len: i32 },
    #[error("binary copy: data after the trailer")]
    TrailingData,
    #[error("binary copy: field {column} is NULL where a value is required")]
    UnexpectedNull { column: usize },
    #[error("binary copy: field {column} is {len} bytes, expected {expected}")]
    WrongWidth {
        column: usize,
        len: usize,
        expected: usize,
    },
}

impl From<CopyFormatError> for sqlx::Error {
    fn from(e: CopyFormatError) -> Self {
        sqlx::Error::Decode(Box::new(e))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Header,
    Tuples,
    Ended,
}

/// Where one field lies in its tuple: the offset of its length word, and
/// its length (-1: NULL).
#[derive(Debug, Clone, Copy)]
struct Span {
    at: usize,
    len: i32,
}

/// One decoded item at the front of a byte slice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// More bytes are needed to finish the item.
    NeedMore,
    /// The header, `consumed` bytes long.
    Header { consumed: usize },
    /// A tuple of `consumed` bytes; its fields are in the decoder until the
    /// next call.
    Tuple { consumed: usize },
    /// The trailer (2 bytes).
    Trailer,
}

/// The structure of a binary COPY stream, decoded item by item.
#[derive(Debug)]
pub struct CopyDecoder {
    columns: usize,
    state: State,
    fields: Vec<Span>,
}

fn be_i16(b: &[u8], at: usize) -> Option<i16> {
    Some(i16::from_be_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn be_i32(b: &[u8], at: usize) -> Option<i32> {
    Some(i32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

impl CopyDecoder {
    /// A decoder for tuples of exactly `columns` fields.
    pub fn new(columns: usize) -> Self {
        Self {
            columns,
            state: State::Header,
            fields: Vec::with_capacity(columns),
        }
    }

    /// Whether the trailer has been read.
    pub fn ended(&self) -> bool {
        self.state == State::Ended
    }

    /// Decodes the item at the front of `buf`: the header first, then
    /// tuples until the trailer. Anything after the trailer is an error.
    pub fn decode(&mut self, buf: &[u8]) -> Result<Step, CopyFormatError> {
        match self.state {
            State::Header => self.header(buf),
            State::Tuples => self.item(buf),
            State::Ended if buf.is_empty() => Ok(Step::NeedMore),
            State::Ended => Err(CopyFormatError::TrailingData),
        }
    }

    fn header(&mut self, buf: &[u8]) -> Result<Step, CopyFormatError> {
        let seen = buf.len().min(SIGNATURE.len());
        if buf[..seen] != SIGNATURE[..seen] {
            return Err(CopyFormatError::BadSignature);
        }
        let (Some(flags), Some(ext)) = (be_i32(buf, 11), be_i32(buf, 15)) else {
            return Ok(Step::NeedMore);
        };
        let flags = flags as u32;
        if flags & CRITICAL_FLAGS != 0 {
            return Err(CopyFormatError::UnsupportedFlags(flags));
        }
        let Ok(ext) = usize::try_from(ext) else {
            return Err(CopyFormatError::BadHeaderExtension(ext));
        };
        let consumed = 19 + ext;
        if buf.len() < consumed {
            return Ok(Step::NeedMore);
        }
        self.state = State::Tuples;
        Ok(Step::Header { consumed })
    }

    fn item(&mut self, buf: &[u8]) -> Result<Step, CopyFormatError> {
        let Some(count) = be_i16(buf, 0) else {
            return Ok(Step::NeedMore);
        };
        if count == -1 {
            self.state = State::Ended;
            return Ok(Step::Trailer);
        }
        if usize::try_from(count).ok() != Some(self.columns) {
            return Err(CopyFormatError::FieldCount {
                expected: self.columns,
                found: count,
            });
        }
        self.fields.clear();
        let mut at = 2;
        for column in 0..self.columns {
            let Some(len) = be_i32(buf, at) else {
                return Ok(Step::NeedMore);
            };
            let width = match len {
                -1 => 0,
                0.. => len as usize,
                _ => return Err(CopyFormatError::BadFieldLength { column, len }),
            };
            self.fields.push(Span { at, len });
            at += 4 + width;
        }
        if buf.len() < at {
            return Ok(Step::NeedMore);
        }
        Ok(Step::Tuple { consumed: at })
    }

    /// The tuple just decoded from `bytes` (the `consumed` bytes of the
    /// [`Step::Tuple`]).
    pub fn tuple<'a>(&'a self, bytes: &'a [u8]) -> Tuple<'a> {
        Tuple {
            bytes,
            fields: &self.fields,
        }
    }
}

/// One tuple of a binary COPY, borrowed from the received bytes.
#[derive(Debug, Clone, Copy)]
pub struct Tuple<'a> {
    bytes: &'a [u8],
    fields: &'a [Span],
}

impl<'a> Tuple<'a> {
    /// Field `column`'s bytes; `None` for NULL. Panics if `column` is not
    /// below the decoder's column count.
    pub fn get(&self, column: usize) -> Option<&'a [u8]> {
        let Span { at, len } = self.fields[column];
        let len = usize::try_from(len).ok()?;
        self.bytes.get(at + 4..at + 4 + len)
    }

    /// Field `column` as exactly `N` bytes, NULL and other widths refused.
    pub fn fixed<const N: usize>(&self, column: usize) -> Result<&'a [u8; N], CopyFormatError> {
        let bytes = self
            .get(column)
            .ok_or(CopyFormatError::UnexpectedNull { column })?;
        bytes.try_into().map_err(|_| CopyFormatError::WrongWidth {
            column,
            len: bytes.len(),
            expected: N,
        })
    }

    /// An `int8` field.
    pub fn int8(&self, column: usize) -> Result<i64, CopyFormatError> {
        self.fixed::<8>(column).map(|b| i64::from_be_bytes(*b))
    }

    /// An unsigned 64-bit field (`xid8`).
    pub fn uint8(&self, column: usize) -> Result<u64, CopyFormatError> {
        self.fixed::<8>(column).map(|b| u64::from_be_bytes(*b))
    }

    /// The fields from `column` to the last exactly as received, each with
    /// its length word.
    pub fn encoded_from(&self, column: usize) -> &'a [u8] {
        &self.bytes[self.fields[column].at..]
    }
}

/// The bytes currently being decoded: a received chunk, or the remainder
/// of one joined with the next when an item straddles them.
enum Buffer<B> {
    Chunk(B),
    Joined(Vec<u8>),
}

impl<B: AsRef<[u8]>> Buffer<B> {
    fn bytes(&self) -> &[u8] {
        match self {
            Self::Chunk(b) => b.as_ref(),
            Self::Joined(v) => v,
        }
    }
}

/// The tuples of a binary COPY stream (as `PgConnection::copy_out_raw`
/// returns it), one at a time.
pub struct CopyRows<S, B> {
    stream: S,
    decoder: CopyDecoder,
    buffer: Buffer<B>,
    pos: usize,
    finished: bool,
}

impl<S, B> CopyRows<S, B>
where
    S: Stream<Item = Result<B, sqlx::Error>> + Unpin,
    B: AsRef<[u8]>,
{
    /// Reads `stream`, whose tuples must have exactly `columns` fields.
    pub fn new(stream: S, columns: usize) -> Self {
        Self {
            stream,
            decoder: CopyDecoder::new(columns),
            buffer: Buffer::Joined(Vec::new()),
            pos: 0,
            finished: false,
        }
    }

    /// Whether the stream was read to its end (trailer included): only
    /// then is the connection that sent it ready for another statement.
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// The next tuple; `None` after the trailer, once the stream has ended
    /// with nothing after it.
    pub async fn next(&mut self) -> Result<Option<Tuple<'_>>, sqlx::Error> {
        loop {
            let rest = &self.buffer.bytes()[self.pos..];
            match self.decoder.decode(rest)? {
                Step::Header { consumed } => self.pos += consumed,
                Step::Trailer => self.pos += 2,
                Step::Tuple { consumed } => {
                    let start = self.pos;
                    self.pos += consumed;
                    let bytes = &self.buffer.bytes()[start..self.pos];
                    return Ok(Some(self.decoder.tuple(bytes)));
                }
                Step::NeedMore => {
                    if self.finished {
                        return Ok(None);
                    }
                    self.refill().await?;
                }
            }
        }
    }

    /// Appends the next chunk to what is left; at the end of the stream,
    /// checks that the data ended with the trailer.
    async fn refill(&mut self) -> Result<(), sqlx::Error> {
        match self.stream.next().await.transpose()? {
            Some(chunk) => {
                let rest = &self.buffer.bytes()[self.pos..];
                self.buffer = if rest.is_empty() {
                    Buffer::Chunk(chunk)
                } else {
                    let mut joined = Vec::with_capacity(rest.len() + chunk.as_ref().len());
                    joined.extend_from_slice(rest);
                    joined.extend_from_slice(chunk.as_ref());
                    Buffer::Joined(joined)
                };
                self.pos = 0;
            }
            None => {
                if !self.decoder.ended() || self.pos != self.buffer.bytes().len() {
                    return Err(CopyFormatError::Truncated.into());
                }
                self.finished = true;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A binary COPY of `rows` (each field `None` for NULL).
    fn encode(rows: &[Vec<Option<Vec<u8>>>]) -> Vec<u8> {
        let mut out = SIGNATURE.to_vec();
        out.extend(0i32.to_be_bytes());
        out.extend(0i32.to_be_bytes());
        for row in rows {
            out.extend((row.len() as i16).to_be_bytes());
            for field in row {
                match field {
                    Some(b) => {
                        out.extend((b.len() as i32).to_be_bytes());
                        out.extend(b);
                    }
                    None => out.extend((-1i32).to_be_bytes()),
                }
            }
        }
        out.extend((-1i16).to_be_bytes());
        out
    }

    fn sample() -> Vec<Vec<Option<Vec<u8>>>> {
        vec![
            vec![
                Some(7i64.to_be_bytes().to_vec()),
                None,
                Some(b"ab".to_vec()),
            ],
            vec![Some((-1i64).to_be_bytes().to_vec()), Some(vec![]), None],
        ]
    }

    type Chunks = futures_util::stream::Iter<std::vec::IntoIter<Result<Vec<u8>, sqlx::Error>>>;

    fn rows_of(chunks: Vec<Vec<u8>>, columns: usize) -> CopyRows<Chunks, Vec<u8>> {
        let stream = futures_util::stream::iter(chunks.into_iter().map(Ok).collect::<Vec<_>>());
        CopyRows::new(stream, columns)
    }

    /// Reads every tuple as owned fields, or the error.
    async fn read_all(
        chunks: Vec<Vec<u8>>,
        columns: usize,
    ) -> Result<Vec<Vec<Option<Vec<u8>>>>, String> {
        let mut rows = rows_of(chunks, columns);
        let mut out = Vec::new();
        loop {
            match rows.next().await {
                Ok(Some(t)) => {
                    out.push((0..columns).map(|c| t.get(c).map(<[u8]>::to_vec)).collect())
                }
                Ok(None) => {
                    assert!(rows.is_finished());
                    return Ok(out);
                }
                Err(e) => return Err(e.to_string()),
            }
        }
    }

    fn split_at_all(bytes: &[u8], cuts: &[usize]) -> Vec<Vec<u8>> {
        let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
        cuts.sort_unstable();
        let mut chunks = Vec::new();
        let mut from = 0;
        for c in cuts.into_iter().chain([bytes.len()]) {
            chunks.push(bytes[from..c].to_vec());
            from = c;
        }
        chunks
    }

    #[tokio::test]
    async fn tuples_are_read_with_their_nulls_and_empty_fields() {
        let rows = sample();
        assert_eq!(read_all(vec![encode(&rows)], 3).await, Ok(rows));
    }

    #[tokio::test]
    async fn a_stream_of_no_rows_is_read_as_empty() {
        assert_eq!(read_all(vec![encode(&[])], 3).await, Ok(vec![]));
    }

    #[tokio::test]
    async fn int8_and_fixed_width_accessors_check_null_and_width() {
        let mut rows = rows_of(vec![encode(&sample())], 3);
        let t = rows.next().await.unwrap().unwrap();
        assert_eq!(t.int8(0), Ok(7));
        assert_eq!(t.uint8(0), Ok(7));
        assert_eq!(
            t.int8(1),
            Err(CopyFormatError::UnexpectedNull { column: 1 })
        );
        assert_eq!(
            t.int8(2),
            Err(CopyFormatError::WrongWidth {
                column: 2,
                len: 2,
                expected: 8
            })
        );
        assert_eq!(
            t.encoded_from(1),
            [&(-1i32).to_be_bytes()[..], &2i32.to_be_bytes(), b"ab"].concat()
        );
        let t = rows.next().await.unwrap().unwrap();
        assert_eq!(t.uint8(0), Ok(u64::MAX));
        assert_eq!(t.get(1), Some(&[][..]));
    }

    #[tokio::test]
    async fn a_header_extension_is_skipped() {
        let mut bytes = SIGNATURE.to_vec();
        bytes.extend(0i32.to_be_bytes());
        bytes.extend(3i32.to_be_bytes());
        bytes.extend(b"xyz");
        bytes.extend(&encode(&sample())[19..]);
        assert_eq!(read_all(vec![bytes], 3).await, Ok(sample()));
    }

    #[tokio::test]
    async fn garbled_headers_and_tuples_are_errors() {
        let good = encode(&sample());
        let with = |at: usize, bytes: &[u8]| {
            let mut b = good.clone();
            b[at..at + bytes.len()].copy_from_slice(bytes);
            b
        };
        let cases = [
            (with(0, b"X"), CopyFormatError::BadSignature),
            (
                with(11, &0x0001_0000u32.to_be_bytes()),
                CopyFormatError::UnsupportedFlags(0x0001_0000),
            ),
            (
                with(11, &1u32.to_be_bytes()),
                CopyFormatError::UnsupportedFlags(1),
            ),
            (
                with(15, &(-5i32).to_be_bytes()),
                CopyFormatError::BadHeaderExtension(-5),
            ),
            (
                with(19, &4i16.to_be_bytes()),
                CopyFormatError::FieldCount {
                    expected: 3,
                    found: 4,
                },
            ),
            (
                with(19, &0i16.to_be_bytes()),
                CopyFormatError::FieldCount {
                    expected: 3,
                    found: 0,
                },
            ),
            (
                with(21, &(-2i32).to_be_bytes()),
                CopyFormatError::BadFieldLength { column: 0, len: -2 },
            ),
            (
                [good.clone(), vec![0]].concat(),
                CopyFormatError::TrailingData,
            ),
        ];
        for (bytes, expected) in cases {
            let err = read_all(vec![bytes], 3).await.unwrap_err();
            assert_eq!(
                err,
                sqlx::Error::from(expected.clone()).to_string(),
                "{expected:?}"
            );
        }
        // flags outside the critical bits are ignored
        assert_eq!(
            read_all(vec![with(11, &0x0002_0000u32.to_be_bytes())], 3).await,
            Ok(sample())
        );
    }

    #[tokio::test]
    async fn every_truncation_is_an_error_not_a_panic() {
        let good = encode(&sample());
        let truncated = sqlx::Error::from(CopyFormatError::Truncated).to_string();
        for len in 0..good.len() {
            let err = read_all(vec![good[..len].to_vec()], 3).await.unwrap_err();
            assert_eq!(err, truncated, "cut at {len}");
        }
        assert_eq!(read_all(vec![], 3).await.unwrap_err(), truncated);
    }

    #[tokio::test]
    async fn a_stream_error_is_passed_on() {
        let stream = futures_util::stream::iter(vec![
            Ok(encode(&sample())[..25].to_vec()),
            Err(sqlx::Error::Protocol("connection lost".into())),
        ]);
        let mut rows = CopyRows::new(stream, 3);
        let err = rows.next().await.unwrap_err();
        assert!(err.to_string().contains("connection lost"), "{err}");
        assert!(!rows.is_finished());
    }

    proptest! {
        #[test]
        fn rows_split_anywhere_read_the_same(
            rows in prop::collection::vec(
                prop::collection::vec(prop::option::of(prop::collection::vec(any::<u8>(), 0..40)), 4),
                0..6,
            ),
            cuts in prop::collection::vec(any::<usize>(), 0..8),
        ) {
            let bytes = encode(&rows);
            let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
            let read = rt.block_on(read_all(split_at_all(&bytes, &cuts), 4));
            prop_assert_eq!(read, Ok(rows));
        }

        #[test]
        fn arbitrary_bytes_never_panic(
            bytes in prop::collection::vec(any::<u8>(), 0..200),
            cuts in prop::collection::vec(any::<usize>(), 0..4),
            signed in any::<bool>(),
        ) {
            // with a valid signature the fuzzing reaches the tuple decoder
            let bytes = if signed { [&SIGNATURE[..], &[0; 8], &bytes].concat() } else { bytes };
            let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
            let _ = rt.block_on(read_all(split_at_all(&bytes, &cuts), 2));
        }
    }
}
