//! The wire atoms of IMAP: tags, atoms, strings, text, object ids, and the "at least one" vector.
//!
//! Every type here is validated on construction: a value that can be built can be encoded and
//! parsed back to an equal value. Strings keep their *content*; the encoder picks an atom, a
//! quoted string or a literal from it.

use std::fmt;
use std::ops::Deref;

use thiserror::Error;

/// A value that the grammar forbids.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("invalid {what}: {reason}")]
pub struct ValidationError {
    what: &'static str,
    reason: &'static str,
}

impl ValidationError {
    pub(crate) const fn new(what: &'static str, reason: &'static str) -> Self {
        Self { what, reason }
    }

    /// The kind of value that was refused (`"tag"`, `"atom"`, ...).
    pub fn what(&self) -> &'static str {
        self.what
    }
}

// Character classes of RFC 9051 §9, one table lookup per byte.
pub(crate) const C_ATOM: u8 = 1; // ATOM-CHAR
pub(crate) const C_ASTRING: u8 = 2; // ASTRING-CHAR = ATOM-CHAR / resp-specials
pub(crate) const C_TAG: u8 = 4; // ASTRING-CHAR except "+"
pub(crate) const C_LIST: u8 = 8; // list-char = ATOM-CHAR / list-wildcards / resp-specials
pub(crate) const C_TEXT: u8 = 16; // TEXT-CHAR (and UTF-8 octets, RFC 9051)
pub(crate) const C_QUOTED: u8 = 32; // TEXT-CHAR except quoted-specials (no escape needed)
pub(crate) const C_BASE64: u8 = 64; // base64 alphabet incl. "="

const fn class_of(b: u8) -> u8 {
    let mut c = 0;
    let ctl = b < 0x20 || b == 0x7f;
    let is_char = b >= 1 && b <= 0x7f;
    let atom_special = matches!(
        b,
        b'(' | b')' | b'{' | b' ' | b'%' | b'*' | b'"' | b'\\' | b']'
    ) || ctl
        || !is_char;
    if !atom_special {
        c |= C_ATOM | C_ASTRING | C_LIST;
        if b != b'+' {
            c |= C_TAG;
        }
    }
    if b == b']' {
        c |= C_ASTRING | C_TAG | C_LIST;
    }
    if b == b'%' || b == b'*' {
        c |= C_LIST;
    }
    if b != 0 && b != b'\r' && b != b'\n' {
        c |= C_TEXT;
        if b != b'"' && b != b'\\' {
            c |= C_QUOTED;
        }
    }
    if b.is_ascii_alphanumeric() || b == b'+' || b == b'/' || b == b'=' {
        c |= C_BASE64;
    }
    c
}

const fn build_table() -> [u8; 256] {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = class_of(i as u8);
        i += 1;
    }
    t
}

pub(crate) static CLASS: [u8; 256] = build_table();

#[inline]
pub(crate) fn is(b: u8, class: u8) -> bool {
    CLASS[b as usize] & class != 0
}

#[inline]
pub(crate) fn all(bytes: &[u8], class: u8) -> bool {
    bytes.iter().all(|&b| is(b, class))
}

/// Octets stored inline when short (most IMAP strings: flags, media types, names, hosts), on
/// the heap otherwise, so parsing a FETCH response allocates for few of its strings.
#[derive(Clone)]
pub(crate) enum SmallBytes {
    Inline { len: u8, buf: [u8; INLINE] },
    Heap(Box<[u8]>),
}

const INLINE: usize = 22;

impl SmallBytes {
    #[inline]
    pub(crate) fn from_slice(s: &[u8]) -> Self {
        if s.len() <= INLINE {
            let mut buf = [0u8; INLINE];
            buf[..s.len()].copy_from_slice(s);
            // The length fits: it is at most INLINE.
            Self::Inline {
                len: s.len() as u8,
                buf,
            }
        } else {
            Self::Heap(s.into())
        }
    }

    /// The first `len` octets of `window`; copies a fixed-size block when `window` is long
    /// enough (no call to `memcpy` for short strings).
    #[inline]
    pub(crate) fn from_prefix(window: &[u8], len: usize) -> Self {
        if len > INLINE || len > window.len() {
            return Self::from_slice(&window[..len.min(window.len())]);
        }
        let mut buf = [0u8; INLINE];
        if window.len() >= INLINE {
            buf.copy_from_slice(&window[..INLINE]);
        } else {
            buf[..len].copy_from_slice(&window[..len]);
        }
        // `len` is at most INLINE here.
        Self::Inline {
            len: len as u8,
            buf,
        }
    }

    #[inline]
    pub(crate) fn from_vec(v: Vec<u8>) -> Self {
        if v.len() <= INLINE {
            Self::from_slice(&v)
        } else {
            Self::Heap(v.into_boxed_slice())
        }
    }

    #[inline]
    pub(crate) fn as_slice(&self) -> &[u8] {
        match self {
            Self::Inline { len, buf } => &buf[..usize::from(*len)],
            Self::Heap(b) => b,
        }
    }

    pub(crate) fn into_vec(self) -> Vec<u8> {
        match self {
            Self::Inline { .. } => self.as_slice().to_vec(),
            Self::Heap(b) => b.into_vec(),
        }
    }

    fn as_str(&self) -> &str {
        // Only ASCII is stored for tags, atoms and object ids (checked on construction).
        std::str::from_utf8(self.as_slice()).unwrap_or_default()
    }
}

impl zeroize::Zeroize for SmallBytes {
    /// Overwrites the octets with zeros, then leaves the value empty.
    fn zeroize(&mut self) {
        match self {
            Self::Inline { len, buf } => {
                buf.zeroize();
                len.zeroize();
            }
            Self::Heap(b) => b.zeroize(),
        }
        *self = Self::default();
    }
}

impl Default for SmallBytes {
    fn default() -> Self {
        Self::Inline {
            len: 0,
            buf: [0; INLINE],
        }
    }
}

impl PartialEq for SmallBytes {
    fn eq(&self, other: &Self) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl Eq for SmallBytes {}

impl std::hash::Hash for SmallBytes {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_slice().hash(state);
    }
}

impl PartialOrd for SmallBytes {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for SmallBytes {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.as_slice().cmp(other.as_slice())
    }
}

impl AsRef<[u8]> for SmallBytes {
    fn as_ref(&self) -> &[u8] {
        self.as_slice()
    }
}

/// A command tag: `tag = 1*<any ASTRING-CHAR except "+">` (RFC 9051 §9).
///
/// ```
/// use mailwire_imap::proto::Tag;
/// assert!(Tag::new("a001").is_ok());
/// assert!(Tag::new("a 1").is_err());
/// assert!(Tag::new("a+1").is_err());
/// assert!(Tag::new("x\r\n").is_err());
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tag(SmallBytes);

impl Tag {
    /// Validates `tag`.
    pub fn new(tag: impl Into<String>) -> Result<Self, ValidationError> {
        let tag = tag.into();
        if tag.is_empty() || !all(tag.as_bytes(), C_TAG) {
            return Err(ValidationError::new(
                "tag",
                "must be 1*<ASTRING-CHAR except \"+\">",
            ));
        }
        Ok(Self(SmallBytes::from_vec(tag.into_bytes())))
    }

    pub(crate) fn unvalidated(bytes: &[u8]) -> Self {
        debug_assert!(!bytes.is_empty() && all(bytes, C_TAG));
        Self(SmallBytes::from_slice(bytes))
    }

    /// The octets (ASCII).
    pub fn as_bytes(&self) -> &[u8] {
        self.0.as_slice()
    }

    /// The tag's text.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

/// An atom: `atom = 1*ATOM-CHAR`, so no space, CTL, `(){%*"\]` and nothing outside ASCII.
///
/// ```
/// use mailwire_imap::proto::Atom;
/// assert!(Atom::new("SUBSCRIBED").is_ok());
/// assert!(Atom::new("a]b").is_err());
/// assert!(Atom::new("").is_err());
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Atom(SmallBytes);

impl Atom {
    /// Validates `atom`.
    pub fn new(atom: impl Into<String>) -> Result<Self, ValidationError> {
        let atom = atom.into();
        if atom.is_empty() || !all(atom.as_bytes(), C_ATOM) {
            return Err(ValidationError::new("atom", "must be 1*ATOM-CHAR"));
        }
        Ok(Self(SmallBytes::from_vec(atom.into_bytes())))
    }

    pub(crate) fn unvalidated(bytes: &[u8]) -> Self {
        debug_assert!(!bytes.is_empty() && all(bytes, C_ATOM));
        Self(SmallBytes::from_slice(bytes))
    }

    /// The octets (ASCII).
    pub fn as_bytes(&self) -> &[u8] {
        self.0.as_slice()
    }

    /// The atom's text.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// Case-insensitive comparison, as IMAP keywords compare.
    pub fn eq_ignore_case(&self, other: &str) -> bool {
        self.0.as_slice().eq_ignore_ascii_case(other.as_bytes())
    }
}

/// The content of an `astring` (`1*ASTRING-CHAR / string`): any octets but NUL. The encoder
/// writes it as an atom, a quoted string or a literal, whichever the content allows.
///
/// ```
/// use mailwire_imap::proto::AString;
/// assert_eq!(AString::new("hello world").unwrap().as_bytes(), b"hello world");
/// assert!(AString::new(&b"nul\0"[..]).is_err());
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct AString(SmallBytes);

/// A secret astring (an IMAP `LOGIN` password in a [`Secret`](mailwire_codec::Secret)) is
/// wiped on drop; a zeroized `AString` is the empty string.
impl zeroize::Zeroize for AString {
    fn zeroize(&mut self) {
        self.0.zeroize();
    }
}

impl AString {
    /// Validates `content` (no NUL: `CHAR8 = %x01-ff`).
    pub fn new(content: impl Into<Vec<u8>>) -> Result<Self, ValidationError> {
        let content = content.into();
        if content.contains(&0) {
            return Err(ValidationError::new("string", "NUL is not allowed"));
        }
        Ok(Self(SmallBytes::from_vec(content)))
    }

    pub(crate) fn from_small(content: SmallBytes) -> Self {
        debug_assert!(!content.as_slice().contains(&0));
        Self(content)
    }

    /// The content.
    pub fn as_bytes(&self) -> &[u8] {
        self.0.as_slice()
    }

    /// The content as text (invalid UTF-8 replaced).
    pub fn to_str_lossy(&self) -> std::borrow::Cow<'_, str> {
        String::from_utf8_lossy(self.0.as_slice())
    }

    /// The content.
    pub fn into_bytes(self) -> Vec<u8> {
        self.0.into_vec()
    }
}

/// The content of a `string` (quoted or literal, never an atom): any octets but NUL.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct IString(SmallBytes);

impl IString {
    /// Validates `content` (no NUL).
    pub fn new(content: impl Into<Vec<u8>>) -> Result<Self, ValidationError> {
        let content = content.into();
        if content.contains(&0) {
            return Err(ValidationError::new("string", "NUL is not allowed"));
        }
        Ok(Self(SmallBytes::from_vec(content)))
    }

    pub(crate) fn from_small(content: SmallBytes) -> Self {
        debug_assert!(!content.as_slice().contains(&0));
        Self(content)
    }

    /// The content.
    pub fn as_bytes(&self) -> &[u8] {
        self.0.as_slice()
    }

    /// The content as text (invalid UTF-8 replaced).
    pub fn to_str_lossy(&self) -> std::borrow::Cow<'_, str> {
        String::from_utf8_lossy(self.0.as_slice())
    }

    /// The content.
    pub fn into_bytes(self) -> Vec<u8> {
        self.0.into_vec()
    }
}

/// `nstring = string / nil`.
pub type NString = Option<IString>;

/// Human-readable text (`text = 1*TEXT-CHAR`; RFC 9051 also allows UTF-8): no CR, LF or NUL.
/// May be empty (RFC 9051 makes the text of `resp-text` optional).
///
/// ```
/// use mailwire_imap::proto::Text;
/// assert!(Text::new("LOGIN completed").is_ok());
/// assert!(Text::new("two\r\nlines").is_err());
/// ```
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct Text(Vec<u8>);

impl Text {
    /// Validates `text`. Besides CR, LF and NUL, a text that ends like a literal announcement
    /// (`{5}`, `{5+}`) is refused: at the end of a line every IMAP framer would wait for the
    /// announced octets, so such a text could desynchronise the peer.
    pub fn new(text: impl Into<Vec<u8>>) -> Result<Self, ValidationError> {
        let text = text.into();
        if !all(&text, C_TEXT) {
            return Err(ValidationError::new(
                "text",
                "CR, LF and NUL are not allowed",
            ));
        }
        if ends_like_literal(&text) {
            return Err(ValidationError::new(
                "text",
                "must not end like a literal announcement",
            ));
        }
        Ok(Self(text))
    }

    pub(crate) fn unvalidated(text: &[u8]) -> Self {
        debug_assert!(all(text, C_TEXT));
        Self(text.to_vec())
    }

    /// The text's octets.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The text (invalid UTF-8 replaced).
    pub fn to_str_lossy(&self) -> std::borrow::Cow<'_, str> {
        String::from_utf8_lossy(&self.0)
    }

    /// Whether there is no text.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Whether `text` ends with `{digits}` or `{digits+}`.
fn ends_like_literal(text: &[u8]) -> bool {
    let Some(body) = text.strip_suffix(b"}") else {
        return false;
    };
    let body = body.strip_suffix(b"+").unwrap_or(body);
    let digits = body.iter().rev().take_while(|b| b.is_ascii_digit()).count();
    digits > 0 && body.len() > digits && body[body.len() - digits - 1] == b'{'
}

/// An object identifier (RFC 8474 OBJECTID): `objectid = 1*255(ALPHA / DIGIT / "_" / "-")`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectId(SmallBytes);

impl ObjectId {
    /// Validates `id`.
    pub fn new(id: impl Into<String>) -> Result<Self, ValidationError> {
        let id = id.into();
        if id.is_empty() || id.len() > 255 || !id.bytes().all(is_objectid_char) {
            return Err(ValidationError::new(
                "object id",
                "must be 1*255(ALPHA / DIGIT / \"_\" / \"-\")",
            ));
        }
        Ok(Self(SmallBytes::from_vec(id.into_bytes())))
    }

    pub(crate) fn unvalidated(bytes: &[u8]) -> Self {
        debug_assert!(!bytes.is_empty() && bytes.iter().all(|&b| is_objectid_char(b)));
        Self(SmallBytes::from_slice(bytes))
    }

    /// The octets (ASCII).
    pub fn as_bytes(&self) -> &[u8] {
        self.0.as_slice()
    }

    /// The identifier.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

pub(crate) fn is_objectid_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'-'
}

/// A vector with at least one element (the grammar's `1*`).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Vec1<T>(Vec<T>);

impl<T> Vec1<T> {
    /// A vector of one element.
    pub fn one(first: T) -> Self {
        Self(vec![first])
    }

    /// The elements.
    pub fn as_slice(&self) -> &[T] {
        &self.0
    }

    /// The elements.
    pub fn into_vec(self) -> Vec<T> {
        self.0
    }

    /// The first element.
    pub fn first(&self) -> &T {
        // Invariant: never empty.
        &self.0[0]
    }

    /// Appends an element.
    pub fn push(&mut self, value: T) {
        self.0.push(value);
    }

    pub(crate) fn unvalidated(v: Vec<T>) -> Self {
        debug_assert!(!v.is_empty());
        Self(v)
    }
}

impl<T> TryFrom<Vec<T>> for Vec1<T> {
    type Error = ValidationError;

    fn try_from(v: Vec<T>) -> Result<Self, ValidationError> {
        if v.is_empty() {
            Err(ValidationError::new(
                "list",
                "at least one element is required",
            ))
        } else {
            Ok(Self(v))
        }
    }
}

impl<T> Deref for Vec1<T> {
    type Target = [T];

    fn deref(&self) -> &[T] {
        &self.0
    }
}

impl<T: fmt::Debug> fmt::Debug for Vec1<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Debug-prints octets as an escaped byte string.
struct Escaped<'a>(&'a [u8]);

impl fmt::Debug for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"")?;
        for chunk in self.0.utf8_chunks() {
            for c in chunk.valid().chars() {
                write!(f, "{}", c.escape_debug())?;
            }
            for b in chunk.invalid() {
                write!(f, "\\x{b:02x}")?;
            }
        }
        f.write_str("\"")
    }
}

macro_rules! debug_as_text {
    ($($t:ty),*) => {$(
        impl fmt::Debug for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                let bytes: &[u8] = self.0.as_ref();
                write!(f, "{}(", stringify!($t))?;
                Escaped(bytes).fmt(f)?;
                f.write_str(")")
            }
        }
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                let bytes: &[u8] = self.0.as_ref();
                f.write_str(&String::from_utf8_lossy(bytes))
            }
        }
    )*};
}

debug_as_text!(Tag, Atom, AString, IString, Text, ObjectId);

macro_rules! try_from_str {
    ($($t:ty),*) => {$(
        impl TryFrom<&str> for $t {
            type Error = ValidationError;
            fn try_from(s: &str) -> Result<Self, ValidationError> {
                Self::new(s)
            }
        }
        impl TryFrom<String> for $t {
            type Error = ValidationError;
            fn try_from(s: String) -> Result<Self, ValidationError> {
                Self::new(s)
            }
        }
    )*};
}

try_from_str!(Tag, Atom, AString, IString, Text, ObjectId);

impl TryFrom<&[u8]> for AString {
    type Error = ValidationError;
    fn try_from(s: &[u8]) -> Result<Self, ValidationError> {
        Self::new(s)
    }
}

impl TryFrom<&[u8]> for IString {
    type Error = ValidationError;
    fn try_from(s: &[u8]) -> Result<Self, ValidationError> {
        Self::new(s)
    }
}

impl From<Atom> for AString {
    fn from(a: Atom) -> Self {
        Self(a.0)
    }
}

impl From<IString> for AString {
    fn from(s: IString) -> Self {
        Self(s.0)
    }
}

impl From<AString> for IString {
    fn from(s: AString) -> Self {
        Self(s.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes() {
        assert!(is(b'a', C_ATOM) && is(b'+', C_ATOM) && !is(b'+', C_TAG));
        assert!(!is(b']', C_ATOM) && is(b']', C_ASTRING) && is(b']', C_TAG));
        assert!(is(b'%', C_LIST) && !is(b'%', C_ASTRING));
        assert!(!is(b'\r', C_TEXT) && is(b'"', C_TEXT) && !is(b'"', C_QUOTED));
        assert!(!is(0x80, C_ATOM) && is(0x80, C_TEXT));
    }

    #[test]
    fn text_never_ends_like_a_literal() {
        assert!(Text::new("see {5}").is_err());
        assert!(Text::new("see {5+}").is_err());
        assert!(Text::new("{12}").is_err());
        assert!(Text::new("set {a}").is_ok());
        assert!(Text::new("}").is_ok());
        assert!(Text::new("{}").is_ok());
    }

    #[test]
    fn vec1() {
        assert!(Vec1::<u8>::try_from(vec![]).is_err());
        assert_eq!(Vec1::try_from(vec![1]).map(|v| *v.first()), Ok(1));
    }
}
