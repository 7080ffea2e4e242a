//! SQL errors as PostgreSQL reports them: a SQLSTATE, a message shaped like
//! PostgreSQL's, and the optional detail, hint, cursor position and context.
//!
//! SQLSTATEs are typed constants in [`code`]; the mapping from engine errors
//! happens once, in [`SqlError::from_engine`], as an exhaustive match.

use sextant_storage::types::Epoch;
use sextant_storage::volume::VolumeError;

use crate::engine::EngineError;

/// SQLSTATE codes used by the SQL layer (PostgreSQL's `errcodes.txt`).
pub mod code {
    /// successful_completion
    pub const SUCCESS: &str = "00000";
    /// syntax_error
    pub const SYNTAX_ERROR: &str = "42601";
    /// undefined_table
    pub const UNDEFINED_TABLE: &str = "42P01";
    /// undefined_column
    pub const UNDEFINED_COLUMN: &str = "42703";
    /// undefined_function
    pub const UNDEFINED_FUNCTION: &str = "42883";
    /// undefined_object
    pub const UNDEFINED_OBJECT: &str = "42704";
    /// duplicate_table
    pub const DUPLICATE_TABLE: &str = "42P07";
    /// duplicate_column
    pub const DUPLICATE_COLUMN: &str = "42701";
    /// ambiguous_column
    pub const AMBIGUOUS_COLUMN: &str = "42702";
    /// datatype_mismatch
    pub const DATATYPE_MISMATCH: &str = "42804";
    /// grouping_error
    pub const GROUPING_ERROR: &str = "42803";
    /// invalid_parameter_value
    pub const INVALID_PARAMETER_VALUE: &str = "22023";
    /// unique_violation
    pub const UNIQUE_VIOLATION: &str = "23505";
    /// dependent_objects_still_exist
    pub const DEPENDENT_OBJECTS_STILL_EXIST: &str = "2BP01";
    /// not_null_violation
    pub const NOT_NULL_VIOLATION: &str = "23502";
    /// invalid_text_representation
    pub const INVALID_TEXT_REPRESENTATION: &str = "22P02";
    /// division_by_zero
    pub const DIVISION_BY_ZERO: &str = "22012";
    /// numeric_value_out_of_range
    pub const NUMERIC_VALUE_OUT_OF_RANGE: &str = "22003";
    /// serialization_failure
    pub const SERIALIZATION_FAILURE: &str = "40001";
    /// read_only_sql_transaction
    pub const READ_ONLY_SQL_TRANSACTION: &str = "25006";
    /// in_failed_sql_transaction
    pub const IN_FAILED_SQL_TRANSACTION: &str = "25P02";
    /// active_sql_transaction (warning-level in PostgreSQL for BEGIN in a block)
    pub const ACTIVE_SQL_TRANSACTION: &str = "25001";
    /// no_active_sql_transaction
    pub const NO_ACTIVE_SQL_TRANSACTION: &str = "25P01";
    /// feature_not_supported
    pub const FEATURE_NOT_SUPPORTED: &str = "0A000";
    /// program_limit_exceeded
    pub const PROGRAM_LIMIT_EXCEEDED: &str = "54000";
    /// statement_too_complex
    pub const STATEMENT_TOO_COMPLEX: &str = "54001";
    /// query_canceled
    pub const QUERY_CANCELED: &str = "57014";
    /// data_corrupted
    pub const DATA_CORRUPTED: &str = "XX001";
    /// internal_error
    pub const INTERNAL_ERROR: &str = "XX000";
    /// io_error (storage unreachable)
    pub const IO_ERROR: &str = "58030";
    /// disk_full (a temporary file could not grow)
    pub const DISK_FULL: &str = "53100";
    /// admin_shutdown (writer stopped)
    pub const ADMIN_SHUTDOWN: &str = "57P01";
    /// statement_completion_unknown (a commit in flight when the writer
    /// was fenced)
    pub const STATEMENT_COMPLETION_UNKNOWN: &str = "40003";
    /// invalid_sql_statement_name (unknown prepared statement)
    pub const INVALID_SQL_STATEMENT_NAME: &str = "26000";
    /// cardinality_violation
    pub const CARDINALITY_VIOLATION: &str = "21000";
    /// datetime_field_overflow
    pub const DATETIME_FIELD_OVERFLOW: &str = "22008";
    /// cant_change_runtime_param
    pub const CANT_CHANGE_RUNTIME_PARAM: &str = "55P02";
    /// wrong_object_type
    pub const WRONG_OBJECT_TYPE: &str = "42809";
    /// invalid_column_reference (ORDER BY not in a DISTINCT select list)
    pub const INVALID_COLUMN_REFERENCE: &str = "42P10";
    /// duplicate_alias
    pub const DUPLICATE_ALIAS: &str = "42712";
    /// invalid_row_count_in_limit_clause
    pub const INVALID_ROW_COUNT_IN_LIMIT: &str = "2201W";
    /// invalid_row_count_in_result_offset_clause
    pub const INVALID_ROW_COUNT_IN_OFFSET: &str = "2201X";
    /// string_data_right_truncation
    pub const STRING_DATA_RIGHT_TRUNCATION: &str = "22001";
    /// null_value_not_allowed
    pub const NULL_VALUE_NOT_ALLOWED: &str = "22004";
    /// invalid_name
    pub const INVALID_NAME: &str = "42602";
    /// invalid_schema_name
    pub const INVALID_SCHEMA_NAME: &str = "3F000";
    /// ambiguous_function
    pub const AMBIGUOUS_FUNCTION: &str = "42725";
    /// invalid_table_definition
    pub const INVALID_TABLE_DEFINITION: &str = "42P16";
    /// bad_copy_file_format
    pub const BAD_COPY_FILE_FORMAT: &str = "22P04";
    /// character_not_in_repertoire
    pub const CHARACTER_NOT_IN_REPERTOIRE: &str = "22021";
    /// untranslatable_character
    pub const UNTRANSLATABLE_CHARACTER: &str = "22P05";
    /// protocol_violation
    pub const PROTOCOL_VIOLATION: &str = "08P01";
    /// too_many_columns
    pub const TOO_MANY_COLUMNS: &str = "54011";
    /// insufficient_privilege (COPY to or from a server file or program)
    pub const INSUFFICIENT_PRIVILEGE: &str = "42501";
    /// object_not_in_prerequisite_state
    pub const OBJECT_NOT_IN_PREREQUISITE_STATE: &str = "55000";
    /// too_many_arguments
    pub const TOO_MANY_ARGUMENTS: &str = "54023";
    /// windowing_error
    pub const WINDOWING_ERROR: &str = "42P20";
    /// invalid_argument_for_ntile_function
    pub const INVALID_ARGUMENT_FOR_NTILE: &str = "22014";
    /// invalid_argument_for_nth_value_function
    pub const INVALID_ARGUMENT_FOR_NTH_VALUE: &str = "22016";
    /// invalid_preceding_or_following_size
    pub const INVALID_PRECEDING_OR_FOLLOWING_SIZE: &str = "22013";
    /// invalid_datetime_format
    pub const INVALID_DATETIME_FORMAT: &str = "22007";
    /// invalid_cursor_name
    pub const INVALID_CURSOR_NAME: &str = "34000";
    /// duplicate_cursor
    pub const DUPLICATE_CURSOR: &str = "42P03";
    /// invalid_recursion
    pub const INVALID_RECURSION: &str = "42P19";
    /// cannot_coerce
    pub const CANNOT_COERCE: &str = "42846";
    /// invalid_savepoint_specification
    pub const INVALID_SAVEPOINT_SPECIFICATION: &str = "3B001";
}

/// Where the reported position is, relative to [`SqlError::location`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Anchor {
    /// At the opening parenthesis before it (the location is a
    /// parenthesized subquery's SELECT).
    ParenBefore,
    /// At the next token after it (the location is the end of an
    /// operator's left operand; the position is the operator).
    TokenAfter,
    /// At the first occurrence of this text at or after it (the location
    /// is inside an operator's left operand, whose end the parser does not
    /// record; the text is the operator).
    Find(String),
    /// At the token after the first occurrence of this text at or after it
    /// (the type name after `::`).
    After(String),
    /// At the first occurrence of this keyword (any case) at or after it
    /// (a column's `PRIMARY KEY`, after its name).
    KeywordAfter(String),
    /// At the last occurrence of this keyword (any case) before it (the
    /// location is inside the parentheses of `CAST(…)`).
    KeywordBefore(String),
    /// At the first whole word (any case) spelled so at or after it (a
    /// window frame's `UNBOUNDED`, after what the spec says before it).
    Word(String),
    /// At the token after the first whole word (any case) spelled so at or
    /// after it (the parenthesis after `OVER` or a window name's `AS`).
    AfterWord(String),
}

/// The character index in `text` of the first whole-word occurrence of
/// `word` (ASCII case-insensitive): not inside a longer identifier.
fn find_word(text: &[char], word: &str) -> Option<usize> {
    let word: Vec<char> = word.chars().map(|c| c.to_ascii_lowercase()).collect();
    let ident = |c: char| c.is_alphanumeric() || c == '_' || c == '$';
    (0..text.len().checked_sub(word.len())? + 1).find(|&i| {
        text[i..i + word.len()]
            .iter()
            .zip(&word)
            .all(|(a, b)| a.to_ascii_lowercase() == *b)
            && (i == 0 || !ident(text[i - 1]))
            && text.get(i + word.len()).is_none_or(|&c| !ident(c))
    })
}

/// An error to send to the client as an ErrorResponse.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct SqlError {
    /// The SQLSTATE.
    pub code: &'static str,
    /// Primary message.
    pub message: String,
    /// DETAIL.
    pub detail: Option<String>,
    /// HINT.
    pub hint: Option<String>,
    /// 1-based character position in the statement.
    pub position: Option<u32>,
    /// Where in the query text the error points, as the parser's (line,
    /// column), until the session turns it into `position`.
    pub location: Option<(u64, u64)>,
    /// What the position is, relative to the location (`None`: at it).
    /// Boxed: it is rare, and errors stay small.
    pub anchor: Option<Box<Anchor>>,
    /// CONTEXT: where it happened (`COPY t, line 3, column b: "x"`).
    pub context: Option<String>,
}

impl SqlError {
    /// An error with a code and message.
    pub fn new(code: &'static str, message: impl Into<String>) -> SqlError {
        SqlError {
            code,
            message: message.into(),
            detail: None,
            hint: None,
            position: None,
            location: None,
            anchor: None,
            context: None,
        }
    }

    /// Points the error at a place in the query text (a parser span's
    /// start); ignored for spans the parser did not fill in.
    pub fn at_span(mut self, span: sqlparser::tokenizer::Span) -> SqlError {
        if span.start.line > 0 && self.location.is_none() {
            self.location = Some((span.start.line, span.start.column));
        }
        self
    }

    /// Points the error at the parenthesized subquery whose SELECT starts
    /// at `span`: at its opening parenthesis.
    pub fn at_subquery(mut self, span: sqlparser::tokenizer::Span) -> SqlError {
        if span.start.line > 0 && self.location.is_none() {
            self.location = Some((span.start.line, span.start.column));
            self.anchor = Some(Box::new(Anchor::ParenBefore));
        }
        self
    }

    /// Points the error at the operator after the operand that `span`
    /// covers.
    pub fn after_span(mut self, span: sqlparser::tokenizer::Span) -> SqlError {
        if span.end.line > 0 && self.location.is_none() {
            self.location = Some((span.end.line, span.end.column));
            self.anchor = Some(Box::new(Anchor::TokenAfter));
        }
        self
    }

    /// Points the error at `keyword`, the first one at or after the end of
    /// `span`.
    pub fn at_keyword_after(mut self, span: sqlparser::tokenizer::Span, keyword: &str) -> SqlError {
        if span.end.line > 0 && self.location.is_none() {
            self.location = Some((span.end.line, span.end.column));
            self.anchor = Some(Box::new(Anchor::KeywordAfter(keyword.to_string())));
        }
        self
    }

    /// Points the error at `keyword`, the last one before the start of
    /// `span` (the `CAST` of `CAST(x AS type)`).
    pub fn at_keyword_before(
        mut self,
        span: sqlparser::tokenizer::Span,
        keyword: &str,
    ) -> SqlError {
        if span.start.line > 0 && self.location.is_none() {
            self.location = Some((span.start.line, span.start.column));
            self.anchor = Some(Box::new(Anchor::KeywordBefore(keyword.to_string())));
        }
        self
    }

    /// Points the error at the token after operator `symbol`, the first
    /// one at or after the end of `span` (the type of `x::type`).
    pub fn after_operator(mut self, span: sqlparser::tokenizer::Span, symbol: &str) -> SqlError {
        if span.end.line > 0 && self.location.is_none() {
            self.location = Some((span.end.line, span.end.column));
            self.anchor = Some(Box::new(Anchor::After(symbol.to_string())));
        }
        self
    }

    /// Points the error at operator `symbol`, the first one at or after the
    /// end of `span` (its left operand's known part).
    pub fn at_operator_after(mut self, span: sqlparser::tokenizer::Span, symbol: &str) -> SqlError {
        if span.end.line > 0 && self.location.is_none() {
            self.location = Some((span.end.line, span.end.column));
            self.anchor = Some(Box::new(Anchor::Find(symbol.to_string())));
        }
        self
    }

    /// Points the error at the whole word `word`, the first one at or after
    /// the end of `span`.
    pub fn at_word_after(mut self, span: sqlparser::tokenizer::Span, word: &str) -> SqlError {
        if span.end.line > 0 && self.location.is_none() {
            self.location = Some((span.end.line, span.end.column));
            self.anchor = Some(Box::new(Anchor::Word(word.to_string())));
        }
        self
    }

    /// Points the error at the token after the whole word `word`, the
    /// first one at or after the end of `span`.
    pub fn after_word(mut self, span: sqlparser::tokenizer::Span, word: &str) -> SqlError {
        if span.end.line > 0 && self.location.is_none() {
            self.location = Some((span.end.line, span.end.column));
            self.anchor = Some(Box::new(Anchor::AfterWord(word.to_string())));
        }
        self
    }

    /// Turns a location into the 1-based character position in `sql`.
    pub fn locate(mut self, sql: &str) -> SqlError {
        if let (None, Some((line, column))) = (self.position, self.location) {
            let (mut l, mut c) = (1u64, 1u64);
            for (i, ch) in sql.chars().enumerate() {
                if l == line && c == column {
                    let mut at = i;
                    match self.anchor.as_deref() {
                        None => {}
                        Some(Anchor::ParenBefore) => {
                            let before: Vec<char> = sql.chars().take(i).collect();
                            let mut j = before.len();
                            while j > 0 && before[j - 1].is_whitespace() {
                                j -= 1;
                            }
                            if j > 0 && before[j - 1] == '(' {
                                at = j - 1;
                            }
                        }
                        Some(Anchor::TokenAfter) => {
                            at += sql
                                .chars()
                                .skip(i)
                                .take_while(|c| c.is_whitespace())
                                .count();
                        }
                        Some(Anchor::KeywordAfter(word)) => {
                            let rest: String =
                                sql.chars().skip(i).collect::<String>().to_lowercase();
                            if let Some(b) = rest.find(&word.to_lowercase()) {
                                at += rest[..b].chars().count();
                            }
                        }
                        Some(Anchor::KeywordBefore(word)) => {
                            let before: String =
                                sql.chars().take(i).collect::<String>().to_lowercase();
                            if let Some(b) = before.rfind(&word.to_lowercase()) {
                                at = before[..b].chars().count();
                            }
                        }
                        Some(Anchor::After(text)) => {
                            let rest: String = sql.chars().skip(i).collect();
                            if let Some(b) = rest.find(text.as_str()) {
                                let past = &rest[b + text.len()..];
                                at += rest[..b].chars().count()
                                    + text.chars().count()
                                    + past.chars().take_while(|c| c.is_whitespace()).count();
                            }
                        }
                        Some(Anchor::Word(word)) => {
                            let rest: Vec<char> = sql.chars().skip(i).collect();
                            if let Some(b) = find_word(&rest, word) {
                                at += b;
                            }
                        }
                        Some(Anchor::AfterWord(word)) => {
                            let rest: Vec<char> = sql.chars().skip(i).collect();
                            if let Some(b) = find_word(&rest, word) {
                                let past = b + word.chars().count();
                                at += past
                                    + rest[past..]
                                        .iter()
                                        .take_while(|c| c.is_whitespace())
                                        .count();
                            }
                        }
                        Some(Anchor::Find(text)) => {
                            // Keywords match in any case (`in`, `IN`).
                            let rest: String = sql.chars().skip(i).collect();
                            let rest = rest.to_ascii_lowercase();
                            if let Some(b) = rest.find(text.to_ascii_lowercase().as_str()) {
                                at += rest[..b].chars().count();
                            }
                        }
                    }
                    self.position = Some(at as u32 + 1);
                    break;
                }
                if ch == '\n' {
                    l += 1;
                    c = 1;
                } else {
                    c += 1;
                }
            }
        }
        self
    }

    /// Adds a CONTEXT line.
    pub fn with_context(mut self, context: impl Into<String>) -> SqlError {
        self.context = Some(context.into());
        self
    }

    /// Adds a DETAIL.
    pub fn with_detail(mut self, detail: impl Into<String>) -> SqlError {
        self.detail = Some(detail.into());
        self
    }

    /// Adds a HINT.
    pub fn with_hint(mut self, hint: impl Into<String>) -> SqlError {
        self.hint = Some(hint.into());
        self
    }

    /// Adds a cursor position.
    pub fn at(mut self, position: u32) -> SqlError {
        self.position = Some(position);
        self
    }

    /// 0A000 naming the feature.
    pub fn unsupported(feature: impl std::fmt::Display) -> SqlError {
        SqlError::new(
            code::FEATURE_NOT_SUPPORTED,
            format!("{feature} is not supported"),
        )
    }

    /// The SQL error for an engine error.
    pub fn from_engine(e: EngineError) -> SqlError {
        match e {
            EngineError::SerializationFailure(d) => SqlError::new(
                code::SERIALIZATION_FAILURE,
                "could not serialize access due to concurrent update",
            )
            .with_detail(d),
            EngineError::UniqueViolation { constraint, key } => SqlError::new(
                code::UNIQUE_VIOLATION,
                format!("duplicate key value violates unique constraint \"{constraint}\""),
            )
            .with_detail(key),
            EngineError::DuplicatesForUniqueIndex { index, key } => SqlError::new(
                code::UNIQUE_VIOLATION,
                format!("could not create unique index \"{index}\""),
            )
            .with_detail(key),
            EngineError::NoSuchTable(t) => SqlError::new(
                code::UNDEFINED_TABLE,
                format!("relation \"{t}\" does not exist"),
            ),
            EngineError::DuplicateRelation(t) => SqlError::new(
                code::DUPLICATE_TABLE,
                format!("relation \"{t}\" already exists"),
            ),
            EngineError::NoSuchIndex(i) => SqlError::new(
                code::UNDEFINED_OBJECT,
                format!("index \"{i}\" does not exist"),
            ),
            EngineError::InvalidRow { table, detail } => SqlError::new(
                code::INTERNAL_ERROR,
                format!("invalid row for \"{table}\": {detail}"),
            ),
            EngineError::TransactionTooLarge { bytes, max } => SqlError::new(
                code::PROGRAM_LIMIT_EXCEEDED,
                format!("transaction too large: {bytes} bytes buffered, the limit is {max}"),
            ),
            // The expression's own error (22P02 for a cast, say), as
            // PostgreSQL reports it.
            EngineError::KeyFunction(e) => match e.downcast::<SqlError>() {
                Ok(e) => *e,
                Err(e) => SqlError::new(
                    code::INTERNAL_ERROR,
                    format!("index expression failed: {e}"),
                ),
            },
            EngineError::ReadOnly(what) => SqlError::new(
                code::READ_ONLY_SQL_TRANSACTION,
                format!("cannot execute {what} in a read-only transaction"),
            ),
            EngineError::Stopped(why) => SqlError::new(
                code::ADMIN_SHUTDOWN,
                format!("this writer has stopped: {why}"),
            ),
            EngineError::Corrupted(d) => SqlError::new(code::DATA_CORRUPTED, d),
            EngineError::InvalidDefinition { table, detail } => SqlError::new(
                code::INTERNAL_ERROR,
                format!("invalid definition of \"{table}\": {detail}"),
            ),
            // The commit's records may or may not have reached a write
            // quorum before the newer writer's recovery: only it knows.
            EngineError::Volume(VolumeError::Fenced(epoch)) => SqlError::new(
                code::STATEMENT_COMPLETION_UNKNOWN,
                fenced_message(epoch),
            )
            .with_detail(
                "The outcome of this transaction is unknown: it is committed only if the new writer's recovery kept it.",
            )
            .with_hint(FENCED_HINT),
            EngineError::Volume(e) => SqlError::new(code::IO_ERROR, format!("storage: {e}")),
            EngineError::Page(e) => SqlError::new(code::IO_ERROR, format!("storage: {e}")),
            EngineError::Tree(e) => SqlError::new(code::DATA_CORRUPTED, e.to_string()),
            EngineError::Superblock(e) => SqlError::new(code::DATA_CORRUPTED, e.to_string()),
            EngineError::Spill(e) => SqlError::new(code::IO_ERROR, e.to_string()),
        }
    }
}

/// What a client of a fenced writer should do.
const FENCED_HINT: &str = "Connect to the new writer.";

fn fenced_message(epoch: Epoch) -> String {
    format!("this writer was fenced by a newer writer (epoch {epoch}) and has stepped down")
}

impl SqlError {
    /// The error every write gets on a writer that a newer writer fenced
    /// (25006, like a write on a standby); `self`, the error the write got,
    /// becomes the detail.
    pub fn fenced(self, epoch: Epoch) -> SqlError {
        SqlError::new(code::READ_ONLY_SQL_TRANSACTION, fenced_message(epoch))
            .with_detail(self.message)
            .with_hint(FENCED_HINT)
    }
}

impl From<EngineError> for SqlError {
    fn from(e: EngineError) -> SqlError {
        SqlError::from_engine(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlparser::tokenizer::{Location, Span};

    fn chars(s: &str) -> Vec<char> {
        s.chars().collect()
    }

    #[test]
    fn words_match_whole_and_in_any_case() {
        assert_eq!(find_word(&chars("x OVER (a)"), "over"), Some(2));
        assert_eq!(find_word(&chars("overdue Over("), "over"), Some(8));
        assert_eq!(find_word(&chars("rank_over over"), "over"), Some(10));
        assert_eq!(find_word(&chars("hand and"), "and"), Some(5));
        assert_eq!(find_word(&chars("andy"), "and"), None);
        assert_eq!(find_word(&chars("an"), "and"), None);
    }

    #[test]
    fn after_word_skips_to_the_next_token() {
        let sql = "SELECT rank()\n  over\n  (ORDER BY x)";
        // The call `rank()` ends on line 1, column 14.
        let span = Span::new(Location::new(1, 8), Location::new(1, 14));
        let e = SqlError::new(code::WINDOWING_ERROR, "x")
            .after_word(span, "over")
            .locate(sql);
        assert_eq!(e.position, Some(24));
        let e = SqlError::new(code::WINDOWING_ERROR, "x")
            .at_word_after(span, "over")
            .locate(sql);
        assert_eq!(e.position, Some(17));
    }
}
