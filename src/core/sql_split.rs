//! The one statement splitter: the offline script, import and the hazard analysis all split
//! migration SQL here, without parsing it.
//!
//! The splitter is a small lexer followed by a walk over its tokens. The lexer knows only enough of
//! each dialect to find where strings, quoted identifiers, comments and dollar quotes begin and end,
//! because a `;` inside any of those must not end a statement. The walk then tracks just enough
//! structure (BEGIN … END nesting inside routine definitions, and parentheses in Postgres) to decide
//! which of the remaining `;` terminate statements.
//!
//! Everything here is pure and total: any input, including truncated or garbage text, yields some
//! split and never panics. Unterminated constructs extend to the end of the input, which is the most
//! useful behaviour for a migration tool: the database then reports the real syntax error.

pub use crate::core::model::Dialect;

/// One statement of a migration, verbatim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    /// The statement's text exactly as written, from its first token (leading whitespace and leading
    /// comments NOT included) up to but not including the terminating `;` (trailing whitespace before
    /// the `;` is kept as written; if there is no `;` at the end of input, up to the end of the last
    /// token).
    pub text: String,
    /// Byte offset of `text` in the input.
    pub offset: usize,
    /// 1-based line and column (in chars) where `text` starts.
    pub line: usize,
    pub column: usize,
    /// Whether the statement has a compound body (BEGIN … END of a trigger/procedure/function/event,
    /// or a $$ body) — the MySQL client needs DELIMITER lines for the BEGIN…END kind.
    pub has_body: bool,
}

/// Splits SQL text into statements. Comment-only or whitespace-only input gives an empty Vec.
pub fn split(sql: &str, dialect: Dialect) -> Vec<Statement> {
    statements(sql, dialect).collect()
}

/// The statements of SQL text one at a time, as `split` finds them, for callers that look at
/// each once (a data migration of 800,000 statements need not be held whole).
pub fn statements(sql: &str, dialect: Dialect) -> Statements<'_> {
    Statements {
        sql,
        dialect,
        toks: Tokens::new(sql, dialect),
        cursor: Cursor { pos: 0, line: 1, column: 1 },
        cur: None,
        i: 0,
    }
}

/// See `statements`.
pub struct Statements<'a> {
    sql: &'a str,
    dialect: Dialect,
    toks: Tokens<'a>,
    cursor: Cursor,
    cur: Option<Pending>,
    i: usize,
}

impl Iterator for Statements<'_> {
    type Item = Statement;

    fn next(&mut self) -> Option<Statement> {
        let (sql, dialect) = (self.sql, self.dialect);
        while let Some(tok) = self.toks.get(self.i) {
            // Only the tokens ahead are looked at from here on.
            self.toks.release_before(self.i);
            let i = self.i;
            self.i += 1;
            match (tok.kind, self.cur.as_mut()) {
                (Kind::Space | Kind::Comment, _) => {}
                // A `;` with nothing before it is an empty statement; there is nothing to emit.
                (Kind::Semi, None) => {}
                (Kind::Semi, Some(p)) if p.blocks.is_empty() && p.parens == 0 => {
                    if let Some(p) = self.cur.take() {
                        return Some(p.finish(sql, tok.start, &mut self.cursor));
                    }
                }
                (_, Some(p)) => p.feed(sql, &self.toks, i, dialect),
                (_, None) => self.cur.insert(Pending::new(tok.start)).feed(sql, &self.toks, i, dialect),
            }
        }
        let p = self.cur.take()?;
        let end = p.end;
        Some(p.finish(sql, end, &mut self.cursor))
    }
}

/// Returns the 1-based line of a byte offset (helper used by callers for diagnostics).
pub fn line_of(sql: &str, offset: usize) -> usize {
    // Counting bytes rather than chars means an offset inside a multi-byte char cannot panic.
    1 + sql.as_bytes().iter().take(offset).filter(|&&b| b == b'\n').count()
}

// ---------------------------------------------------------------------------------------------------
// Lexer
// ---------------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Space,
    Comment,
    /// Identifier, keyword or number: anything a keyword could be.
    Word,
    /// String literal, quoted identifier, or MySQL `/*! … */` executable comment: opaque but significant.
    Quoted,
    /// Postgres dollar-quoted string (`$$ … $$`, `$tag$ … $tag$`).
    Dollar,
    Semi,
    Punct(u8),
}

#[derive(Debug, Clone, Copy)]
struct Token {
    kind: Kind,
    start: usize,
    end: usize,
}

/// The tokens of a text, lexed as they are asked for and forgotten once passed, so that splitting
/// 56 MB of SQL holds a few tokens rather than fifteen million. Index `i` is the `i`th token of
/// the whole text; tokens before the last `release_before` are gone.
struct Tokens<'a> {
    sql: &'a str,
    dialect: Dialect,
    window: std::cell::RefCell<std::collections::VecDeque<Token>>,
    /// The index of the window's first token.
    base: std::cell::Cell<usize>,
    /// Where the next token to lex starts.
    next: std::cell::Cell<usize>,
}

impl<'a> Tokens<'a> {
    fn new(sql: &'a str, dialect: Dialect) -> Tokens<'a> {
        Tokens { sql, dialect, window: Default::default(), base: Default::default(), next: Default::default() }
    }

    fn get(&self, i: usize) -> Option<Token> {
        let mut window = self.window.borrow_mut();
        let base = self.base.get();
        debug_assert!(i >= base, "token {i} was released");
        while base + window.len() <= i {
            let start = self.next.get();
            if start >= self.sql.len() {
                return None;
            }
            let (kind, end) = next_token(self.sql, start, self.dialect);
            // Every branch consumes at least one byte; the clamp only guards against a future
            // bug turning into an endless loop or an out-of-range slice.
            let end = end.clamp(start + 1, self.sql.len());
            window.push_back(Token { kind, start, end });
            self.next.set(end);
        }
        window.get(i.checked_sub(base)?).copied()
    }

    fn release_before(&self, i: usize) {
        let mut window = self.window.borrow_mut();
        while self.base.get() < i && window.pop_front().is_some() {
            self.base.set(self.base.get() + 1);
        }
    }
}

/// Lexes one token starting at byte `i` and returns its kind and end offset.
///
/// Token boundaries always fall on ASCII bytes or the end of input (every byte >= 0x80 is a word
/// byte, and quoted tokens end on an ASCII delimiter), so slicing `sql` at them is always valid.
fn next_token(sql: &str, i: usize, dialect: Dialect) -> (Kind, usize) {
    let b = sql.as_bytes();
    let at = |k: usize| b.get(k).copied();
    let (mysql, pg, sqlite) = (dialect == Dialect::Mysql, dialect == Dialect::Postgres, dialect == Dialect::Sqlite);
    let Some(c) = at(i) else { return (Kind::Space, b.len()) };
    match c {
        b';' => (Kind::Semi, i + 1),
        c if c.is_ascii_whitespace() => (Kind::Space, skip_while(b, i, |c| c.is_ascii_whitespace())),
        // MySQL only treats `--` as a comment when followed by whitespace/control, so `5--1` is
        // arithmetic there (this mirrors the mysql client's own splitter).
        b'-' if at(i + 1) == Some(b'-')
            && (!mysql || at(i + 2).is_none_or(|n| n.is_ascii_whitespace() || n.is_ascii_control())) =>
        {
            (Kind::Comment, line_end(b, i))
        }
        b'#' if mysql => (Kind::Comment, line_end(b, i)),
        b'/' if at(i + 1) == Some(b'*') => {
            let end = block_comment_end(b, i + 2, pg);
            // MySQL executes the contents of `/*! … */` (mysqldump output relies on it), so it is
            // statement text, not a comment that could be dropped as "leading".
            let kind = if mysql && at(i + 2) == Some(b'!') { Kind::Quoted } else { Kind::Comment };
            (kind, end)
        }
        // MySQL honours backslash escapes in both quote styles (`"` is a string there by default).
        b'\'' | b'"' => (Kind::Quoted, quoted_end(b, i, c, mysql)),
        // SQLite accepts backticks too, for MySQL compatibility; in Postgres it is just a stray byte.
        b'`' if !pg => (Kind::Quoted, quoted_end(b, i, c, false)),
        // Only SQLite uses [brackets] as identifier quotes; elsewhere they are array subscripts.
        b'[' if sqlite => (Kind::Quoted, find_byte(b, i + 1, b']').map_or(b.len(), |p| p + 1)),
        b'$' if pg => match dollar_quote_end(sql, i) {
            Some(end) => (Kind::Dollar, end),
            // `$1` parameters (and anything else that is not `$tag$`) are ordinary punctuation.
            None => (Kind::Punct(b'$'), i + 1),
        },
        c if is_word_byte(c) => {
            // `$` may continue an identifier in all three dialects (`a$b`), which is also why a
            // dollar quote can never start in the middle of a word.
            let end = skip_while(b, i, |c| is_word_byte(c) || c == b'$');
            if pg && end == i + 1 && matches!(c, b'e' | b'E') && at(end) == Some(b'\'') {
                // Postgres only honours backslash escapes in E'…' strings.
                (Kind::Quoted, quoted_end(b, end, b'\'', true))
            } else {
                (Kind::Word, end)
            }
        }
        c => (Kind::Punct(c), i + 1),
    }
}

fn is_word_byte(c: u8) -> bool {
    // Bytes >= 0x80 belong to non-ASCII chars, which all dialects allow in identifiers; treating
    // them as word bytes also keeps multi-byte chars inside a single token.
    c.is_ascii_alphanumeric() || c == b'_' || c >= 0x80
}

fn skip_while(b: &[u8], i: usize, f: impl Fn(u8) -> bool) -> usize {
    i + b.get(i..).map_or(0, |rest| rest.iter().take_while(|&&c| f(c)).count())
}

fn find_byte(b: &[u8], from: usize, needle: u8) -> Option<usize> {
    b.get(from..)?.iter().position(|&c| c == needle).map(|p| from + p)
}

/// End of a line comment: the `\n` stays outside so it is lexed as whitespace.
fn line_end(b: &[u8], i: usize) -> usize {
    find_byte(b, i, b'\n').unwrap_or(b.len())
}

/// End of a block comment whose `/*` ends just before `j`; unterminated comments run to the end.
fn block_comment_end(b: &[u8], mut j: usize, nested: bool) -> usize {
    let mut depth = 1usize;
    while let Some(&c) = b.get(j) {
        let next = b.get(j + 1).copied();
        if c == b'*' && next == Some(b'/') {
            depth -= 1;
            j += 2;
            if depth == 0 {
                return j;
            }
        } else if nested && c == b'/' && next == Some(b'*') {
            depth += 1;
            j += 2;
        } else {
            j += 1;
        }
    }
    b.len()
}

/// End of a quoted token opened by `b[i]`; a doubled quote is an escaped quote in every dialect.
fn quoted_end(b: &[u8], i: usize, quote: u8, backslash: bool) -> usize {
    let mut j = i + 1;
    while let Some(&c) = b.get(j) {
        if backslash && c == b'\\' {
            j += 2;
        } else if c == quote {
            if b.get(j + 1) != Some(&quote) {
                return j + 1;
            }
            j += 2;
        } else {
            j += 1;
        }
    }
    b.len()
}

/// If a Postgres dollar quote (`$$` or `$tag$`) opens at `i`, returns the end of the whole quoted
/// string (the end of input when unterminated).
fn dollar_quote_end(sql: &str, i: usize) -> Option<usize> {
    let b = sql.as_bytes();
    let tag_start = |c: u8| c.is_ascii_alphabetic() || c == b'_' || c >= 0x80;
    let mut j = i + 1;
    // Tags cannot start with a digit, which is what keeps `$1` a parameter.
    if b.get(j).is_some_and(|&c| tag_start(c)) {
        j = skip_while(b, j, |c| tag_start(c) || c.is_ascii_digit());
    }
    if b.get(j) != Some(&b'$') {
        return None;
    }
    let delimiter = sql.get(i..=j)?;
    let body = j + 1;
    Some(sql.get(body..)?.find(delimiter).map_or(sql.len(), |p| body + p + delimiter.len()))
}

// ---------------------------------------------------------------------------------------------------
// Statement assembly
// ---------------------------------------------------------------------------------------------------

/// Whether the statement being assembled defines a routine (and so may have a BEGIN … END body).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    Undecided,
    Plain,
    Routine,
}

/// Words that may sit between CREATE and the routine keyword.
const MODIFIERS: &[&str] = &["OR", "REPLACE", "TEMP", "TEMPORARY", "DEFINER", "AGGREGATE", "CONSTRAINT"];
const ROUTINES: &[&str] = &["TRIGGER", "PROCEDURE", "FUNCTION", "EVENT"];
/// Words after END that name the block being closed; they must not be re-read as openers.
const END_KINDS: &[&str] = &["IF", "LOOP", "WHILE", "REPEAT", "CASE"];
/// Words after BEGIN that make it a transaction start rather than a block.
const TXN_WORDS: &[&str] = &["TRANSACTION", "WORK", "DEFERRED", "IMMEDIATE", "EXCLUSIVE"];

/// An open block of a routine body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Block {
    /// `BEGIN … END` (also `BEGIN ATOMIC`, `BEGIN NOT ATOMIC`, a handler's body).
    Begin,
    /// `IF … END IF`, a statement.
    If,
    /// `CASE … END CASE`, a statement.
    Case,
    /// `CASE … END` inside an expression: its THEN and ELSE are followed by expressions.
    CaseExpression,
    /// `LOOP … END LOOP`, `WHILE … END WHILE`, `REPEAT … END REPEAT`.
    Loop,
}

/// A statement whose first token has been seen but whose terminator has not.
struct Pending {
    start: usize,
    /// End of the last significant token, used when the input ends without a `;`.
    end: usize,
    class: Class,
    /// Significant tokens classified so far.
    seen: usize,
    /// Inside a MySQL `DEFINER = user@host` clause, whose tokens are allowed before the keyword.
    definer: bool,
    /// Open blocks of a routine body; the statement ends at a `;` only when none is open.
    blocks: Vec<Block>,
    /// The routine's body has started.
    body: bool,
    /// The next word begins a statement inside the body (after `;`, BEGIN, THEN, ELSE, DO, LOOP,
    /// REPEAT or a label). Only there is `IF` a block (`IF x THEN`) rather than part of DDL
    /// (`DROP TABLE IF EXISTS`) or a function (`SET a = IF(x, 1, 2)`), and `REPEAT` a loop
    /// rather than `REPEAT('x', 3)`.
    at_start: bool,
    /// A MySQL trigger or event header just ended (`FOR EACH ROW`, `DO`): a body without BEGIN
    /// (`IF … END IF`, `CASE … END CASE`, a loop) may start here.
    header_end: bool,
    /// The previous significant word, upper-cased (only the few words the walk looks back at).
    prev_word: Option<&'static str>,
    /// Open parentheses; psql does not end a statement inside them (e.g. `CREATE RULE … DO (a; b)`).
    parens: usize,
    dollar: bool,
    prev: Kind,
    /// Index of a word already consumed as part of `END IF` / `END LOOP` / ….
    skip: Option<usize>,
}

/// Words the walk remembers as the previous word.
const REMEMBERED: &[&str] = &["BEGIN", "NOT", "EACH", "ROW", "FOLLOWS", "PRECEDES", "EVENT"];

impl Pending {
    fn new(start: usize) -> Self {
        Pending {
            start,
            end: start,
            class: Class::Undecided,
            seen: 0,
            definer: false,
            blocks: Vec::new(),
            body: false,
            at_start: false,
            header_end: false,
            prev_word: None,
            parens: 0,
            dollar: false,
            prev: Kind::Space,
            skip: None,
        }
    }

    /// Takes in the significant token `toks[i]`, which belongs to this statement.
    fn feed(&mut self, sql: &str, toks: &Tokens<'_>, i: usize, dialect: Dialect) {
        let Some(tok) = toks.get(i) else { return };
        self.end = tok.end;
        let word = word_at(sql, toks, Some(i));
        match tok.kind {
            Kind::Dollar => self.dollar = true,
            Kind::Punct(b'(') if dialect == Dialect::Postgres => self.parens += 1,
            Kind::Punct(b')') if dialect == Dialect::Postgres => self.parens = self.parens.saturating_sub(1),
            _ => {}
        }
        self.classify(sql, toks, i, tok.kind, word, dialect);
        // A word after `.` or `@` is a qualified name or variable (`t.end`, `@begin`), never a keyword.
        let qualified = matches!(self.prev, Kind::Punct(b'.' | b'@'));
        if self.class == Class::Routine {
            match (word, tok.kind) {
                (Some(w), _) if self.skip != Some(i) && !qualified => self.track_block(sql, toks, i, w, dialect),
                (Some(_), _) => self.at_start = false,
                // A statement of the body ends; a label (`l1: LOOP`) precedes one.
                (None, Kind::Semi | Kind::Punct(b':')) => self.at_start = self.body,
                (None, _) => self.at_start = false,
            }
        }
        self.prev = tok.kind;
    }

    /// Decides from the leading tokens whether this is `CREATE [modifiers] TRIGGER|PROCEDURE|…`
    /// (or MariaDB's anonymous `BEGIN NOT ATOMIC … END`). Only such statements get BEGIN … END
    /// tracking, so `CASE … END` in a SELECT or a plain `BEGIN;` can never swallow the
    /// statements after it.
    fn classify(&mut self, sql: &str, toks: &Tokens<'_>, i: usize, kind: Kind, word: Option<&str>, dialect: Dialect) {
        if self.class != Class::Undecided {
            return;
        }
        self.seen += 1;
        let after_user_sep = matches!(self.prev, Kind::Punct(b'=' | b'@'));
        self.class = match (kind, word) {
            (_, Some(w)) if self.seen == 1 => {
                let next = next_significant(toks, i);
                let not_atomic = word_at(sql, toks, next).is_some_and(|n| n.eq_ignore_ascii_case("NOT"))
                    && word_at(sql, toks, next.and_then(|j| next_significant(toks, j)))
                        .is_some_and(|n| n.eq_ignore_ascii_case("ATOMIC"));
                if w.eq_ignore_ascii_case("CREATE") {
                    Class::Undecided
                } else if dialect == Dialect::Mysql && w.eq_ignore_ascii_case("BEGIN") && not_atomic {
                    Class::Routine
                } else {
                    Class::Plain
                }
            }
            (_, Some(w)) if is_any(w, ROUTINES) => Class::Routine,
            (_, Some(w)) if is_any(w, MODIFIERS) => {
                self.definer |= w.eq_ignore_ascii_case("DEFINER");
                Class::Undecided
            }
            // The user of `DEFINER = root@localhost`, `= CURRENT_USER()`, `= 'a'@'%'`, `` `a`@`b` ``.
            (_, Some(_)) if self.definer && after_user_sep => Class::Undecided,
            (Kind::Quoted | Kind::Punct(b'=' | b'@' | b'(' | b')' | b'.' | b'%'), _) if self.definer => {
                Class::Undecided
            }
            _ => Class::Plain,
        };
    }

    /// Follows the blocks of a routine body at keyword `w` (`toks[i]`).
    fn track_block(&mut self, sql: &str, toks: &Tokens<'_>, i: usize, w: &str, dialect: Dialect) {
        let at_start = std::mem::replace(&mut self.at_start, false);
        let header_end = std::mem::replace(&mut self.header_end, false);
        let prev_word = self.prev_word.take();
        self.prev_word = REMEMBERED.iter().copied().find(|k| w.eq_ignore_ascii_case(k));
        let next = next_significant(toks, i);
        let next_is = |kws: &[&str]| word_at(sql, toks, next).is_some_and(|n| is_any(n, kws));
        let is = |k: &str| w.eq_ignore_ascii_case(k);
        if is("BEGIN") {
            let ends_here = next.and_then(|j| toks.get(j)).is_none_or(|t| t.kind == Kind::Semi);
            if !ends_here && !next_is(TXN_WORDS) {
                self.open(Block::Begin);
                self.at_start = true;
            }
            return;
        }
        // `BEGIN ATOMIC` (PostgreSQL), `BEGIN NOT ATOMIC` (MariaDB): the body's first statement
        // still follows.
        if (is("ATOMIC") && matches!(prev_word, Some("BEGIN" | "NOT"))) || (is("NOT") && prev_word == Some("BEGIN")) {
            self.at_start = at_start;
            return;
        }
        if dialect == Dialect::Mysql && !self.body {
            // A MySQL trigger's or event's body may be one compound statement without BEGIN.
            let trigger_body = is("ROW") && prev_word == Some("EACH");
            let event_body = is("DO");
            if trigger_body || event_body {
                self.header_end = true;
                self.at_start = true;
                return;
            }
            // `FOR EACH ROW FOLLOWS other_trigger`: the body comes after the trigger's name.
            if matches!(prev_word, Some("FOLLOWS" | "PRECEDES")) {
                self.header_end = true;
                self.at_start = true;
                return;
            }
            if (is("FOLLOWS") || is("PRECEDES")) && header_end {
                return;
            }
        }
        // Before the body (e.g. a SQLite `WHEN CASE … END` clause) nothing else can open a block.
        if !self.body && !header_end {
            return;
        }
        let top = self.blocks.last().copied();
        if is("IF") {
            if at_start {
                self.open(Block::If);
            }
        } else if is("CASE") {
            self.open(if at_start { Block::Case } else { Block::CaseExpression });
        } else if is("LOOP") {
            self.open(Block::Loop);
            self.at_start = true;
        } else if is("WHILE") {
            self.open(Block::Loop);
        } else if is("REPEAT") {
            if at_start {
                self.open(Block::Loop);
                self.at_start = true;
            }
        } else if is("THEN") || is("ELSE") {
            self.at_start = top != Some(Block::CaseExpression);
        } else if is("DO") {
            self.at_start = true;
        } else if is("END") {
            self.blocks.pop();
            if next_is(END_KINDS) {
                self.skip = next;
            }
        }
    }

    fn open(&mut self, block: Block) {
        self.blocks.push(block);
        self.body = true;
    }

    fn finish(self, sql: &str, end: usize, cursor: &mut Cursor) -> Statement {
        cursor.advance_to(sql, self.start);
        Statement {
            text: sql.get(self.start..end.max(self.start)).unwrap_or_default().to_owned(),
            offset: self.start,
            line: cursor.line,
            column: cursor.column,
            has_body: self.dollar || self.body,
        }
    }
}

fn is_any(word: &str, kws: &[&str]) -> bool {
    kws.iter().any(|k| word.eq_ignore_ascii_case(k))
}

/// The text of `toks[i]` if it is a word.
fn word_at<'a>(sql: &'a str, toks: &Tokens<'_>, i: Option<usize>) -> Option<&'a str> {
    let tok = toks.get(i?)?;
    if tok.kind == Kind::Word { sql.get(tok.start..tok.end) } else { None }
}

fn next_significant(toks: &Tokens<'_>, i: usize) -> Option<usize> {
    let mut j = i + 1;
    loop {
        let tok = toks.get(j)?;
        if !matches!(tok.kind, Kind::Space | Kind::Comment) {
            return Some(j);
        }
        j += 1;
    }
}

/// Incremental line/column counter; statements arrive in order, so the whole input is walked once.
struct Cursor {
    pos: usize,
    line: usize,
    column: usize,
}

impl Cursor {
    fn advance_to(&mut self, sql: &str, target: usize) {
        let Some(gap) = sql.get(self.pos..target) else { return };
        for ch in gap.chars() {
            if ch == '\n' {
                self.line += 1;
                self.column = 1;
            } else {
                self.column += 1;
            }
        }
        self.pos = target;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Dialect::{Mysql, Postgres, Sqlite};

    /// Checks the invariants every split must satisfy, whatever the input.
    fn check_invariants(sql: &str, dialect: Dialect) -> Vec<Statement> {
        let stmts = split(sql, dialect);
        let mut prev_end = 0;
        for s in &stmts {
            let ctx = format!("{dialect:?} {sql:?} -> {s:?}");
            assert_eq!(sql.get(s.offset..s.offset + s.text.len()), Some(s.text.as_str()), "{ctx}");
            assert!(s.offset >= prev_end, "{ctx}");
            assert!(!s.text.is_empty() && !s.text.starts_with(char::is_whitespace), "{ctx}");
            assert_eq!(s.line, line_of(sql, s.offset), "{ctx}");
            let line_start = sql[..s.offset].rfind('\n').map_or(0, |p| p + 1);
            assert_eq!(s.column, sql[line_start..s.offset].chars().count() + 1, "{ctx}");
            prev_end = s.offset + s.text.len();
        }
        stmts
    }

    fn texts(sql: &str, dialect: Dialect) -> Vec<String> {
        check_invariants(sql, dialect).into_iter().map(|s| s.text).collect()
    }

    /// One `#[test]` per case: `name: [dialects] sql => [expected texts];`.
    macro_rules! split_cases {
        ($($name:ident: [$($d:ident),+] $sql:expr => [$($want:expr),* $(,)?];)*) => {$(
            #[test]
            fn $name() {
                let want: Vec<&str> = vec![$($want),*];
                for d in [$($d),+] {
                    assert_eq!(texts($sql, d), want, "dialect {d:?}");
                }
            }
        )*};
    }

    split_cases! {
        empty_input: [Sqlite, Postgres, Mysql] "" => [];
        whitespace_only: [Sqlite, Postgres, Mysql] " \n\t \n" => [];
        comments_only: [Sqlite, Postgres, Mysql] "-- migrate:up\n/* nothing ; here */\n-- end" => [];
        empty_statements: [Sqlite, Postgres, Mysql] ";; SELECT 1;;\n;" => ["SELECT 1"];
        two_statements: [Sqlite, Postgres, Mysql] "SELECT 1; SELECT 2;" => ["SELECT 1", "SELECT 2"];
        last_without_semicolon: [Sqlite, Postgres, Mysql] "SELECT 1;\nSELECT 2  \n\n" => ["SELECT 1", "SELECT 2"];
        whitespace_before_semicolon_kept: [Sqlite, Postgres, Mysql] "SELECT 1 \n;" => ["SELECT 1 \n"];
        semicolon_in_string: [Sqlite, Postgres, Mysql]
            "INSERT INTO t VALUES ('a;b', 'it''s; ok'); SELECT 2" =>
            ["INSERT INTO t VALUES ('a;b', 'it''s; ok')", "SELECT 2"];
        mysql_backslash_escape: [Mysql] r"SELECT 'it\'s;', 'a\\'; SELECT 2;" => [r"SELECT 'it\'s;', 'a\\'", "SELECT 2"];
        sqlite_no_backslash_escape: [Sqlite] r"SELECT 'a\'; SELECT 2;" => [r"SELECT 'a\'", "SELECT 2"];
        postgres_plain_string_no_backslash_escape: [Postgres]
            r"SELECT 'a\'; SELECT some'b\'; SELECT 2;" => [r"SELECT 'a\'", r"SELECT some'b\'", "SELECT 2"];
        postgres_e_string: [Postgres] r"SELECT E'it\'s;', e'x\';'; SELECT 2;" =>
            [r"SELECT E'it\'s;', e'x\';'", "SELECT 2"];
        double_quoted_identifier: [Sqlite, Postgres, Mysql]
            r#"SELECT "a;b", "c"";d" FROM t; SELECT 2"# => [r#"SELECT "a;b", "c"";d" FROM t"#, "SELECT 2"];
        mysql_double_quoted_string_backslash: [Mysql] r#"SELECT "a\";b"; SELECT 2"# =>
            [r#"SELECT "a\";b""#, "SELECT 2"];
        backtick_identifier: [Mysql, Sqlite] "SELECT `a;b`, `c``;d` FROM t; SELECT 2" =>
            ["SELECT `a;b`, `c``;d` FROM t", "SELECT 2"];
        sqlite_bracket_identifier: [Sqlite] "SELECT [a;b] FROM t; SELECT 2" => ["SELECT [a;b] FROM t", "SELECT 2"];
        postgres_brackets_are_subscripts: [Postgres] "SELECT a[1]; SELECT ']'; SELECT 2" =>
            ["SELECT a[1]", "SELECT ']'", "SELECT 2"];
        line_comment_inside: [Sqlite, Postgres, Mysql]
            "SELECT 1 -- a; b\n; SELECT 2" => ["SELECT 1 -- a; b\n", "SELECT 2"];
        mysql_hash_comment: [Mysql] "SELECT 1 # a; b\n; SELECT 2" => ["SELECT 1 # a; b\n", "SELECT 2"];
        postgres_hash_is_operator: [Postgres] "SELECT 5 # 3; SELECT 2" => ["SELECT 5 # 3", "SELECT 2"];
        mysql_double_dash_needs_space: [Mysql] "SELECT 5--1; SELECT 2;" => ["SELECT 5--1", "SELECT 2"];
        double_dash_always_comment_elsewhere: [Sqlite, Postgres] "SELECT 5--1; SELECT 2;" => ["SELECT 5"];
        block_comment_inside: [Sqlite, Postgres, Mysql]
            "SELECT /* ; */ 1; SELECT 2" => ["SELECT /* ; */ 1", "SELECT 2"];
        postgres_nested_block_comment: [Postgres]
            "SELECT /* a /* b */ ; */ 1; SELECT 2" => ["SELECT /* a /* b */ ; */ 1", "SELECT 2"];
        block_comments_do_not_nest_elsewhere: [Sqlite, Mysql]
            "SELECT /* a /* b */ ; */ 1; SELECT 2" => ["SELECT /* a /* b */ ", "*/ 1", "SELECT 2"];
        leading_comments_and_directives_dropped: [Sqlite, Postgres, Mysql]
            "-- migrate:up\n/* c */ CREATE TABLE a (id int);\n\n-- migrate:down\nDROP TABLE a;\n" =>
            ["CREATE TABLE a (id int)", "DROP TABLE a"];
        trailing_comment_after_unterminated_dropped: [Sqlite, Postgres, Mysql] "SELECT 1 -- bye\n" => ["SELECT 1"];
        inner_comments_kept: [Sqlite, Postgres, Mysql]
            "SELECT 1 /* keep */ + 2 -- keep\n; SELECT 2" => ["SELECT 1 /* keep */ + 2 -- keep\n", "SELECT 2"];
        non_ascii_text: [Sqlite, Postgres, Mysql] "SELECT 'héllo;' AS ü; SELECT '日本'" =>
            ["SELECT 'héllo;' AS ü", "SELECT '日本'"];
        unterminated_string_runs_to_end: [Sqlite, Postgres, Mysql] "SELECT 1; SELECT 'abc; SELECT 2;" =>
            ["SELECT 1", "SELECT 'abc; SELECT 2;"];
        dollar_quote: [Postgres] "SELECT $$a;b$$; SELECT $t$ $$ ; $t$; SELECT 2" =>
            ["SELECT $$a;b$$", "SELECT $t$ $$ ; $t$", "SELECT 2"];
        dollar_parameters_are_not_quotes: [Postgres] "SELECT $1; SELECT $2, a$b$ FROM t; SELECT 3" =>
            ["SELECT $1", "SELECT $2, a$b$ FROM t", "SELECT 3"];
        postgres_function_dollar_body: [Postgres]
            "CREATE FUNCTION f() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.x := 1; RETURN NEW; END; \
             $$;\nSELECT 2;" =>
            ["CREATE FUNCTION f() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.x := 1; RETURN NEW; END; $$",
             "SELECT 2"];
        postgres_function_tagged_body: [Postgres]
            "CREATE OR REPLACE FUNCTION f() RETURNS int AS $body$ SELECT $$;$$; $body$ LANGUAGE sql; SELECT 2" =>
            ["CREATE OR REPLACE FUNCTION f() RETURNS int AS $body$ SELECT $$;$$; $body$ LANGUAGE sql", "SELECT 2"];
        postgres_do_block: [Postgres]
            "DO $$ BEGIN IF 1 = 1 THEN RAISE NOTICE 'x'; END IF; END $$;\nSELECT 2;" =>
            ["DO $$ BEGIN IF 1 = 1 THEN RAISE NOTICE 'x'; END IF; END $$", "SELECT 2"];
        postgres_begin_atomic: [Postgres]
            "CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; SELECT CASE WHEN true THEN 2 \
             END; END; SELECT 3" =>
            ["CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; SELECT CASE WHEN true THEN 2 \
             END; END",
             "SELECT 3"];
        postgres_trigger_without_body: [Postgres]
            "CREATE TRIGGER t BEFORE INSERT ON a FOR EACH ROW EXECUTE FUNCTION f(); SELECT 1" =>
            ["CREATE TRIGGER t BEFORE INSERT ON a FOR EACH ROW EXECUTE FUNCTION f()", "SELECT 1"];
        postgres_rule_parens: [Postgres]
            "CREATE RULE r AS ON INSERT TO t DO ALSO (INSERT INTO a VALUES (1); DELETE FROM b); SELECT 1" =>
            ["CREATE RULE r AS ON INSERT TO t DO ALSO (INSERT INTO a VALUES (1); DELETE FROM b)", "SELECT 1"];
        sqlite_trigger: [Sqlite]
            "CREATE TRIGGER t AFTER INSERT ON a BEGIN UPDATE b SET n = n + 1; INSERT INTO c VALUES (1); \
             END;\nSELECT 2;" =>
            ["CREATE TRIGGER t AFTER INSERT ON a BEGIN UPDATE b SET n = n + 1; INSERT INTO c VALUES (1); \
             END", "SELECT 2"];
        sqlite_temp_trigger_with_when_and_case: [Sqlite]
            "create temp trigger if not exists t after update on a when case when new.x then 1 end begin \
             select case new.y when 1 then raise(abort, 'no;') end; end; select 2" =>
            ["create temp trigger if not exists t after update on a when case when new.x then 1 end begin \
              select case new.y when 1 then raise(abort, 'no;') end; end",
             "select 2"];
        keywords_in_identifiers_and_strings: [Sqlite]
            "CREATE TRIGGER t AFTER INSERT ON a BEGIN UPDATE b SET begin_date = 1, \"END\" = 'end', [end] = 2, \
             end_x = 3; END; SELECT 1" =>
            ["CREATE TRIGGER t AFTER INSERT ON a BEGIN UPDATE b SET begin_date = 1, \"END\" = 'end', [end] = 2, \
             end_x = 3; END",
             "SELECT 1"];
        mysql_procedure: [Mysql]
            "CREATE PROCEDURE p() BEGIN DECLARE x INT DEFAULT 0; IF x = 0 THEN SET x = 1; END IF; \
             WHILE x < 3 DO SET x = x + 1; END WHILE; SELECT CASE x WHEN 1 THEN 'a' ELSE 'b' END; END;\n\
             INSERT INTO t VALUES (1);" =>
            ["CREATE PROCEDURE p() BEGIN DECLARE x INT DEFAULT 0; IF x = 0 THEN SET x = 1; END IF; \
              WHILE x < 3 DO SET x = x + 1; END WHILE; SELECT CASE x WHEN 1 THEN 'a' ELSE 'b' END; END",
             "INSERT INTO t VALUES (1)"];
        mysql_function: [Mysql]
            "CREATE FUNCTION f() RETURNS INT DETERMINISTIC BEGIN RETURN 1; END; SELECT f();" =>
            ["CREATE FUNCTION f() RETURNS INT DETERMINISTIC BEGIN RETURN 1; END", "SELECT f()"];
        mysql_definer: [Mysql]
            "CREATE DEFINER=`root`@`localhost` PROCEDURE p() BEGIN SELECT 1; END; \
             CREATE OR REPLACE DEFINER = CURRENT_USER() FUNCTION g() RETURNS INT BEGIN RETURN 2; END; \
             CREATE DEFINER=app@'%' TRIGGER t BEFORE INSERT ON a FOR EACH ROW BEGIN SET NEW.x = 1; END; SELECT 3" =>
            ["CREATE DEFINER=`root`@`localhost` PROCEDURE p() BEGIN SELECT 1; END",
             "CREATE OR REPLACE DEFINER = CURRENT_USER() FUNCTION g() RETURNS INT BEGIN RETURN 2; END",
             "CREATE DEFINER=app@'%' TRIGGER t BEFORE INSERT ON a FOR EACH ROW BEGIN SET NEW.x = 1; END",
             "SELECT 3"];
        mysql_if_forms: [Mysql]
            "CREATE PROCEDURE p() BEGIN DROP TABLE IF EXISTS t; CREATE TABLE IF NOT EXISTS t (a INT); \
             SET @x = IF(1 > 0, 'a', 'b'); IF(@x = 'a') THEN SELECT 1; ELSEIF @x IS NULL THEN SELECT 2; END IF; \
             END; SELECT 3" =>
            ["CREATE PROCEDURE p() BEGIN DROP TABLE IF EXISTS t; CREATE TABLE IF NOT EXISTS t (a INT); \
              SET @x = IF(1 > 0, 'a', 'b'); IF(@x = 'a') THEN SELECT 1; ELSEIF @x IS NULL THEN SELECT 2; END IF; END",
             "SELECT 3"];
        mysql_loops_and_labels: [Mysql]
            "CREATE PROCEDURE p() BEGIN l1: LOOP LEAVE l1; END LOOP l1; \
             REPEAT SET @i = @i + 1; UNTIL @i > 3 END REPEAT; SELECT REPEAT('a', 2); END; SELECT 2" =>
            ["CREATE PROCEDURE p() BEGIN l1: LOOP LEAVE l1; END LOOP l1; \
              REPEAT SET @i = @i + 1; UNTIL @i > 3 END REPEAT; SELECT REPEAT('a', 2); END",
             "SELECT 2"];
        mysql_case_statement_and_nested_begin: [Mysql]
            "CREATE PROCEDURE p(x INT) BEGIN DECLARE EXIT HANDLER FOR SQLEXCEPTION BEGIN ROLLBACK; END; \
             CASE x WHEN 1 THEN SELECT 1; ELSE BEGIN SELECT 2; END; END CASE; START TRANSACTION; COMMIT; END; \
             SELECT 3" =>
            ["CREATE PROCEDURE p(x INT) BEGIN DECLARE EXIT HANDLER FOR SQLEXCEPTION BEGIN ROLLBACK; END; \
              CASE x WHEN 1 THEN SELECT 1; ELSE BEGIN SELECT 2; END; END CASE; START TRANSACTION; COMMIT; END",
             "SELECT 3"];
        mysql_event: [Mysql]
            "CREATE EVENT e ON SCHEDULE EVERY 1 DAY DO BEGIN DELETE FROM t; DELETE FROM u; END; SELECT 1" =>
            ["CREATE EVENT e ON SCHEDULE EVERY 1 DAY DO BEGIN DELETE FROM t; DELETE FROM u; END", "SELECT 1"];
        mysql_trigger_single_statement: [Mysql]
            "CREATE TRIGGER t BEFORE INSERT ON a FOR EACH ROW SET NEW.x = IF(NEW.y, 1, 2); SELECT 2" =>
            ["CREATE TRIGGER t BEFORE INSERT ON a FOR EACH ROW SET NEW.x = IF(NEW.y, 1, 2)", "SELECT 2"];
        mysql_qualified_and_variable_keywords: [Mysql]
            "CREATE PROCEDURE p() BEGIN SELECT t.end, t.`begin`, @begin FROM t; END; SELECT 2" =>
            ["CREATE PROCEDURE p() BEGIN SELECT t.end, t.`begin`, @begin FROM t; END", "SELECT 2"];
        mysql_executable_comment: [Mysql]
            "/*!40101 SET NAMES utf8 */;\n/* plain */ SELECT 1;" => ["/*!40101 SET NAMES utf8 */", "SELECT 1"];
        transactions_outside_routines: [Sqlite, Postgres, Mysql]
            "BEGIN; INSERT INTO t VALUES (1); COMMIT; BEGIN TRANSACTION; END;" =>
            ["BEGIN", "INSERT INTO t VALUES (1)", "COMMIT", "BEGIN TRANSACTION", "END"];
        case_expression_outside_routines: [Sqlite, Postgres, Mysql]
            "SELECT CASE WHEN a THEN 1 ELSE 2 END FROM t; SELECT 2" =>
            ["SELECT CASE WHEN a THEN 1 ELSE 2 END FROM t", "SELECT 2"];
        routine_words_as_names_are_not_routines: [Sqlite, Postgres, Mysql]
            "CREATE TABLE event (trigger TEXT, begin INT); CREATE VIEW v AS SELECT 1; SELECT 2" =>
            ["CREATE TABLE event (trigger TEXT, begin INT)", "CREATE VIEW v AS SELECT 1", "SELECT 2"];
        unterminated_routine_runs_to_end: [Sqlite, Mysql]
            "CREATE TRIGGER t AFTER INSERT ON a BEGIN SELECT 1; SELECT 2;  " =>
            ["CREATE TRIGGER t AFTER INSERT ON a BEGIN SELECT 1; SELECT 2;"];
        // The shapes real MySQL/MariaDB histories use (issue 10): `IF EXISTS (SELECT …) THEN` is
        // control flow at the start of a statement, DDL's `IF EXISTS` anywhere else.
        mysql_if_exists_subquery_then: [Mysql]
            "CREATE PROCEDURE m() BEGIN\n  IF EXISTS (SELECT 1 FROM t WHERE a = 1) THEN\n    DROP TABLE IF EXISTS u;\n  \
             ELSEIF NOT EXISTS (SELECT * FROM v) THEN\n    CREATE TABLE IF NOT EXISTS u (a INT);\n  ELSE\n    \
             IF NOT EXISTS (SELECT 1 FROM w) THEN SELECT 1; END IF;\n  END IF;\nEND;\nCALL m();\nCALL m();\n\
             DROP PROCEDURE m;" =>
            ["CREATE PROCEDURE m() BEGIN\n  IF EXISTS (SELECT 1 FROM t WHERE a = 1) THEN\n    DROP TABLE IF EXISTS u;\n  \
              ELSEIF NOT EXISTS (SELECT * FROM v) THEN\n    CREATE TABLE IF NOT EXISTS u (a INT);\n  ELSE\n    \
              IF NOT EXISTS (SELECT 1 FROM w) THEN SELECT 1; END IF;\n  END IF;\nEND",
             "CALL m()", "CALL m()", "DROP PROCEDURE m"];
        mysql_case_expression_with_if_function_in_a_body: [Mysql]
            "CREATE FUNCTION f(x INT) RETURNS INT BEGIN DECLARE y INT; \
             SET y = CASE WHEN x > 0 THEN IF(x > 9, 2, 1) ELSE REPEAT('a', 0) END; \
             CASE WHEN y = 1 THEN SET y = 3; WHEN y = 2 THEN IF y > 1 THEN SET y = 4; END IF; ELSE BEGIN END; END CASE; \
             RETURN y; END; SELECT f(1)" =>
            ["CREATE FUNCTION f(x INT) RETURNS INT BEGIN DECLARE y INT; \
              SET y = CASE WHEN x > 0 THEN IF(x > 9, 2, 1) ELSE REPEAT('a', 0) END; \
              CASE WHEN y = 1 THEN SET y = 3; WHEN y = 2 THEN IF y > 1 THEN SET y = 4; END IF; ELSE BEGIN END; END CASE; \
              RETURN y; END",
             "SELECT f(1)"];
        mysql_labelled_nested_blocks_loops_and_handlers: [Mysql]
            "CREATE DEFINER=`root`@`%` PROCEDURE p(IN n INT) outer_block: BEGIN \
             DECLARE done INT DEFAULT 0; DECLARE CONTINUE HANDLER FOR NOT FOUND SET done = 1; \
             DECLARE EXIT HANDLER FOR SQLEXCEPTION BEGIN GET DIAGNOSTICS CONDITION 1 @m = MESSAGE_TEXT; END; \
             inner_block: BEGIN w: WHILE n > 0 DO SET n = n - 1; IF n = 5 THEN ITERATE w; END IF; END WHILE w; END inner_block; \
             r: REPEAT SET n = n + 1; UNTIL n >= 3 END REPEAT r; l: LOOP IF n > 9 THEN LEAVE l; END IF; SET n = n + 1; END LOOP l; \
             END outer_block; CALL p(1); CALL p(2);" =>
            ["CREATE DEFINER=`root`@`%` PROCEDURE p(IN n INT) outer_block: BEGIN \
              DECLARE done INT DEFAULT 0; DECLARE CONTINUE HANDLER FOR NOT FOUND SET done = 1; \
              DECLARE EXIT HANDLER FOR SQLEXCEPTION BEGIN GET DIAGNOSTICS CONDITION 1 @m = MESSAGE_TEXT; END; \
              inner_block: BEGIN w: WHILE n > 0 DO SET n = n - 1; IF n = 5 THEN ITERATE w; END IF; END WHILE w; END inner_block; \
              r: REPEAT SET n = n + 1; UNTIL n >= 3 END REPEAT r; l: LOOP IF n > 9 THEN LEAVE l; END IF; SET n = n + 1; END LOOP l; \
              END outer_block",
             "CALL p(1)", "CALL p(2)"];
        mysql_trigger_body_without_begin: [Mysql]
            "CREATE TRIGGER t BEFORE INSERT ON a FOR EACH ROW IF NEW.x > 0 THEN SET NEW.y = 1; ELSE SET NEW.y = 2; END IF; \
             CREATE TRIGGER u BEFORE UPDATE ON a FOR EACH ROW FOLLOWS t CASE WHEN NEW.x THEN SET NEW.y = 3; END CASE; \
             CREATE EVENT e ON SCHEDULE EVERY 1 DAY DO IF 1 THEN DELETE FROM a; END IF; SELECT 1" =>
            ["CREATE TRIGGER t BEFORE INSERT ON a FOR EACH ROW IF NEW.x > 0 THEN SET NEW.y = 1; ELSE SET NEW.y = 2; END IF",
             "CREATE TRIGGER u BEFORE UPDATE ON a FOR EACH ROW FOLLOWS t CASE WHEN NEW.x THEN SET NEW.y = 3; END CASE",
             "CREATE EVENT e ON SCHEDULE EVERY 1 DAY DO IF 1 THEN DELETE FROM a; END IF",
             "SELECT 1"];
        mariadb_anonymous_block: [Mysql]
            "BEGIN NOT ATOMIC IF (SELECT COUNT(*) FROM t) = 0 THEN INSERT INTO t VALUES (1); END IF; END; BEGIN; COMMIT" =>
            ["BEGIN NOT ATOMIC IF (SELECT COUNT(*) FROM t) = 0 THEN INSERT INTO t VALUES (1); END IF; END", "BEGIN", "COMMIT"];
        postgres_function_bodies_and_do_blocks: [Postgres]
            "DO $$ BEGIN IF EXISTS (SELECT 1 FROM pg_class WHERE relname = 't') THEN EXECUTE 'DROP TABLE t'; END IF; END $$;\n\
             CREATE FUNCTION f() RETURNS trigger LANGUAGE plpgsql AS $body$\nBEGIN\n  IF NEW.a IS NULL THEN RAISE EXCEPTION 'a;'; \
             END IF;\n  RETURN NEW;\nEND;\n$body$;\n\
             CREATE PROCEDURE p() LANGUAGE sql BEGIN ATOMIC INSERT INTO t VALUES (1); UPDATE t SET a = CASE WHEN a > 0 THEN 1 END; END;\n\
             SELECT 1" =>
            ["DO $$ BEGIN IF EXISTS (SELECT 1 FROM pg_class WHERE relname = 't') THEN EXECUTE 'DROP TABLE t'; END IF; END $$",
             "CREATE FUNCTION f() RETURNS trigger LANGUAGE plpgsql AS $body$\nBEGIN\n  IF NEW.a IS NULL THEN RAISE EXCEPTION 'a;'; \
              END IF;\n  RETURN NEW;\nEND;\n$body$",
             "CREATE PROCEDURE p() LANGUAGE sql BEGIN ATOMIC INSERT INTO t VALUES (1); UPDATE t SET a = CASE WHEN a > 0 THEN 1 END; END",
             "SELECT 1"];
        sqlite_trigger_with_case_and_raise: [Sqlite]
            "CREATE TRIGGER t BEFORE UPDATE ON a FOR EACH ROW WHEN NEW.x IS NOT NULL BEGIN\n  \
             SELECT CASE WHEN NEW.x < 0 THEN RAISE(ABORT, 'negative; no') WHEN NEW.x > 9 THEN RAISE(IGNORE) END;\n  \
             UPDATE b SET n = CASE NEW.x WHEN 1 THEN 'one' ELSE 'other' END WHERE id = NEW.id;\nEND;\nSELECT 1;" =>
            ["CREATE TRIGGER t BEFORE UPDATE ON a FOR EACH ROW WHEN NEW.x IS NOT NULL BEGIN\n  \
              SELECT CASE WHEN NEW.x < 0 THEN RAISE(ABORT, 'negative; no') WHEN NEW.x > 9 THEN RAISE(IGNORE) END;\n  \
              UPDATE b SET n = CASE NEW.x WHEN 1 THEN 'one' ELSE 'other' END WHERE id = NEW.id;\nEND",
             "SELECT 1"];
        unbalanced_end_does_not_underflow: [Mysql]
            "CREATE PROCEDURE p() BEGIN END; END; SELECT 1" => ["CREATE PROCEDURE p() BEGIN END", "END", "SELECT 1"];
    }

    #[test]
    fn positions_count_lines_and_chars() {
        let sql = "-- migrate:up\nSELECT 'é';  SELECT 2;\n\n  /* x */ ü;";
        let got: Vec<_> = split(sql, Sqlite).into_iter().map(|s| (s.text, s.offset, s.line, s.column)).collect();
        let want = [
            ("SELECT 'é'".to_owned(), 14, 2, 1),
            ("SELECT 2".to_owned(), 28, 2, 14),
            ("ü".to_owned(), sql.find('ü').unwrap_or(0), 4, 11),
        ];
        assert_eq!(got, want);
    }

    #[test]
    fn has_body_flags() {
        let cases = [
            (Sqlite, "CREATE TRIGGER t AFTER INSERT ON a BEGIN SELECT 1; END", true),
            (Mysql, "CREATE PROCEDURE p() BEGIN SELECT 1; END", true),
            (Mysql, "CREATE TRIGGER t BEFORE INSERT ON a FOR EACH ROW SET NEW.x = 1", false),
            (Postgres, "CREATE FUNCTION f() RETURNS int AS $$ SELECT 1 $$ LANGUAGE sql", true),
            (Postgres, "DO $$ BEGIN NULL; END $$", true),
            (Postgres, "CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; END", true),
            (Postgres, "CREATE FUNCTION f() RETURNS int AS 'SELECT 1' LANGUAGE sql", false),
            (Mysql, "SELECT CASE WHEN 1 THEN 2 END", false),
            (Sqlite, "BEGIN", false),
        ];
        for (d, sql, want) in cases {
            let stmts = split(sql, d);
            assert_eq!(stmts.len(), 1, "{d:?} {sql}");
            assert_eq!(stmts.first().map(|s| s.has_body), Some(want), "{d:?} {sql}");
        }
    }

    #[test]
    fn line_of_counts_newlines() {
        let sql = "a\nbé\n\nc";
        assert_eq!(line_of(sql, 0), 1);
        assert_eq!(line_of(sql, 1), 1);
        assert_eq!(line_of(sql, 2), 2);
        assert_eq!(line_of(sql, 4), 2); // inside 'é': must not panic
        assert_eq!(line_of(sql, 7), 4);
        assert_eq!(line_of(sql, 1000), 4);
        assert_eq!(line_of("", 5), 1);
    }

    const TRICKY: &str = "-- c\nCREATE DEFINER=`r`@'%' TRIGGER t BEGIN IF(x, 'a\\'', \"b\"\"\") THEN \
        /* n /* e */ ; */ $$ x ; $$ $t$ ; $t$ $1 E'\\'' [a;b] #x\n SET a.end = 'é'; END IF; CASE END; END; -- z\n\
        SELECT ü; BEGIN; /*! x */ REPEAT(";

    #[test]
    fn never_panics_on_prefixes_and_unterminated_input() {
        for d in [Sqlite, Postgres, Mysql] {
            for (i, _) in TRICKY.char_indices() {
                check_invariants(&TRICKY[..i], d);
                check_invariants(&TRICKY[i..], d);
            }
            for s in ["'", "\"", "`", "[", "/*", "/* /*", "$$", "$a$ x", "$", "E'\\", "'\\", "--", "#", "BEGIN", "END"]
            {
                check_invariants(s, d);
                check_invariants(&format!("CREATE PROCEDURE p() BEGIN {s}"), d);
            }
        }
    }

    #[test]
    fn pathological_input_stays_linear() {
        // Each of these would be quadratic with a naive look-ahead; they must finish promptly.
        let n = 50_000;
        for body in ["IF(".repeat(n), "$a$ ".repeat(n), "/* ".repeat(n), "BEGIN IF NOT ".repeat(n), "END IF ".repeat(n)]
        {
            let sql = format!("CREATE PROCEDURE p() BEGIN {body}");
            for d in [Sqlite, Postgres, Mysql] {
                assert_eq!(split(&sql, d).len(), 1);
            }
        }
    }

    #[test]
    fn never_panics_on_random_input() {
        // Alphabet biased towards bytes that drive the lexer, plus multi-byte chars.
        let alphabet: Vec<char> = "';\"`[]$/*-#\\\n ()eE,.@=tagBEGINDifcaselopwhrt1é日🙂".chars().collect();
        let words =
            ["BEGIN ", "END ", "IF ", "CASE ", "CREATE ", "TRIGGER ", "NOT ", "EXISTS ", "REPEAT", "$tag$", "/*!"];
        let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = move || {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            (seed >> 33) as usize
        };
        for _ in 0..3000 {
            let mut s = String::new();
            for _ in 0..next() % 60 {
                if next() % 4 == 0 {
                    s.push_str(words[next() % words.len()]);
                } else {
                    s.push(alphabet[next() % alphabet.len()]);
                }
            }
            for d in [Sqlite, Postgres, Mysql] {
                check_invariants(&s, d);
            }
        }
    }
}
