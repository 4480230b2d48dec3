//! Capabilities (RFC 9051 §7.2.2 and the extensions), as announced in CAPABILITY and named
//! in ENABLE / ENABLED (RFC 5161).

use super::core::Atom;

/// A capability. Names compare case-insensitively; the known ones get a variant, the rest are
/// kept as [`Capability::Other`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Capability {
    /// `IMAP4rev1` (RFC 3501)
    Imap4Rev1,
    /// `IMAP4rev2` (RFC 9051)
    Imap4Rev2,
    /// `AUTH=mechanism`
    Auth(Atom),
    /// `LOGINDISABLED`
    LoginDisabled,
    /// `STARTTLS`
    StartTls,
    /// `IDLE` (RFC 2177)
    Idle,
    /// `LITERAL+` (RFC 7888)
    LiteralPlus,
    /// `LITERAL-` (RFC 7888)
    LiteralMinus,
    /// `UIDPLUS` (RFC 4315)
    UidPlus,
    /// `MOVE` (RFC 6851)
    Move,
    /// `UNSELECT` (RFC 3691)
    Unselect,
    /// `ENABLE` (RFC 5161)
    Enable,
    /// `ID` (RFC 2971)
    Id,
    /// `NAMESPACE` (RFC 2342)
    Namespace,
    /// `SASL-IR` (RFC 4959)
    SaslIr,
    /// `ESEARCH` (RFC 4731)
    ESearch,
    /// `SEARCHRES` (RFC 5182)
    SearchRes,
    /// `SPECIAL-USE` (RFC 6154)
    SpecialUse,
    /// `CREATE-SPECIAL-USE` (RFC 6154)
    CreateSpecialUse,
    /// `LIST-EXTENDED` (RFC 5258)
    ListExtended,
    /// `LIST-STATUS` (RFC 5819)
    ListStatus,
    /// `CHILDREN` (RFC 3348)
    Children,
    /// `CONDSTORE` (RFC 7162)
    CondStore,
    /// `QRESYNC` (RFC 7162)
    QResync,
    /// `COMPRESS=algorithm` (RFC 4978)
    Compress(Atom),
    /// `APPENDLIMIT` or `APPENDLIMIT=n` (RFC 7889)
    AppendLimit(Option<u64>),
    /// `BINARY` (RFC 3516)
    Binary,
    /// `UTF8=ACCEPT` (RFC 6855)
    Utf8Accept,
    /// `UTF8=ONLY` (RFC 6855)
    Utf8Only,
    /// `STATUS=SIZE` (RFC 8438)
    StatusSize,
    /// `QUOTA` (RFC 9208 / RFC 2087)
    Quota,
    /// `QUOTA=RES-name` (RFC 9208)
    QuotaRes(Atom),
    /// `MULTIAPPEND` (RFC 3502)
    MultiAppend,
    /// `OBJECTID` (RFC 8474)
    ObjectId,
    /// `SORT` (RFC 5256)
    Sort,
    /// `SORT=DISPLAY` (RFC 5957)
    SortDisplay,
    /// `THREAD=algorithm` (RFC 5256)
    Thread(Atom),
    /// Any other capability (kept as sent).
    Other(Atom),
}

const PLAIN: &[(&str, Capability)] = &[
    ("IMAP4rev1", Capability::Imap4Rev1),
    ("IMAP4rev2", Capability::Imap4Rev2),
    ("LOGINDISABLED", Capability::LoginDisabled),
    ("STARTTLS", Capability::StartTls),
    ("IDLE", Capability::Idle),
    ("LITERAL+", Capability::LiteralPlus),
    ("LITERAL-", Capability::LiteralMinus),
    ("UIDPLUS", Capability::UidPlus),
    ("MOVE", Capability::Move),
    ("UNSELECT", Capability::Unselect),
    ("ENABLE", Capability::Enable),
    ("ID", Capability::Id),
    ("NAMESPACE", Capability::Namespace),
    ("SASL-IR", Capability::SaslIr),
    ("ESEARCH", Capability::ESearch),
    ("SEARCHRES", Capability::SearchRes),
    ("SPECIAL-USE", Capability::SpecialUse),
    ("CREATE-SPECIAL-USE", Capability::CreateSpecialUse),
    ("LIST-EXTENDED", Capability::ListExtended),
    ("LIST-STATUS", Capability::ListStatus),
    ("CHILDREN", Capability::Children),
    ("CONDSTORE", Capability::CondStore),
    ("QRESYNC", Capability::QResync),
    ("APPENDLIMIT", Capability::AppendLimit(None)),
    ("BINARY", Capability::Binary),
    ("UTF8=ACCEPT", Capability::Utf8Accept),
    ("UTF8=ONLY", Capability::Utf8Only),
    ("STATUS=SIZE", Capability::StatusSize),
    ("QUOTA", Capability::Quota),
    ("MULTIAPPEND", Capability::MultiAppend),
    ("OBJECTID", Capability::ObjectId),
    ("SORT", Capability::Sort),
    ("SORT=DISPLAY", Capability::SortDisplay),
];

impl Capability {
    /// The capability named by `atom` (case-insensitive).
    pub fn from_atom(atom: Atom) -> Self {
        let s = atom.as_str();
        if let Some((_, c)) = PLAIN.iter().find(|(n, _)| n.eq_ignore_ascii_case(s)) {
            return c.clone();
        }
        let param = |prefix: &str| -> Option<Atom> {
            let head = s.get(..prefix.len())?;
            if !head.eq_ignore_ascii_case(prefix) {
                return None;
            }
            Atom::new(&s[prefix.len()..]).ok()
        };
        if let Some(a) = param("AUTH=") {
            Self::Auth(a)
        } else if let Some(a) = param("COMPRESS=") {
            Self::Compress(a)
        } else if let Some(a) = param("THREAD=") {
            Self::Thread(a)
        } else if let Some(a) = param("QUOTA=RES-") {
            Self::QuotaRes(a)
        } else if let Some(n) = param("APPENDLIMIT=").and_then(|a| {
            let t = a.as_str();
            (t.len() <= 19 && t.bytes().all(|b| b.is_ascii_digit()))
                .then(|| t.parse::<u64>().ok())
                .flatten()
        }) {
            Self::AppendLimit(Some(n))
        } else {
            Self::Other(atom)
        }
    }

    /// The capability as written on the wire.
    pub fn to_atom_string(&self) -> String {
        match self {
            Self::Auth(a) => format!("AUTH={}", a.as_str()),
            Self::Compress(a) => format!("COMPRESS={}", a.as_str()),
            Self::Thread(a) => format!("THREAD={}", a.as_str()),
            Self::QuotaRes(a) => format!("QUOTA=RES-{}", a.as_str()),
            Self::AppendLimit(Some(n)) => format!("APPENDLIMIT={n}"),
            Self::Other(a) => a.as_str().to_owned(),
            known => PLAIN
                .iter()
                .find(|(_, c)| c == known)
                .map_or_else(String::new, |(n, _)| (*n).to_owned()),
        }
    }
}
