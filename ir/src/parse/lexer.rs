//! The IR text lexer: characters to tokens with 1-based line:col positions.

use super::ParseError;

/// A token kind.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum Tok {
    /// A word: keyword, op name, dtype, attribute name or enum word.
    Ident(String),
    /// A value handle `%v3`, by arena index.
    Value(usize),
    /// A program step reference `%3`, by step index.
    Step(usize),
    /// A string literal, unescaped.
    Str(String),
    /// A number as written (`-3`, `0.5`, `1e-5`, `-inf`); parsed where its type is known.
    Num(String),
    /// One of `{ } ( ) [ ] = , : @ < >`.
    Punct(char),
    Eof,
}

impl Tok {
    /// How the token reads in an error message.
    pub(super) fn describe(&self) -> String {
        match self {
            Tok::Ident(s) => format!("`{s}`"),
            Tok::Value(i) => format!("`%v{i}`"),
            Tok::Step(i) => format!("`%{i}`"),
            Tok::Str(s) => format!("string {}", crate::print::quote(s)),
            Tok::Num(s) => format!("`{s}`"),
            Tok::Punct(c) => format!("`{c}`"),
            Tok::Eof => "end of input".into(),
        }
    }
}

/// A token and where it starts.
#[derive(Clone, Debug)]
pub(super) struct Token {
    pub tok: Tok,
    pub line: usize,
    pub col: usize,
}

struct Lexer {
    chars: Vec<char>,
    pos: usize,
    line: usize,
    col: usize,
}

/// Splits `text` into tokens, ending with [`Tok::Eof`].
pub(super) fn lex(text: &str) -> Result<Vec<Token>, ParseError> {
    let mut lx = Lexer {
        chars: text.chars().collect(),
        pos: 0,
        line: 1,
        col: 1,
    };
    let mut tokens = Vec::new();
    loop {
        lx.skip_blanks();
        let (line, col) = (lx.line, lx.col);
        let err = |message: String| ParseError { line, col, message };
        let Some(c) = lx.peek(0) else {
            tokens.push(Token {
                tok: Tok::Eof,
                line,
                col,
            });
            return Ok(tokens);
        };
        let tok = if c.is_ascii_alphabetic() || c == '_' {
            Tok::Ident(lx.take_while(is_ident_char))
        } else if c.is_ascii_digit() || c == '-' {
            lx.number().map_err(err)?
        } else if c == '%' {
            lx.value().map_err(err)?
        } else if c == '"' {
            lx.string().map_err(err)?
        } else if "{}()[]=,:@<>".contains(c) {
            lx.bump();
            Tok::Punct(c)
        } else {
            return Err(err(format!("unexpected character `{}`", c.escape_debug())));
        };
        tokens.push(Token { tok, line, col });
    }
}

fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

impl Lexer {
    fn peek(&self, ahead: usize) -> Option<char> {
        self.chars.get(self.pos + ahead).copied()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek(0)?;
        self.pos += 1;
        if c == '\n' {
            self.line += 1;
            self.col = 1;
        } else {
            self.col += 1;
        }
        Some(c)
    }

    fn take_while(&mut self, f: impl Fn(char) -> bool) -> String {
        let mut s = String::new();
        while let Some(c) = self.peek(0).filter(|&c| f(c)) {
            s.push(c);
            self.bump();
        }
        s
    }

    /// Skips whitespace and `//` comments.
    fn skip_blanks(&mut self) {
        loop {
            match self.peek(0) {
                Some(c) if c.is_whitespace() => {
                    self.bump();
                }
                Some('/') if self.peek(1) == Some('/') => {
                    self.take_while(|c| c != '\n');
                }
                _ => return,
            }
        }
    }

    /// `-?digits(.digits)?(e[+-]?digits)?`, or `-inf`.
    fn number(&mut self) -> Result<Tok, String> {
        let mut s = String::new();
        if self.peek(0) == Some('-') {
            s.push('-');
            self.bump();
            if self.peek(0).is_some_and(|c| c.is_ascii_alphabetic()) {
                let word = self.take_while(is_ident_char);
                if word == "inf" {
                    return Ok(Tok::Num("-inf".into()));
                }
                return Err(format!("expected a number after `-`, found `{word}`"));
            }
        }
        let digits = self.take_while(|c| c.is_ascii_digit());
        if digits.is_empty() {
            return Err("expected a number after `-`".into());
        }
        s.push_str(&digits);
        if self.peek(0) == Some('.') {
            self.bump();
            s.push('.');
            s.push_str(&self.take_while(|c| c.is_ascii_digit()));
        }
        if matches!(self.peek(0), Some('e' | 'E')) {
            s.push('e');
            self.bump();
            if let Some(sign @ ('+' | '-')) = self.peek(0) {
                s.push(sign);
                self.bump();
            }
            let exp = self.take_while(|c| c.is_ascii_digit());
            if exp.is_empty() {
                return Err(format!(
                    "malformed number `{s}`: the exponent has no digits"
                ));
            }
            s.push_str(&exp);
        }
        if self.peek(0).is_some_and(is_ident_char) {
            let rest = self.take_while(is_ident_char);
            return Err(format!("malformed number `{s}{rest}`"));
        }
        Ok(Tok::Num(s))
    }

    /// `%v` followed by an arena index, or `%` followed by a program step index.
    fn value(&mut self) -> Result<Tok, String> {
        self.bump();
        let prefix = self.take_while(|c| c.is_ascii_alphabetic());
        let digits = self.take_while(|c| c.is_ascii_digit());
        let index = || digits.parse::<u32>().map(|i| i as usize);
        match prefix.as_str() {
            "v" if !digits.is_empty() => index()
                .map(Tok::Value)
                .map_err(|_| format!("value index `%v{digits}` is too large")),
            "" if !digits.is_empty() => index()
                .map(Tok::Step)
                .map_err(|_| format!("step index `%{digits}` is too large")),
            _ => Err(format!(
                "expected a value like `%v3`, found `%{prefix}{digits}`"
            )),
        }
    }

    /// A double-quoted string with `\" \\ \n \t \r \u{..}` escapes.
    fn string(&mut self) -> Result<Tok, String> {
        self.bump();
        let mut s = String::new();
        loop {
            match self.bump() {
                None => return Err("unterminated string".into()),
                Some('"') => return Ok(Tok::Str(s)),
                Some('\\') => s.push(self.escape()?),
                Some(c) => s.push(c),
            }
        }
    }

    fn escape(&mut self) -> Result<char, String> {
        match self.bump() {
            Some('"') => Ok('"'),
            Some('\\') => Ok('\\'),
            Some('n') => Ok('\n'),
            Some('t') => Ok('\t'),
            Some('r') => Ok('\r'),
            Some('u') if self.peek(0) == Some('{') => {
                self.bump();
                let hex = self.take_while(|c| c.is_ascii_hexdigit());
                if self.bump() != Some('}') {
                    return Err("malformed `\\u{...}` escape in string".into());
                }
                u32::from_str_radix(&hex, 16)
                    .ok()
                    .and_then(char::from_u32)
                    .ok_or_else(|| format!("`\\u{{{hex}}}` is not a character"))
            }
            Some(c) => Err(format!("unknown escape `\\{}` in string", c.escape_debug())),
            None => Err("unterminated string".into()),
        }
    }
}
